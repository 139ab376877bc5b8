/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The apikey worker (doc/apikey.md, "The background worker"): one
 *	  background worker, connected to apikey.database, that writes what the
 *	  backends keep in shared memory to tables (flush.c) every
 *	  apikey.flush_interval, and keeps the tables in shape (maintain.c)
 *	  every apikey.maintenance_interval.
 *
 * A task that fails (a lock not granted within AK_LOCK_TIMEOUT, a table
 * altered by hand) is logged and the loop goes on (task.c).  The worker
 * idles while the extension does not exist in its database; it never runs
 * during recovery (it starts when recovery finishes).  At SIGTERM it
 * flushes once more and exits with code 1, so that the postmaster starts it
 * again after bgw_restart_time unless the server is shutting down.
 *
 * A worker whose database does not exist would fail at every start: once
 * that has happened (ak_wshared->db_missing), the next one connects to no
 * database and waits, quietly, until the database exists.
 *
 * Locking protocol
 *	  AkWorkerShared holds one atomic flag; the rest of the shared state the
 *	  worker reads is protected as its owners (limit/cells.c,
 *	  limit/quotastore.c, usage/store.c, usage/events.c) say.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "core/guc.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "usage/events.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "worker/flush.h"
#include "worker/maintain.h"
#include "worker/task.h"
#include "worker/worker.h"

#define AK_RESTART_SECONDS		5
#define AK_LOCK_TIMEOUT			"5s"
#define AK_DB_POLL_MS			10000

typedef struct AkWorkerShared
{
	pg_atomic_uint32 db_missing;	/* the last worker could not connect */
} AkWorkerShared;

static AkWorkerShared *ak_wshared = NULL;

static bool ak_connected = false;


/* ---- registration and shared memory ---- */

void
ak_worker_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = AK_RESTART_SECONDS;
	strlcpy(worker.bgw_library_name, AK_EXTENSION, BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "apikey_worker_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, AK_WORKER_NAME, BGW_MAXLEN);
	strlcpy(worker.bgw_type, AK_WORKER_NAME, BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

Size
ak_worker_shmem_size(void)
{
	return sizeof(AkWorkerShared);
}

/* Caller holds AddinShmemInitLock. */
void
ak_worker_shmem_init(void)
{
	bool		found;

	ak_wshared = ShmemInitStruct("apikey worker", sizeof(AkWorkerShared), &found);
	if (!found)
		pg_atomic_init_u32(&ak_wshared->db_missing, 0);
}


/* ---- the main loop ---- */

/*
 * Not die(): SIGTERM ends the loop after one last flush, so that a clean
 * shutdown loses no count.  Lock waits are bounded by lock_timeout, so the
 * postmaster does not wait long.
 */
static void
ak_worker_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	ak_worker_stop_requested = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

/* Before the connection exists: a failure to connect is remembered. */
static void
ak_worker_note_exit(int code, Datum arg)
{
	if (!ak_connected)
		pg_atomic_write_u32(&ak_wshared->db_missing, 1);
}

/*
 * Whether apikey.database exists.  Connected to no database, only the nailed
 * shared catalogs can be read, so pg_database is scanned, not its index.
 */
static bool
ak_worker_database_exists(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;
	bool		found = false;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (!found && (tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tuple);

		found = strcmp(NameStr(db->datname), ak_worker_database) == 0;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();
	return found;
}

/*
 * Connected to no database, waits until apikey.database exists, then exits
 * for the postmaster to start a worker that connects to it.
 */
static void
ak_worker_wait_for_database(void)
{
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname(AK_WORKER_NAME);
	ereport(LOG,
			(errmsg("apikey worker is waiting for database \"%s\" to exist",
					ak_worker_database),
			 errhint("Create it, or set apikey.database to the database where apikey is installed.")));
	while (!ak_worker_stop_requested)
	{
		if (ak_worker_database_exists())
		{
			pg_atomic_write_u32(&ak_wshared->db_missing, 0);
			ereport(LOG,
					(errmsg("database \"%s\" exists now, restarting the apikey worker",
							ak_worker_database)));
			break;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 AK_DB_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	proc_exit(1);
}

static long
ak_ms_until(TimestampTz t)
{
	TimestampTz now = GetCurrentTimestamp();

	return t <= now ? 0 : (long) ((t - now + 999) / 1000);
}

/* The worker's entry point (bgw_function_name). */
void
apikey_worker_main(Datum arg)
{
	TimestampTz next_flush;
	TimestampTz next_maintenance;
	MemoryContext loop_cxt;
	AkUsagePending *pending;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, ak_worker_sigterm);
	BackgroundWorkerUnblockSignals();

	if (pg_atomic_read_u32(&ak_wshared->db_missing))
		ak_worker_wait_for_database();

	before_shmem_exit(ak_worker_note_exit, (Datum) 0);
	BackgroundWorkerInitializeConnection(ak_worker_database, NULL, 0);
	ak_connected = true;
	pgstat_report_appname(AK_WORKER_NAME);
	SetConfigOption("lock_timeout", AK_LOCK_TIMEOUT, PGC_SUSET, PGC_S_OVERRIDE);
	ak_events_attach_consumer();

	pending = ak_usage_pending_create(TopMemoryContext);
	loop_cxt = AllocSetContextCreate(TopMemoryContext, "apikey worker loop",
									 ALLOCSET_DEFAULT_SIZES);
	next_flush = next_maintenance = GetCurrentTimestamp();

	for (;;)
	{
		MemoryContext old = MemoryContextSwitchTo(loop_cxt);
		TimestampTz now = GetCurrentTimestamp();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (ak_worker_stop_requested || now >= next_flush)
		{
			ak_worker_flush(pending);
			next_flush = now + (int64) ak_flush_interval * 1000;
		}
		if (!ak_worker_stop_requested && now >= next_maintenance)
		{
			ak_worker_maintain();
			next_maintenance = now + (int64) ak_maintenance_interval * 1000;
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(loop_cxt);
		if (ak_worker_stop_requested)
			proc_exit(1);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(ak_ms_until(next_flush), ak_ms_until(next_maintenance)),
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		/* woken early (a filling event queue, SIGTERM): flush now */
		next_flush = Min(next_flush, GetCurrentTimestamp());
	}
}
