/*-------------------------------------------------------------------------
 *
 * flush.h
 *	  The worker's flush: what the backends counted, written to tables
 *	  (flush.c, flush_keys.c, flush_usage.c, flush_events.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_FLUSH_H
#define AK_FLUSH_H

#include "limit/quotastore.h"

/* What the keys task writes: quota counts and last uses. */
typedef struct AkKeysWrite
{
	AkQuotaFlush *counters;
	int			ncounters;
	pg_uuid_t  *used_ids;
	TimestampTz *used_at;
	int			nused;
} AkKeysWrite;

extern void ak_write_keys(void *arg);
extern void ak_write_quota_counters(void *arg);

/* usage collected by the worker, not yet in usage_hourly */
typedef struct AkUsagePending AkUsagePending;

extern AkUsagePending *ak_usage_pending_create(MemoryContext cxt);
extern int64 ak_usage_harvest(AkUsagePending *pending, int64 now_us);
extern int	ak_usage_last_used(AkUsagePending *pending, pg_uuid_t **ids,
							   TimestampTz **times);
extern void ak_write_usage(void *pending);
extern void ak_usage_written(AkUsagePending *pending, bool keys, bool hours);
extern bool ak_usage_is_empty(AkUsagePending *pending);

/* access events and quota alerts */
extern int	ak_events_collect(void);
extern void ak_write_events(void *arg);
extern void ak_events_written(void);

extern void ak_worker_flush(AkUsagePending *pending);

#endif							/* AK_FLUSH_H */
