/*-------------------------------------------------------------------------
 *
 * finished.c
 *	  What an application's request adds to its key's usage (store.c),
 *	  recorded when the application calls finish(): under the endpoint it
 *	  named, in the hour it started, with the duration it reports or the
 *	  time since check(), and counted as its real HTTP status says.  A
 *	  PostgREST request is recorded at its transaction's end instead
 *	  (record.c).  Nothing is recorded on a hot standby, where no worker
 *	  would write it.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "access/xlog.h"
#include "common/hashfn.h"
#include "core/clock.h"
#include "core/guc.h"
#include "miscadmin.h"
#include "usage/finished.h"
#include "usage/store.h"

/*
 * One request of a key that started at start: duration_us < 0 when it is
 * not known (the application never said), which leaves it out of the
 * latency histogram.  path "" for none.
 */
void
ak_usage_finished(const pg_uuid_t *key_id, AkUsageOutcome outcome, int64 cost,
				  TimestampTz start, int64 duration_us, const char *path)
{
	AkUsageKey	key;
	AkUsageDelta d;
	size_t		len = strlen(path);

	if (!ak_track_usage || RecoveryInProgress())
		return;
	memset(&key, 0, sizeof(key));
	key.key_id = *key_id;
	key.hour = ak_hour_of(start);
	key.dboid = MyDatabaseId;
	if (len > 0)
		key.path_hash = hash_bytes((const unsigned char *) path, len) | 1;

	d.outcome = outcome;
	d.requests = 1;
	d.cost = outcome == AK_USAGE_ALLOWED ? cost : 0;
	d.duration_us = Max(duration_us, 0);
	d.latency_bucket = outcome == AK_USAGE_ALLOWED && duration_us >= 0
		? ak_latency_bucket(duration_us) : -1;
	d.at = start + d.duration_us;
	ak_usage_store_add(&key, path, &d);
}
