/*-------------------------------------------------------------------------
 *
 * quota.h
 *	  Daily and monthly quotas -- a key's, its owner's -- and a key's uses,
 *	  on the request's path (quota.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_QUOTA_H
#define AK_QUOTA_H

#include "auth/keyinfo.h"
#include "limit/headers.h"
#include "limit/quotastore.h"

/* One debit of a counter's quotas, kept to undo or report it. */
typedef struct AkQuotaCharge
{
	const uint8 *subject;		/* whose counter: a key, an owner, uses */
	uint8		uses_subject[AK_SUBJECT_ID_LEN];	/* subject, for uses */
	void	  **hint;
	AkQuotaRequest req;
	AkQuotaOutcome out;
	int64		cost;
	int64		now_us;
	bool		pinned;			/* the counter stays until unpinned */
} AkQuotaCharge;

extern bool ak_key_has_quota(const AkKeyInfo *key);
extern bool ak_owner_has_quota(const AkOwnerLimits *owner);
extern AkDebit ak_quota_debit(const AkKeyInfo *key, int64 cost, int64 now_us,
							  bool pin, AkQuotaCharge *charge);
extern AkDebit ak_owner_quota_debit(const AkOwnerLimits *owner, int64 cost,
									int64 now_us, bool pin, AkQuotaCharge *charge);
extern AkDebit ak_uses_debit(const AkKeyInfo *key, int64 cost, int64 now_us,
							 AkQuotaCharge *charge);
extern bool ak_quota_peek_refuses(AkQuotaCharge *charge);
extern void ak_quota_undo(AkQuotaCharge *charge);
extern void ak_quota_announce(const AkKeyInfo *key, const AkQuotaCharge *charge);
extern void ak_quota_report(const AkQuotaCharge *charge, AkLimit *storage,
							const char *prefix, bool refused_only,
							AkLimitReport *report);
extern int64 ak_quota_retry_after(const AkQuotaCharge *charge);
extern int64 ak_uses_left(const AkQuotaCharge *charge);
extern bool ak_quota_counts_of(const pg_uuid_t *key_id, AkQuotaCounts *counts);

#endif							/* AK_QUOTA_H */
