/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The apikey worker of a database (doc/apikey.md, "The background
 *	  workers"), started by the launcher (launcher.c) in each database
 *	  where the extension is installed: it writes what the backends keep in
 *	  shared memory for its database to tables (flush.c) every
 *	  apikey.flush_interval, and keeps the tables in shape (maintain.c)
 *	  every apikey.maintenance_interval.
 *
 * A task that fails (a lock not granted within AK_LOCK_TIMEOUT, a table
 * altered by hand) is logged and the loop goes on (task.c).  A worker that
 * finds no extension in its database leaves and tells the launcher so;
 * one whose extension is dropped flushes nothing more and leaves the same
 * way.  One that finds another version's objects (a new library
 * installed, ALTER EXTENSION apikey UPDATE not yet run) says so once and
 * writes nothing until the update.  At SIGTERM (the server stopping, or a
 * statement that needs the database alone) it flushes once more and
 * leaves.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "core/guc.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "worker/flush.h"
#include "worker/maintain.h"
#include "worker/task.h"
#include "worker/launcher.h"
#include "worker/worker.h"

#define AK_LOCK_TIMEOUT			"5s"

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

static long
ak_ms_until(TimestampTz t)
{
	TimestampTz now = GetCurrentTimestamp();

	return t <= now ? 0 : (long) ((t - now + 999) / 1000);
}

/* Leaves: the launcher learns whether the database still needs a worker. */
static void
ak_worker_leave(bool extension_gone)
{
	ak_launcher_worker_leaves(extension_gone);
	proc_exit(0);
}

/* The worker's entry point (bgw_function_name); arg is its database. */
void
apikey_worker_main(Datum arg)
{
	TimestampTz next_flush;
	TimestampTz next_maintenance;
	MemoryContext loop_cxt;
	AkUsagePending *pending;
	AkExtensionState state;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, ak_worker_sigterm);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(arg), InvalidOid, 0);
	pgstat_report_appname(AK_WORKER_NAME);
	SetConfigOption("lock_timeout", AK_LOCK_TIMEOUT, PGC_SUSET, PGC_S_OVERRIDE);
	state = ak_extension_state();
	if (state == AK_EXTENSION_ABSENT)
		ak_worker_leave(true);
	ak_launcher_worker_running();

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
			/* a shorter interval applies now, not after the old one ends */
			next_flush = Min(next_flush, now + (int64) ak_flush_interval * 1000);
			next_maintenance = Min(next_maintenance,
								   now + (int64) ak_maintenance_interval * 1000);
		}
		if (ak_worker_stop_requested || now >= next_flush)
		{
			state = ak_worker_flush(pending, ak_worker_stop_requested);
			next_flush = now + (int64) ak_flush_interval * 1000;
		}
		if (state == AK_EXTENSION_CURRENT && !ak_worker_stop_requested &&
			now >= next_maintenance)
		{
			ak_worker_maintain();
			next_maintenance = now + (int64) ak_maintenance_interval * 1000;
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(loop_cxt);
		if (state == AK_EXTENSION_ABSENT || ak_worker_stop_requested)
			ak_worker_leave(state == AK_EXTENSION_ABSENT);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(ak_ms_until(next_flush), ak_ms_until(next_maintenance)),
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		/* woken early (SIGTERM, a full usage store): flush now */
		next_flush = Min(next_flush, GetCurrentTimestamp());
	}
}
