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
#include "worker/task.h"

/* What the counters task writes. */
typedef struct AkCountersWrite
{
	AkQuotaFlush *counters;
	int			n;
} AkCountersWrite;

/* What the last-use task writes, and what it did. */
typedef struct AkLastUseWrite
{
	pg_uuid_t  *ids;
	TimestampTz *at;
	bool	   *written;		/* false: the row was locked, try again */
	int			n;
} AkLastUseWrite;

extern void ak_write_counters(void *arg);
extern void ak_write_last_use(void *arg);

/* usage collected by the worker, not yet in usage_hourly */
typedef struct AkUsagePending AkUsagePending;

extern AkUsagePending *ak_usage_pending_create(MemoryContext cxt);
extern void ak_usage_harvest(AkUsagePending *pending);
extern void ak_usage_last_used(AkUsagePending *pending, AkLastUseWrite *w);
extern void ak_usage_last_use_written(AkUsagePending *pending,
									  const AkLastUseWrite *w);
extern void ak_write_usage(void *pending);
extern void ak_usage_written(AkUsagePending *pending, bool keys, bool hours);
extern bool ak_usage_is_empty(AkUsagePending *pending);

/* access events and quota alerts */
extern int	ak_events_collect(bool all);
extern void ak_write_events(void *arg);
extern void ak_events_written(void);

extern AkExtensionState ak_worker_flush(AkUsagePending *pending, bool final);

#endif							/* AK_FLUSH_H */
