/*-------------------------------------------------------------------------
 *
 * flush.c
 *	  The worker's flush, every apikey.flush_interval: everything the
 *	  backends counted in shared memory, collected and written, each table
 *	  in a task (a transaction) of its own:
 *	  - counters: the quota counters that changed -- keys' (per lineage),
 *		owners', keys' uses -- into quota_counters; then the keys' last use
 *		(flush_keys.c);
 *	  - usage: the current hour's rows of usage_hours, and those of any
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
#include "core/clock.h"
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
			 errmsg("apikey lost " UINT64_FORMAT " usage records for lack of shared memory",
					dropped - reported),
			 errdetail("Backends that exited could not move the usage they counted into the shared usage store within 10 seconds."),
			 errhint("Raise apikey.shared_memory_budget (or apikey.max_usage_entries, if set), or lower apikey.usage_flush_interval.")));
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
	ak_usage_harvest(pending);
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
 * Whether usage is to be written now: every apikey.usage_flush_interval,
 * when an hour has ended, and when a backend found no room for its counts.
 */
static bool
ak_checkpoint_due(int64 now, int64 last)
{
	return now - last >= (int64) ak_usage_flush_interval * 1000 ||
		ak_hour_of(now) != ak_hour_of(last) ||
		ak_usage_store_checkpoint_wanted(last);
}

/*
 * Writes the usage the backends counted in this database: the rows of
 * usage_hours, and the keys' last use.
 */
static void
ak_usage_checkpoint(AkUsagePending *pending)
{
	ak_usage_harvest(pending);
	if (ak_task_run("flush usage", ak_write_usage, pending))
		ak_usage_written(pending, false, true);
	ak_flush_last_use(pending);
}

/*
 * Collects everything the backends counted in this database and writes it:
 * quota counters and events at every flush, usage at checkpoints; final:
 * the worker stops, everything is written now.  False when the extension
 * is not in the database any more (the worker leaves); outdated when its
 * objects are another version's (nothing is written until the update).
 */
AkExtensionState
ak_worker_flush(AkUsagePending *pending, bool final)
{
	static int64 last_checkpoint = 0;
	int64		now = GetCurrentTimestamp();
	AkCountersWrite counters;
	bool		ok;
	AkExtensionState state = ak_extension_state();

	if (state == AK_EXTENSION_ABSENT)
		ak_flush_nowhere(pending);
	if (state != AK_EXTENSION_CURRENT)
		return state;
	ak_report_usage_dropped();
	counters.n = ak_quota_counters_collect(MyDatabaseId, &counters.counters);
	(void) ak_events_collect(final);

	ok = ak_task_run("flush counters", ak_write_counters, &counters);
	ak_quota_counters_flushed(counters.counters, counters.n, ok);

	if (final || ak_checkpoint_due(now, last_checkpoint))
	{
		ak_usage_checkpoint(pending);
		last_checkpoint = now;
	}

	if (ak_task_run("flush events", ak_write_events, NULL))
		ak_events_written();
	return state;
}
