/*-------------------------------------------------------------------------
 *
 * flush.c
 *	  The worker's flush, every apikey.flush_interval: everything the
 *	  backends counted in shared memory, collected and written, each table
 *	  in a task (a transaction) of its own:
 *	  - counters: the quota counters that changed, into quota_counters;
 *		then the keys' last use (flush_keys.c);
 *	  - usage: the current hour's rows of usage_hourly, and those of any
 *		hour that received requests since the last flush (flush_usage.c);
 *		then the entries of finished hours leave shared memory;
 *	  - events: access events and quota alerts into audit_log, with
 *		NOTIFY apikey_quota for the alerts (flush_events.c).
 *	  What a failed task collected is kept for the next flush: usage and
 *	  events in the worker's memory, quota counters marked dirty again.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "core/counters.h"
#include "core/guc.h"
#include "miscadmin.h"
#include "usage/store.h"
#include "utils/timestamp.h"
#include "worker/flush.h"
#include "worker/task.h"

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

/*
 * The extension was dropped from the worker's database: what the backends
 * counted for it is forgotten (counters left clean, so that they can leave
 * shared memory), and the worker leaves.
 */
static void
ak_flush_nowhere(AkUsagePending *pending)
{
	AkQuotaFlush *counters;
	int			n = ak_quota_counters_collect(MyDatabaseId, &counters);

	ak_quota_counters_flushed(counters, n, true);
	(void) ak_usage_harvest(pending, GetCurrentTimestamp());
	ak_usage_written(pending, true, true);
	(void) ak_events_collect(true);
	ak_events_written();
}

/* The keys' last use, written; rows locked by their owners wait. */
static void
ak_flush_last_use(AkUsagePending *pending)
{
	AkLastUseWrite w;

	ak_usage_last_used(pending, &w);
	if (ak_task_run("flush last use", ak_write_last_use, &w))
		ak_usage_last_use_written(pending, &w);
}

/*
 * Collects everything the backends counted in this database and writes it;
 * final: the worker stops, every event is written now.  False when the
 * extension is not in the database any more.
 */
bool
ak_worker_flush(AkUsagePending *pending, bool final)
{
	int64		now = GetCurrentTimestamp();
	AkCountersWrite counters;
	bool		ok;

	if (!ak_extension_exists())
	{
		ak_flush_nowhere(pending);
		return false;
	}
	ak_report_usage_dropped();
	if (ak_usage_harvest(pending, now) > 0)
		ak_usage_store_forget_finished(now);
	counters.n = ak_quota_counters_collect(MyDatabaseId, &counters.counters);
	(void) ak_events_collect(final);

	ok = ak_task_run("flush counters", ak_write_counters, &counters);
	ak_quota_counters_flushed(counters.counters, counters.n, ok);
	ak_flush_last_use(pending);

	if (ak_task_run("flush usage", ak_write_usage, pending))
		ak_usage_written(pending, false, true);

	if (ak_task_run("flush events", ak_write_events, NULL))
		ak_events_written();
	return true;
}
