/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The apikey worker (contract §11): one background worker, connected
 *	  to apikey.database, that writes what the backends keep in shared
 *	  memory to tables, and keeps the tables in shape.
 *
 * Every apikey.flush_interval, each in its own transaction:
 *	  - keys: the quota counters that changed (daily_usage, usage_day,
 *		monthly_usage, usage_month) and last_used_at;
 *	  - usage: the current hour's rows of usage_hourly, and those of any
 *		hour that received requests since the last flush (an upsert); then
 *		the entries of finished hours leave shared memory;
 *	  - events: access events and quota alerts into audit_log, with
 *		NOTIFY apikey_quota for the alerts.
 * Every apikey.maintenance_interval, each in its own transaction:
 *	  - expiry: keys past expires_at -- a rotated key's grace period is its
 *		expires_at -- get revoked_at = expires_at, which keeps them EXPIRED
 *		(rotated ones REVOKED), and an "expired" audit row;
 *	  - retention: audit_log and usage_hourly rows older than
 *		apikey.audit_retention and apikey.usage_retention, in batches.
 *
 * A task that fails (a lock not granted within AK_LOCK_TIMEOUT, a table
 * altered by hand) is logged and the loop goes on; what it had collected
 * stays in the worker's memory, or is marked dirty again in shared memory,
 * and is written at the next flush.  The worker idles while the extension
 * does not exist in its database; it never runs during recovery (it starts
 * when recovery finishes).  At SIGTERM it flushes once more and exits with
 * code 1, so that the postmaster starts it again after bgw_restart_time
 * unless the server is shutting down.
 *
 * A worker whose database does not exist would fail at every start: once
 * that has happened (ak_wshared->db_missing), the next one connects to no
 * database and waits, quietly, until the database exists.
 *
 * Locking protocol
 *	  AkWorkerShared holds one atomic flag; the rest of the shared state the
 *	  worker reads is protected as its owners (bucket.c, usage.c,
 *	  events.c) say.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type_d.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "lib/qunique.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "apikey.h"

#define AK_WORKER_NAME			"apikey worker"
#define AK_RESTART_SECONDS		5
#define AK_LOCK_TIMEOUT			"5s"
#define AK_RETENTION_BATCH		10000
#define AK_RETENTION_BATCHES	100 /* per maintenance: a million rows */
#define AK_DB_POLL_MS			10000

PGDLLEXPORT void apikey_worker_main(Datum arg);

/* GUCs */
char	   *ak_worker_database = NULL;
int			ak_flush_interval = 1000;	/* ms */
int			ak_maintenance_interval = 60000;	/* ms */
int			ak_audit_retention = 90 * 86400;	/* s; 0: keep */
int			ak_usage_retention = 400 * 86400;	/* s; 0: keep */

typedef struct AkWorkerShared
{
	pg_atomic_uint32 db_missing;	/* the last worker could not connect */
} AkWorkerShared;

static AkWorkerShared *ak_wshared = NULL;

static volatile sig_atomic_t ak_stopping = false;
static bool ak_connected = false;
static AkUsagePending *ak_pending = NULL;
static bool ak_warned_missing = false;


/* ---- registration and shared memory ---- */

void
ak_worker_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = AK_RESTART_SECONDS;
	strlcpy(worker.bgw_library_name, "apikey", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "apikey_worker_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, AK_WORKER_NAME, BGW_MAXLEN);
	strlcpy(worker.bgw_type, AK_WORKER_NAME, BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

void
ak_worker_shmem_request(void)
{
	RequestAddinShmemSpace(sizeof(AkWorkerShared));
}

/* Caller holds AddinShmemInitLock. */
void
ak_worker_shmem_startup(void)
{
	bool		found;

	ak_wshared = ShmemInitStruct("apikey worker", sizeof(AkWorkerShared), &found);
	if (!found)
		pg_atomic_init_u32(&ak_wshared->db_missing, 0);
}


/* ---- helpers for the writers (also used by usage.c and events.c) ---- */

/*
 * n values of type elemtype (nulls may be NULL: none) as a one-dimensional
 * array; *argtype is set to the array type, for SPI.
 */
Datum
ak_array_datum(Datum *values, bool *nulls, int n, Oid elemtype, Oid *argtype)
{
	int16		len;
	bool		byval;
	char		align;
	int			dims[1] = {n};
	int			lbs[1] = {1};

	get_typlenbyvalalign(elemtype, &len, &byval, &align);
	*argtype = get_array_type(elemtype);
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs,
											  elemtype, len, byval, align));
}

/* Runs sql with args, expecting result code ret; returns the rows processed. */
uint64
ak_worker_execute(const char *sql, int nargs, Oid *types, Datum *args, int ret)
{
	int			got = SPI_execute_with_args(sql, nargs, types, args, NULL, false, 0);

	if (got != ret)
		elog(ERROR, "apikey worker: unexpected result %s", SPI_result_code_string(got));
	return SPI_processed;
}


/* ---- running a task ---- */

static void
ak_task_error_context(void *arg)
{
	errcontext("apikey worker task \"%s\"", (const char *) arg);
}

/*
 * Runs task(arg) in a transaction of its own, with SPI, if the extension
 * exists.  Returns true if it committed.  An error is logged, the
 * transaction aborted, and false returned: the worker carries on.
 */
static bool
ak_worker_run(const char *what, void (*task) (void *), void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ErrorContextCallback errcallback;
	volatile bool ok = true;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, what);
	errcallback.callback = ak_task_error_context;
	errcallback.arg = (void *) what;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	PG_TRY();
	{
		if (!OidIsValid(get_extension_oid("apikey", true)))
			ok = false;
		else
		{
			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "apikey worker: SPI_connect failed");
			task(arg);
			SPI_finish();
		}
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		ok = false;
	}
	PG_END_TRY();
	/* after PG_END_TRY, which restores the stack as it was at PG_TRY */
	error_context_stack = errcallback.previous;

	pgstat_report_activity(STATE_IDLE, NULL);
	pgstat_report_stat(true);
	MemoryContextSwitchTo(cxt);
	return ok;
}

/* Whether the extension exists in the worker's database. */
static bool
ak_extension_exists(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	bool		exists;

	StartTransactionCommand();
	exists = OidIsValid(get_extension_oid("apikey", true));
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);	/* the commit left us in TopMemoryContext */
	return exists;
}


/* ---- flush: keys ---- */

typedef struct AkKeysWrite
{
	AkQuotaFlush *counters;
	int			ncounters;
	pg_uuid_t  *used_ids;
	TimestampTz *used_at;
	int			nused;
} AkKeysWrite;

static int
ak_uuid_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(pg_uuid_t));
}

/*
 * One UPDATE for the quota counts and last use of every key that has
 * either; a key has at most one counter and one last use.  The rows are
 * locked in the join's order, not by id: a transaction that holds one of
 * them makes the task wait (lock_timeout) or lose a deadlock, and the
 * counts are written at the next flush.
 */
static void
ak_write_keys(void *arg)
{
	static const char *sql =
		"UPDATE apikey.keys AS k SET"
		"  daily_usage = coalesce(u.daily, k.daily_usage),"
		"  usage_day = coalesce(u.day, k.usage_day),"
		"  monthly_usage = coalesce(u.monthly, k.monthly_usage),"
		"  usage_month = coalesce(u.month, k.usage_month),"
		"  last_used_at = GREATEST(k.last_used_at, u.last_used)"
		" FROM unnest($1::uuid[], $2::int8[], $3::date[], $4::int8[], $5::date[],"
		"             $6::timestamptz[]) AS u(id, daily, day, monthly, month, last_used)"
		" WHERE k.id OPERATOR(pg_catalog.=) u.id";
	static const Oid elemtypes[6] = {UUIDOID, INT8OID, DATEOID, INT8OID, DATEOID, TIMESTAMPTZOID};
	Oid			types[6];
	AkKeysWrite *w = arg;
	int			max = w->ncounters + w->nused;
	pg_uuid_t  *ids = palloc(Max(max, 1) * sizeof(pg_uuid_t));
	Datum	   *values[6];
	bool	   *nulls[6];
	Datum		args[6];
	int			n = 0;

	/* the union of both lists, sorted, each key once */
	for (int i = 0; i < w->ncounters; i++)
		ids[n++] = w->counters[i].key_id;
	for (int i = 0; i < w->nused; i++)
		ids[n++] = w->used_ids[i];
	qsort(ids, n, sizeof(pg_uuid_t), ak_uuid_cmp);
	n = (int) qunique(ids, n, sizeof(pg_uuid_t), ak_uuid_cmp);
	if (n == 0)
		return;

	for (int c = 0; c < 6; c++)
	{
		values[c] = palloc0(n * sizeof(Datum));
		nulls[c] = palloc(n * sizeof(bool));
		memset(nulls[c], c > 0, n * sizeof(bool));
	}
	for (int i = 0; i < n; i++)
		values[0][i] = UUIDPGetDatum(&ids[i]);
	for (int i = 0; i < w->ncounters; i++)
	{
		const AkQuotaFlush *q = &w->counters[i];
		pg_uuid_t  *at = bsearch(&q->key_id, ids, n, sizeof(pg_uuid_t), ak_uuid_cmp);
		int			j = at - ids;

		values[1][j] = Int64GetDatum(q->used[AK_DAY]);
		values[2][j] = DateADTGetDatum(ak_period_first_day(AK_DAY, q->period[AK_DAY]));
		values[3][j] = Int64GetDatum(q->used[AK_MONTH]);
		values[4][j] = DateADTGetDatum(ak_period_first_day(AK_MONTH, q->period[AK_MONTH]));
		nulls[1][j] = nulls[2][j] = nulls[3][j] = nulls[4][j] = false;
	}
	for (int i = 0; i < w->nused; i++)
	{
		pg_uuid_t  *at = bsearch(&w->used_ids[i], ids, n, sizeof(pg_uuid_t), ak_uuid_cmp);
		int			j = at - ids;

		values[5][j] = TimestampTzGetDatum(w->used_at[i]);
		nulls[5][j] = false;
	}
	for (int c = 0; c < 6; c++)
		args[c] = ak_array_datum(values[c], nulls[c], n, elemtypes[c], &types[c]);
	(void) ak_worker_execute(sql, 6, types, args, SPI_OK_UPDATE);
}

static void
ak_write_usage(void *arg)
{
	ak_usage_write((AkUsagePending *) arg);
}

static void
ak_write_events(void *arg)
{
	ak_events_write();
}

/*
 * Collects everything the backends counted and writes it.  What a failed
 * task collected is kept for the next flush: usage and events in the
 * worker's memory, quota counters marked dirty again.
 */
/*
 * Usage records the full usage table could not take are lost for good:
 * say so once per flush that saw new ones.
 */
static void
ak_report_usage_dropped(void)
{
	static uint64 reported = 0;
	uint64		dropped = ak_counter_total(AK_USAGE_DROPPED);

	if (dropped <= reported)
		return;
	ereport(WARNING,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("apikey usage table is full: " UINT64_FORMAT " usage records were dropped",
					dropped - reported),
			 errdetail("Every entry of apikey.max_usage_entries (%d) holds a key, hour and endpoint not yet written.",
					   ak_max_usage_entries),
			 errhint("Raise apikey.max_usage_entries, or lower apikey.flush_interval.")));
	reported = dropped;
}

static void
ak_worker_flush(void)
{
	int64		now = GetCurrentTimestamp();
	int64		finished;
	AkKeysWrite keys;
	bool		ok;

	ak_report_usage_dropped();
	finished = ak_usage_harvest(ak_pending, now);
	if (finished > 0)
		ak_usage_forget_finished(now);
	keys.ncounters = ak_quota_counters_collect(&keys.counters);
	keys.nused = ak_usage_last_used(ak_pending, &keys.used_ids, &keys.used_at);
	(void) ak_events_collect();

	if (!ak_extension_exists())
	{
		/* nowhere to write: the counters stay in shared memory, clean */
		if (!ak_warned_missing && (keys.ncounters > 0 || !ak_usage_is_empty(ak_pending)))
		{
			ereport(WARNING,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("apikey is in use, but the extension does not exist in database \"%s\"",
							ak_worker_database),
					 errdetail("Quota counts, usage and access events are not written to any table."),
					 errhint("Set apikey.database to the database where CREATE EXTENSION apikey was run.")));
			ak_warned_missing = true;
		}
		ak_quota_counters_flushed(keys.counters, keys.ncounters, true);
		ak_usage_written(ak_pending, true, true);
		ak_events_written();
		return;
	}
	ak_warned_missing = false;

	ok = ak_worker_run("flush keys", ak_write_keys, &keys);
	ak_quota_counters_flushed(keys.counters, keys.ncounters, ok);
	if (ok)
		ak_usage_written(ak_pending, true, false);

	if (ak_worker_run("flush usage", ak_write_usage, ak_pending))
		ak_usage_written(ak_pending, false, true);

	if (ak_worker_run("flush events", ak_write_events, NULL))
		ak_events_written();
}


/* ---- maintenance ---- */

static void
ak_expire_keys(void *arg)
{
	static const char *sql =
		"WITH expired AS ("
		"  UPDATE apikey.keys SET revoked_at = expires_at,"
		"    revoke_reason = CASE WHEN rotated_to IS NULL THEN 'expired' ELSE 'rotated' END"
		"   WHERE revoked_at IS NULL AND expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()"
		"  RETURNING id, owner, expires_at, rotated_to)"
		" INSERT INTO apikey.audit_log (action, key_id, owner, actor, detail)"
		" SELECT 'expired', id, owner, '" AK_WORKER_NAME "',"
		"   pg_catalog.jsonb_build_object("
		"     'reason', CASE WHEN rotated_to IS NULL THEN 'expires_at passed'"
		"                    ELSE 'rotation grace ended' END,"
		"     'expires_at', expires_at, 'rotated_to', rotated_to)"
		"   FROM expired";

	(void) ak_worker_execute(sql, 0, NULL, NULL, SPI_OK_INSERT);
}

typedef struct AkPurge
{
	const char *sql;			/* $1: the retention in seconds */
	int			retention;
	uint64		deleted;
} AkPurge;

static void
ak_purge_batch(void *arg)
{
	AkPurge    *purge = arg;
	Oid			types[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(purge->retention)};

	ak_audit_retention_running = true;
	PG_TRY();
	{
		purge->deleted = ak_worker_execute(purge->sql, 1, types, args, SPI_OK_DELETE);
	}
	PG_FINALLY();
	{
		ak_audit_retention_running = false;
	}
	PG_END_TRY();
}

/* Deletes rows past their retention, AK_RETENTION_BATCH per transaction. */
static void
ak_purge(const char *what, const char *sql, int retention)
{
	AkPurge		purge = {sql, retention, 0};

	if (retention <= 0)
		return;
	for (int i = 0; i < AK_RETENTION_BATCHES && !ak_stopping; i++)
	{
		purge.deleted = 0;
		if (!ak_worker_run(what, ak_purge_batch, &purge) ||
			purge.deleted < AK_RETENTION_BATCH)
			break;
	}
}

#define AK_BATCH_STR	CppAsString2(AK_RETENTION_BATCH)

static void
ak_worker_maintain(void)
{
	(void) ak_worker_run("expire keys", ak_expire_keys, NULL);
	ak_purge("purge audit_log",
			 "DELETE FROM apikey.audit_log WHERE id OPERATOR(pg_catalog.=) ANY (ARRAY("
			 "  SELECT id FROM apikey.audit_log"
			 "   WHERE at OPERATOR(pg_catalog.<) (pg_catalog.now()"
			 "         OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1))"
			 "   ORDER BY at LIMIT " AK_BATCH_STR "))",
			 ak_audit_retention);
	ak_purge("purge usage_hourly",
			 "DELETE FROM apikey.usage_hourly WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
			 "  SELECT ctid FROM apikey.usage_hourly"
			 "   WHERE hour OPERATOR(pg_catalog.<) (pg_catalog.now()"
			 "         OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1))"
			 "   LIMIT " AK_BATCH_STR "))",
			 ak_usage_retention);
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

	ak_stopping = true;
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
	while (!ak_stopping)
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

void
apikey_worker_main(Datum arg)
{
	TimestampTz next_flush;
	TimestampTz next_maintenance;
	MemoryContext loop_cxt;

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
	ak_events_attach_worker();

	ak_pending = ak_usage_pending_create(TopMemoryContext);
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
		if (ak_stopping || now >= next_flush)
		{
			ak_worker_flush();
			next_flush = now + (int64) ak_flush_interval * 1000;
		}
		if (!ak_stopping && now >= next_maintenance)
		{
			ak_worker_maintain();
			next_maintenance = now + (int64) ak_maintenance_interval * 1000;
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(loop_cxt);
		if (ak_stopping)
			proc_exit(1);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(ak_ms_until(next_flush), ak_ms_until(next_maintenance)),
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		/* woken by a filling event queue: flush now */
		next_flush = Min(next_flush, GetCurrentTimestamp());
	}
}
