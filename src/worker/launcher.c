/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The apikey launcher (doc/apikey.md, "The background workers"): one
 *	  background worker, connected to no database, that starts a worker
 *	  for each database where the extension is installed (worker.c), as
 *	  TimescaleDB's launcher starts its schedulers, and keeps apikey's
 *	  shared memory: it loads the buckets saved at the last clean shutdown
 *	  as it starts, saves them as the server stops (limit/persist.c), warns
 *	  once when the memory passes 80% of apikey.shared_memory_budget, and
 *	  retires idle throttle() buckets now and then.
 *
 * How the launcher learns where the extension is:
 *	  - at start, and every AK_RESCAN_MS, it reads pg_database and starts a
 *		worker in each database it has not looked at yet; a worker that finds
 *		no extension leaves at once, and the database is not looked at again
 *		until something says so;
 *	  - CREATE EXTENSION apikey (and ALTER EXTENSION ... UPDATE) say so at
 *		commit (ak_launcher_want_at_commit): the database is served within a
 *		second;
 *	  - a worker that finds the extension dropped leaves, and frees its slot.
 *	  Statements that need a database without connections -- DROP DATABASE,
 *	  CREATE DATABASE from it as a template, ALTER DATABASE -- first stop its
 *	  worker and keep it stopped until they are done (ak_launcher_pause).
 *	  The launcher runs on a standby too, for the buckets, but starts
 *	  workers only where tables can be written.
 *
 * Locking protocol
 *	  The "apikey launcher" LWLock protects AkLauncherShared: the slots and
 *	  the launcher's proc number.  A slot is a database the launcher is to
 *	  serve; there are at most AK_MAX_DATABASES.  The launcher alone keeps
 *	  the handles of the workers it started, in its own memory.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_database.h"
#include "auth/nonces.h"
#include "core/guc.h"
#include "limit/cells.h"
#include "limit/persist.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "shmem/area.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "worker/launcher.h"
#include "worker/task.h"
#include "worker/worker.h"

#define AK_MAX_DATABASES		256
#define AK_RESCAN_MS			(60 * 1000)
#define AK_LOOP_MS				1000
#define AK_SWEEP_MS				(10 * 1000)
#define AK_RESTART_DELAY_US		(5 * USECS_PER_SEC)
#define AK_MAX_PROBES			2		/* workers looking at once */
#define AK_DUMP_WAIT_MS			10000	/* for the other processes to leave */
#define AK_PAUSE_WAIT_MS		10000	/* for a worker to stop */

typedef enum AkSlotState
{
	AK_SLOT_FREE,
	AK_SLOT_WANTED,				/* to start, from not_before on */
	AK_SLOT_STARTED,			/* registered, not running yet */
	AK_SLOT_RUNNING
} AkSlotState;

typedef struct AkDbSlot
{
	Oid			dboid;
	uint8		state;			/* AkSlotState */
	bool		paused;			/* a statement needs the database alone */
	bool		probe;			/* started only to look for the extension */
	pid_t		pid;			/* of the running worker */
	TimestampTz not_before;
} AkDbSlot;

typedef struct AkLauncherShared
{
	int			launcher;		/* proc number, or AK_NO_PROC */
	AkDbSlot	slots[AK_MAX_DATABASES];
} AkLauncherShared;

static AkLauncherShared *ak_launcher = NULL;
static LWLock *ak_launcher_lock = NULL;

/* In this backend: the transaction installed the extension. */
static bool ak_want_at_commit = false;

/* In the launcher: the handles of the workers it started, by slot. */
static BackgroundWorkerHandle *ak_handles[AK_MAX_DATABASES];


/* ---- registration and shared memory ---- */

void
ak_launcher_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = 5;
	strlcpy(worker.bgw_library_name, AK_EXTENSION, BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "apikey_launcher_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "apikey launcher", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "apikey launcher", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

void
ak_launcher_request(void)
{
	RequestAddinShmemSpace(sizeof(AkLauncherShared));
	RequestNamedLWLockTranche("apikey launcher", 1);
}

/* Caller holds AddinShmemInitLock. */
void
ak_launcher_shmem_init(void)
{
	bool		found;

	ak_launcher = ShmemInitStruct("apikey launcher", sizeof(AkLauncherShared), &found);
	ak_launcher_lock = &GetNamedLWLockTranche("apikey launcher")->lock;
	if (found)
		return;
	ak_launcher->launcher = AK_NO_PROC;
	memset(ak_launcher->slots, 0, sizeof(ak_launcher->slots));
}


/* ---- slots; callers hold the lock ---- */

static AkDbSlot *
ak_slot_of(Oid dboid)
{
	for (int i = 0; i < AK_MAX_DATABASES; i++)
		if (ak_launcher->slots[i].state != AK_SLOT_FREE &&
			ak_launcher->slots[i].dboid == dboid)
			return &ak_launcher->slots[i];
	return NULL;
}

/* The slot of dboid, taken if it has none; NULL when all are taken. */
static AkDbSlot *
ak_slot_take(Oid dboid, bool probe)
{
	AkDbSlot   *slot = ak_slot_of(dboid);

	if (slot != NULL)
		return slot;
	for (int i = 0; i < AK_MAX_DATABASES; i++)
	{
		slot = &ak_launcher->slots[i];
		if (slot->state == AK_SLOT_FREE)
		{
			memset(slot, 0, sizeof(*slot));
			slot->dboid = dboid;
			slot->state = AK_SLOT_WANTED;
			slot->probe = probe;
			return slot;
		}
	}
	return NULL;
}

/* Wakes the launcher.  Caller holds nothing. */
static void
ak_launcher_wake(void)
{
	int			launcher;

	LWLockAcquire(ak_launcher_lock, LW_EXCLUSIVE);
	launcher = ak_launcher->launcher;
	LWLockRelease(ak_launcher_lock);
	if (launcher != AK_NO_PROC)
		SetLatch(&AK_PROC_BY_NUMBER(launcher)->procLatch);
}


/* ---- what other processes tell the launcher ---- */

/* Asks for a worker in dboid; false when every slot is taken. */
static bool
ak_launcher_want(Oid dboid)
{
	AkDbSlot   *slot;

	LWLockAcquire(ak_launcher_lock, LW_EXCLUSIVE);
	slot = ak_slot_take(dboid, false);
	if (slot != NULL)
		slot->probe = false;
	LWLockRelease(ak_launcher_lock);
	ak_launcher_wake();
	return slot != NULL;
}

/* CREATE or ALTER EXTENSION apikey ran in this transaction. */
void
ak_launcher_want_at_commit(void)
{
	ak_want_at_commit = true;
}

/* Transaction end: a committed CREATE EXTENSION wants a worker. */
void
ak_launcher_at_xact_end(XactEvent event)
{
	if (!ak_want_at_commit)
		return;
	if (event == XACT_EVENT_COMMIT && ak_launcher != NULL &&
		!ak_launcher_want(MyDatabaseId))
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("apikey serves at most %d databases", AK_MAX_DATABASES),
				 errdetail("Quota counts, usage and access events of this database stay in shared memory until a worker can write them.")));
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		ak_want_at_commit = false;
}

/* A worker says it runs, in its database. */
void
ak_launcher_worker_running(void)
{
	AkDbSlot   *slot;

	LWLockAcquire(ak_launcher_lock, LW_EXCLUSIVE);
	slot = ak_slot_take(MyDatabaseId, false);
	if (slot != NULL)
	{
		slot->state = AK_SLOT_RUNNING;
		slot->pid = MyProcPid;
		slot->probe = false;
	}
	LWLockRelease(ak_launcher_lock);
}

/*
 * A worker leaves: for good when the extension is not (or no longer) in
 * its database; else it is to be started again (after a pause).
 */
void
ak_launcher_worker_leaves(bool extension_gone)
{
	AkDbSlot   *slot;

	LWLockAcquire(ak_launcher_lock, LW_EXCLUSIVE);
	slot = ak_slot_of(MyDatabaseId);
	if (slot != NULL)
	{
		slot->pid = 0;
		slot->state = extension_gone ? AK_SLOT_FREE : AK_SLOT_WANTED;
	}
	LWLockRelease(ak_launcher_lock);
	ak_launcher_wake();
}

/*
 * Before a statement that needs database dboid without connections: stops
 * its worker, if it has one, and keeps it stopped until
 * ak_launcher_resume.  Waits at most AK_PAUSE_WAIT_MS for the worker to go.
 */
void
ak_launcher_pause(Oid dboid)
{
	pid_t		pid = 0;

	if (ak_launcher == NULL)
		return;
	LWLockAcquire(ak_launcher_lock, LW_EXCLUSIVE);
	{
		AkDbSlot   *slot = ak_slot_of(dboid);

		if (slot != NULL)
		{
			slot->paused = true;
			pid = slot->pid;
		}
	}
	LWLockRelease(ak_launcher_lock);
	if (pid == 0)
		return;
	kill(pid, SIGTERM);
	for (int waited = 0; waited < AK_PAUSE_WAIT_MS; waited += 10)
	{
		bool		gone;

		LWLockAcquire(ak_launcher_lock, LW_EXCLUSIVE);
		{
			AkDbSlot   *slot = ak_slot_of(dboid);

			gone = slot == NULL || slot->pid == 0;
		}
		LWLockRelease(ak_launcher_lock);
		if (gone)
			return;
		pg_usleep(10 * 1000L);
		CHECK_FOR_INTERRUPTS();
	}
}

/* After the statement: dropped, the database needs no worker any more. */
void
ak_launcher_resume(Oid dboid, bool dropped)
{
	if (ak_launcher == NULL)
		return;
	LWLockAcquire(ak_launcher_lock, LW_EXCLUSIVE);
	{
		AkDbSlot   *slot = ak_slot_of(dboid);

		if (slot != NULL)
		{
			slot->paused = false;
			if (dropped)
				slot->state = AK_SLOT_FREE;
		}
	}
	LWLockRelease(ak_launcher_lock);
	ak_launcher_wake();
}


/* ---- the launcher ---- */

/* Reads the oids of the databases that accept connections. */
static List *
ak_databases(void)
{
	List	   *dbs = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;
	MemoryContext cxt = CurrentMemoryContext;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tuple);

		if (db->datallowconn)
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			dbs = lappend_oid(dbs, db->oid);
			MemoryContextSwitchTo(old);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
	return dbs;
}

/*
 * The databases the launcher has looked at: each new one gets a probe;
 * slots of databases that are gone are freed.
 */
static void
ak_launcher_rescan(HTAB *seen)
{
	List	   *dbs = ak_databases();
	ListCell   *lc;
	HASH_SEQ_STATUS seq;
	Oid		   *old;

	foreach(lc, dbs)
	{
		Oid			dboid = lfirst_oid(lc);
		bool		found;

		(void) hash_search(seen, &dboid, HASH_ENTER, &found);
		if (!found)
		{
			LWLockAcquire(ak_launcher_lock, LW_EXCLUSIVE);
			(void) ak_slot_take(dboid, true);
			LWLockRelease(ak_launcher_lock);
		}
	}
	hash_seq_init(&seq, seen);
	while ((old = hash_seq_search(&seq)) != NULL)
		if (!list_member_oid(dbs, *old))
		{
			Oid			gone = *old;

			(void) hash_search(seen, &gone, HASH_REMOVE, NULL);
			LWLockAcquire(ak_launcher_lock, LW_EXCLUSIVE);
			{
				AkDbSlot   *slot = ak_slot_of(gone);

				if (slot != NULL)
					slot->state = AK_SLOT_FREE;
			}
			LWLockRelease(ak_launcher_lock);
		}
	list_free(dbs);
}

static BackgroundWorkerHandle *
ak_start_worker(Oid dboid)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, AK_EXTENSION, BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "apikey_worker_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, AK_WORKER_NAME, BGW_MAXLEN);
	strlcpy(worker.bgw_type, AK_WORKER_NAME, BGW_MAXLEN);
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	worker.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		return NULL;
	return handle;
}

/*
 * A worker the launcher started has stopped without saying why (an error,
 * a database that is gone): it is started again after AK_RESTART_DELAY_US
 * if its slot still wants one.  Caller holds the lock.
 */
static void
ak_slot_check_stopped(int i, TimestampTz now, bool *rescan)
{
	AkDbSlot   *slot = &ak_launcher->slots[i];
	pid_t		pid;

	if (ak_handles[i] == NULL ||
		GetBackgroundWorkerPid(ak_handles[i], &pid) != BGWH_STOPPED)
		return;
	pfree(ak_handles[i]);
	ak_handles[i] = NULL;
	if (slot->state == AK_SLOT_STARTED || slot->state == AK_SLOT_RUNNING)
	{
		slot->state = AK_SLOT_WANTED;
		slot->pid = 0;
		slot->not_before = now + AK_RESTART_DELAY_US;
		*rescan = true;			/* perhaps the database is gone */
	}
}

/* Starts the workers the slots want; at most AK_MAX_PROBES probes at once. */
static bool
ak_launcher_start_workers(void)
{
	TimestampTz now = GetCurrentTimestamp();
	bool		rescan = false;
	int			probing = 0;

	LWLockAcquire(ak_launcher_lock, LW_EXCLUSIVE);
	for (int i = 0; i < AK_MAX_DATABASES; i++)
	{
		ak_slot_check_stopped(i, now, &rescan);
		probing += ak_launcher->slots[i].probe &&
			ak_launcher->slots[i].state == AK_SLOT_STARTED;
	}
	LWLockRelease(ak_launcher_lock);

	for (int i = 0; i < AK_MAX_DATABASES; i++)
	{
		AkDbSlot   *slot = &ak_launcher->slots[i];
		Oid			dboid = InvalidOid;

		LWLockAcquire(ak_launcher_lock, LW_EXCLUSIVE);
		if (slot->state == AK_SLOT_WANTED && !slot->paused && slot->not_before <= now &&
			ak_handles[i] == NULL && (!slot->probe || probing < AK_MAX_PROBES))
		{
			dboid = slot->dboid;
			slot->state = AK_SLOT_STARTED;
			probing += slot->probe;
		}
		LWLockRelease(ak_launcher_lock);
		if (OidIsValid(dboid) && (ak_handles[i] = ak_start_worker(dboid)) == NULL)
		{
			LWLockAcquire(ak_launcher_lock, LW_EXCLUSIVE);
			slot->state = AK_SLOT_WANTED;
			slot->not_before = now + AK_RESTART_DELAY_US;
			LWLockRelease(ak_launcher_lock);
		}
	}
	return rescan;
}

/* The 80% warning, once, and the hard limit of the area. */
static void
ak_launcher_watch_memory(void)
{
	AkAreaUsage use;
	AkMemClass	class;
	int64		ceiling;

	ak_area_limit_to_budget();
	while (ak_area_warning_due(&class))
	{
		ak_area_usage(&use);
		ceiling = ak_area_class_ceiling(class);
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("apikey's %s memory uses %d%% of what apikey.shared_memory_budget allows it",
						ak_mem_class_names[class],
						(int) (use.used[class] * 100 / Max(ceiling, 1))),
				 errdetail("It uses %lld of %lld bytes; all classes use %lld of the budget of %lld.",
						   (long long) use.used[class], (long long) ceiling,
						   (long long) use.total, (long long) use.budget),
				 errhint("Raise apikey.shared_memory_budget; apikey.stats and apikey.bucket_use show what fills it.")));
	}
}

/*
 * At shutdown: waits (a while) for every other process to leave the area,
 * then saves the buckets and the nonces.
 */
static void
ak_launcher_shutdown(void)
{
	for (int waited = 0; waited < AK_DUMP_WAIT_MS && ak_area_attached() > 1; waited += 20)
		pg_usleep(20 * 1000L);
	ak_persist_dump();
	ak_nonces_dump();
}

static void
ak_launcher_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	ak_worker_stop_requested = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

static HTAB *
ak_seen_create(void)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(Oid);
	return hash_create("apikey databases", 64, &ctl, HASH_ELEM | HASH_BLOBS);
}

/* The launcher's entry point (bgw_function_name). */
void
apikey_launcher_main(Datum arg)
{
	HTAB	   *seen;
	TimestampTz next_rescan = 0;
	TimestampTz next_sweep = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, ak_launcher_sigterm);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("apikey launcher");

	(void) ak_area();			/* the first to attach loads the saved buckets */
	ak_persist_forget();
	LWLockAcquire(ak_launcher_lock, LW_EXCLUSIVE);
	ak_launcher->launcher = AK_MY_PROC_NUMBER();
	LWLockRelease(ak_launcher_lock);
	seen = ak_seen_create();

	while (!ak_worker_stop_requested)
	{
		TimestampTz now = GetCurrentTimestamp();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (!RecoveryInProgress())
		{
			if (now >= next_rescan)
			{
				ak_launcher_rescan(seen);
				next_rescan = now + AK_RESCAN_MS * (int64) 1000;
			}
			if (ak_launcher_start_workers())
				next_rescan = now;
		}
		if (now >= next_sweep)
		{
			(void) ak_cells_sweep(AK_TABLE_NAMED, now);
			next_sweep = now + AK_SWEEP_MS * (int64) 1000;
		}
		ak_launcher_watch_memory();

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 AK_LOOP_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	LWLockAcquire(ak_launcher_lock, LW_EXCLUSIVE);
	ak_launcher->launcher = AK_NO_PROC;
	LWLockRelease(ak_launcher_lock);
	ak_launcher_shutdown();
	proc_exit(1);
}
