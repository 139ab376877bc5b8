/*-------------------------------------------------------------------------
 *
 * record.c
 *	  What requests add to their keys' usage (store.c).
 *
 * A request's duration runs from check() to the end of its transaction
 * (commit or abort): the request is recorded then, under the endpoint
 * request.path, as PostgREST sets it, cut to AK_USAGE_PATH_LEN - 1 bytes.
 * consume() charges are recorded at once.  Nothing is recorded on a hot
 * standby, where no worker would write it.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "access/xlog.h"
#include "common/hashfn.h"
#include "core/clock.h"
#include "core/guc.h"
#include "core/request.h"
#include "core/xactevent.h"
#include "miscadmin.h"
#include "usage/record.h"
#include "usage/store.h"
#include "utils/timestamp.h"

#define AK_USAGE_PENDING_MAX	8	/* requests of one transaction */

/* A request of this transaction, recorded when it ends. */
typedef struct AkUsageRecord
{
	AkUsageKey	key;
	AkUsageOutcome outcome;
	int64		cost;
	TimestampTz start;
	char		path[AK_USAGE_PATH_LEN];
} AkUsageRecord;

static AkUsageRecord ak_usage_open[AK_USAGE_PENDING_MAX];
static int	ak_usage_nopen = 0;

/* Whether usage is recorded here: not on a standby, where nobody flushes it. */
static bool
ak_usage_enabled(void)
{
	return ak_track_usage && !RecoveryInProgress();
}

static void
ak_usage_key(AkUsageKey *key, const pg_uuid_t *key_id, TimestampTz at)
{
	memset(key, 0, sizeof(*key));
	key->key_id = *key_id;
	key->hour = ak_hour_of(at);
	key->dboid = MyDatabaseId;
}

static void
ak_usage_close(const AkUsageRecord *r, TimestampTz now)
{
	AkUsageDelta d;

	d.outcome = r->outcome;
	d.requests = 1;
	d.cost = r->cost;
	d.duration_us = now - r->start;
	d.latency_bucket = r->outcome == AK_USAGE_ALLOWED ? ak_latency_bucket(d.duration_us) : -1;
	d.at = now;
	ak_usage_store_add(&r->key, r->path, &d);
}

static void
ak_usage_close_all(void)
{
	TimestampTz now = GetCurrentTimestamp();

	for (int i = 0; i < ak_usage_nopen; i++)
		ak_usage_close(&ak_usage_open[i], now);
	ak_usage_nopen = 0;
}

/* Transaction end: this transaction's requests are recorded. */
void
ak_usage_at_xact_end(XactEvent event)
{
	if (!ak_xact_ends(event))
		return;
	if (ak_usage_nopen > 0)
		ak_usage_close_all();
	ak_usage_store_retry();		/* what found no room earlier, if any */
}

/*
 * check(): one request of a key, recorded when its transaction ends, with
 * its duration, under request.path when PostgREST set it.
 */
void
ak_usage_request(const pg_uuid_t *key_id, AkUsageOutcome outcome, int64 cost)
{
	AkUsageRecord *r;
	int			len;

	if (!ak_usage_enabled())
		return;
	if (ak_usage_nopen == AK_USAGE_PENDING_MAX)
		ak_usage_close_all();	/* a transaction of many requests */

	r = &ak_usage_open[ak_usage_nopen];
	r->start = GetCurrentTimestamp();
	ak_usage_key(&r->key, key_id, r->start);
	r->outcome = outcome;
	r->cost = outcome == AK_USAGE_ALLOWED ? cost : 0;
	len = ak_request_copy(r->path, sizeof(r->path), "request.path");
	if (len > 0)
		r->key.path_hash = hash_bytes((const unsigned char *) r->path, len) | 1;
	ak_usage_nopen++;
}

/*
 * consume(): cost units debited from a key at a time, recorded now;
 * negative for units refunded on rollback, billed to the same hour.
 */
void
ak_usage_charge(const pg_uuid_t *key_id, int64 cost, TimestampTz at)
{
	AkUsageKey	key;
	AkUsageDelta d;

	if (cost == 0 || !ak_usage_enabled())
		return;
	ak_usage_key(&key, key_id, at);
	d.outcome = AK_USAGE_ALLOWED;
	d.requests = 0;
	d.cost = cost;
	d.latency_bucket = -1;
	d.duration_us = 0;
	d.at = at;					/* also the key's last use */
	ak_usage_store_add(&key, "", &d);
}
