/*-------------------------------------------------------------------------
 *
 * task.c
 *	  Running one task of the worker: in a transaction of its own, with
 *	  SPI, the bracket worker_spi teaches (start, snapshot, SPI, commit),
 *	  and an error that is logged, not fatal.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "worker/task.h"

volatile sig_atomic_t ak_worker_stop_requested = false;

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
bool
ak_task_run(const char *what, void (*task) (void *), void *arg)
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
		if (!OidIsValid(get_extension_oid(AK_EXTENSION, true)))
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

/*
 * The version of the extension installed in this database, palloc'd in the
 * caller's context, or NULL when it is not installed.  Call in a
 * transaction.
 */
static char *
ak_installed_version(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	char	   *version = NULL;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum(AK_EXTENSION));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		value = heap_getattr(tuple, Anum_pg_extension_extversion,
										 RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = text_to_cstring(DatumGetTextPP(value));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

/*
 * Whether the extension is in the worker's database, and at the version of
 * this library.  Between installing a new library and ALTER EXTENSION
 * apikey UPDATE, the tables still have the old version's shape: the worker
 * says so once and writes nothing until the update.
 */
AkExtensionState
ak_extension_state(void)
{
	static bool outdated_logged = false;
	MemoryContext cxt = CurrentMemoryContext;
	AkExtensionState state;
	char	   *version;

	StartTransactionCommand();
	version = ak_installed_version();
	if (version == NULL)
		state = AK_EXTENSION_ABSENT;
	else if (strcmp(version, APIKEY_VERSION) != 0)
		state = AK_EXTENSION_OUTDATED;
	else
		state = AK_EXTENSION_CURRENT;
	if (state == AK_EXTENSION_OUTDATED && !outdated_logged)
		ereport(LOG,
				(errmsg("apikey worker waits for ALTER EXTENSION apikey UPDATE in database \"%s\"",
						get_database_name(MyDatabaseId)),
				 errdetail("The database has apikey %s; the server's library is apikey %s.",
						   version, APIKEY_VERSION),
				 errhint("Until the update, usage and quota counts are kept in shared memory and not written.")));
	outdated_logged = (state == AK_EXTENSION_OUTDATED);
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);	/* the commit left us in TopMemoryContext */
	return state;
}
