/*-------------------------------------------------------------------------
 *
 * quotastore.h
 *	  Quota counters in shared memory, read from and written to
 *	  apikey.quota_counters, and the list of those the worker has to write
 *	  (quotastore.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_QUOTASTORE_H
#define AK_QUOTASTORE_H

#include "limit/cells.h"
#include "utils/uuid.h"

/* Alert thresholds, in percent of a quota: each announced once per period. */
#define AK_NUM_ALERTS		2

extern const int ak_alert_percent[AK_NUM_ALERTS];

/* A quota debit: what the caller knows about the key and the time. */
typedef struct AkQuotaRequest
{
	int32		period[AK_NUM_PERIODS];		/* the current day and month */
	int64		quota[AK_NUM_PERIODS];		/* -1: none */
} AkQuotaRequest;

typedef struct AkQuotaOutcome
{
	int64		used[AK_NUM_PERIODS];	/* after the decision */
	bool		refused[AK_NUM_PERIODS];
	uint8		crossed[AK_NUM_PERIODS];	/* alerts this debit set: bit i is
											 * ak_alert_percent[i] */
	bool		queue;			/* the counter became dirty: queue it */
} AkQuotaOutcome;

/* A counter's counts as apikey.quota_counters keeps them. */
typedef struct AkQuotaCounts
{
	int32		period[AK_NUM_PERIODS];
	int64		used[AK_NUM_PERIODS];
} AkQuotaCounts;

/* A counter the worker writes to apikey.quota_counters. */
typedef struct AkQuotaFlush
{
	pg_uuid_t	subject;
	AkQuotaCounts counts;
	void	   *counter;
} AkQuotaFlush;

extern void ak_quota_store_request(void);
extern void ak_quota_store_attach(void);

extern AkDebit ak_quota_counter_debit(const uint8 *subject,
									  const AkQuotaRequest *req, int64 cost,
									  bool pin, int64 now_us,
									  AkQuotaOutcome *out, void **hint);
extern void ak_quota_counter_refund(const uint8 *subject, const int32 *period,
									int64 cost, const uint8 *uncross,
									void **hint);
extern void ak_quota_counter_unpin(void *hint, const int32 *period, int64 refund);
extern bool ak_quota_counter_peek(const uint8 *subject, AkQuotaCounts *counts);

extern int	ak_quota_counters_collect(Oid dboid, AkQuotaFlush **out);
extern void ak_quota_counters_flushed(const AkQuotaFlush *items, int n, bool ok);
extern int64 ak_quota_counters_count(void);

#endif							/* AK_QUOTASTORE_H */
