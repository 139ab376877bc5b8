/*-------------------------------------------------------------------------
 *
 * quotastore.h
 *	  Quota counters in the shared cell table, and the list of those the
 *	  worker has to write (quotastore.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_QUOTASTORE_H
#define AK_QUOTASTORE_H

#include "limit/cells.h"
#include "utils/uuid.h"

extern const int ak_alert_percent[AK_NUM_ALERTS];

/* A quota debit: what the caller knows about the key and the time. */
typedef struct AkQuotaRequest
{
	int32		period[AK_NUM_PERIODS];		/* the current day and month */
	int64		quota[AK_NUM_PERIODS];		/* -1: none */
	int32		seed_period[AK_NUM_PERIODS];	/* the key row's usage_day/month */
	int64		seed_used[AK_NUM_PERIODS];	/* and its daily/monthly_usage */
} AkQuotaRequest;

typedef struct AkQuotaOutcome
{
	int64		used[AK_NUM_PERIODS];	/* after the decision */
	bool		refused[AK_NUM_PERIODS];
	uint8		crossed[AK_NUM_PERIODS];	/* alerts this debit set: bit i is
											 * ak_alert_percent[i] */
	bool		queue;			/* the counter became dirty: queue it */
} AkQuotaOutcome;

/* A counter the worker writes to apikey.keys: to every key of its lineage. */
typedef struct AkQuotaFlush
{
	pg_uuid_t	lineage;		/* the counter's subject */
	int32		period[AK_NUM_PERIODS];
	int64		used[AK_NUM_PERIODS];
	AkCell	   *counter;
} AkQuotaFlush;

extern Size ak_quota_dirty_shmem_size(void);
extern void ak_quota_dirty_shmem_init(void);

extern AkDebit ak_quota_counter_debit(const uint8 *subject,
									  const AkQuotaRequest *req, int64 cost,
									  int64 now_us, AkQuotaOutcome *out,
									  void **hint);
extern void ak_quota_counter_refund(const uint8 *subject, const int32 *period,
									int64 cost, const uint8 *uncross,
									void **hint);
extern int	ak_quota_counters_collect(AkQuotaFlush **out);
extern void ak_quota_counters_flushed(const AkQuotaFlush *items, int n, bool ok);

#endif							/* AK_QUOTASTORE_H */
