/*-------------------------------------------------------------------------
 *
 * quota.h
 *	  A key's daily and monthly quotas on the request's path (quota.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_QUOTA_H
#define AK_QUOTA_H

#include "auth/keyinfo.h"
#include "limit/headers.h"
#include "limit/quotastore.h"

/* One debit of a key's quotas, kept to undo or report it. */
typedef struct AkQuotaCharge
{
	AkQuotaRequest req;
	AkQuotaOutcome out;
	int64		cost;
	int64		now_us;
	bool		pinned;			/* the counter stays until unpinned */
} AkQuotaCharge;

extern bool ak_key_has_quota(const AkKeyInfo *key);
extern AkDebit ak_quota_debit(const AkKeyInfo *key, int64 cost, int64 now_us,
							  bool pin, AkQuotaCharge *charge);
extern void ak_quota_undo(const AkKeyInfo *key, AkQuotaCharge *charge);
extern void ak_quota_announce(const AkKeyInfo *key, const AkQuotaCharge *charge);
extern bool ak_quota_counts_of(const pg_uuid_t *key_id, AkQuotaCounts *counts);
extern void ak_quota_report(const AkQuotaCharge *charge, AkLimit *limit,
							AkLimitReport *report, int64 *retry_after_us);

#endif							/* AK_QUOTA_H */
