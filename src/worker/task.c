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

#include "access/xact.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "pgstat.h"
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

/* Whether the extension exists in the worker's database. */
bool
ak_extension_exists(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	bool		exists;

	StartTransactionCommand();
	exists = OidIsValid(get_extension_oid(AK_EXTENSION, true));
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);	/* the commit left us in TopMemoryContext */
	return exists;
}
