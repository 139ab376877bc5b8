/*-------------------------------------------------------------------------
 *
 * store.h
 *	  Usage per (database, key, hour, endpoint) in shared memory, waiting
 *	  for the worker (store.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_USAGE_STORE_H
#define AK_USAGE_STORE_H

#include "core/codes.h"
#include "datatype/timestamp.h"
#include "usage/latency.h"
#include "utils/uuid.h"

#define AK_USAGE_PATH_LEN	64

typedef struct AkUsageKey
{
	pg_uuid_t	key_id;
	int64		hour;			/* hours since 2000-01-01 00:00 UTC */
	Oid			dboid;
	uint32		path_hash;		/* 0: no endpoint */
} AkUsageKey;

typedef struct AkUsageCounts
{
	int64		requests;
	int64		allowed;
	int64		rate_limited;
	int64		quota_exceeded;
	int64		denied_auth;
	int64		cost_units;
	int64		latency_us;		/* the sum of the durations counted below */
	TimestampTz last_used;
	uint32		latency[AK_LATENCY_BUCKETS];
} AkUsageCounts;

/* What one request or charge adds to a key's usage. */
typedef struct AkUsageDelta
{
	AkUsageOutcome outcome;
	int64		requests;		/* 1 for a request, 0 for a charge */
	int64		cost;
	int			latency_bucket; /* -1: no duration */
	int64		duration_us;
	TimestampTz at;
} AkUsageDelta;

extern void ak_usage_store_request(void);
extern void ak_usage_store_attach(void);

extern void ak_usage_store_add(const AkUsageKey *key, const char *path,
							   const AkUsageDelta *delta);
extern void ak_usage_store_retry(void);

typedef void (*AkUsageDrainFn) (const AkUsageKey *key, const char *path,
								const AkUsageCounts *counts, void *arg);
extern bool ak_usage_store_checkpoint_wanted(int64 since_us);
extern void ak_usage_store_drain(Oid dboid, AkUsageDrainFn fn, void *arg);
extern void ak_usage_store_peek(Oid dboid, AkUsageDrainFn fn, void *arg);
extern int64 ak_usage_store_count(void);

extern bool ak_usage_counts_empty(const AkUsageCounts *c);
extern void ak_usage_counts_merge(AkUsageCounts *into, const AkUsageCounts *c);

#endif							/* AK_USAGE_STORE_H */
