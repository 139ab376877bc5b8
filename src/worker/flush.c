/*-------------------------------------------------------------------------
 *
 * flush.c
 *	  The worker's flush, every apikey.flush_interval: everything the
 *	  backends counted in shared memory, collected and written, each table
 *	  in a task (a transaction) of its own:
 *	  - keys: the quota counters that changed and the keys' last use
 *		(flush_keys.c); the counters that are not a key's (owners' quotas,
 *		keys' uses) into quota_counters (flush_counters.c);
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

/* whether the missing extension was reported, since it went missing */
static bool ak_warned_missing = false;

/*
 * The extension is missing from the worker's database: nowhere to write.
 * The counters stay in shared memory, clean; the rest is forgotten.  Said
 * once, while it lasts, if apikey is in use.
 */
static void
ak_flush_nowhere(AkUsagePending *pending, AkKeysWrite *keys)
{
	if (!ak_warned_missing && (keys->ncounters > 0 || !ak_usage_is_empty(pending)))
	{
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("apikey is in use, but the extension does not exist in database \"%s\"",
						ak_worker_database),
				 errdetail("Quota counts, usage and access events are not written to any table."),
				 errhint("Set apikey.database to the database where CREATE EXTENSION apikey was run.")));
		ak_warned_missing = true;
	}
	ak_quota_counters_flushed(keys->counters, keys->ncounters, true);
	ak_usage_written(pending, true, true);
	ak_events_written();
}

/* Collects everything the backends counted and writes it. */
void
ak_worker_flush(AkUsagePending *pending)
{
	int64		now = GetCurrentTimestamp();
	AkKeysWrite keys;
	bool		ok;

	ak_report_usage_dropped();
	if (ak_usage_harvest(pending, now) > 0)
		ak_usage_store_forget_finished(now);
	keys.ncounters = ak_quota_counters_collect(&keys.counters);
	keys.nused = ak_usage_last_used(pending, &keys.used_ids, &keys.used_at);
	(void) ak_events_collect();

	if (!ak_extension_exists())
	{
		ak_flush_nowhere(pending, &keys);
		return;
	}
	ak_warned_missing = false;

	ok = ak_task_run("flush keys", ak_write_keys, &keys);
	ok &= ak_task_run("flush counters", ak_write_quota_counters, &keys);
	ak_quota_counters_flushed(keys.counters, keys.ncounters, ok);
	if (ok)
		ak_usage_written(pending, true, false);

	if (ak_task_run("flush usage", ak_write_usage, pending))
		ak_usage_written(pending, false, true);

	if (ak_task_run("flush events", ak_write_events, NULL))
		ak_events_written();
}
