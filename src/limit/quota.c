/*-------------------------------------------------------------------------
 *
 * quota.c
 *	  Daily and monthly quotas (doc/apikey.md, "Quotas") on the request's
 *	  path: what a key's counter is debited, what a refusal reports, and
 *	  the 80% and 95% alerts.
 *
 * A key's counts live in a quota counter (quotastore.c) whose subject is
 * the key's lineage: every key of a rotation chain counts in one counter.
 * The worker writes counters that changed to apikey.quota_counters every
 * apikey.flush_interval, and at a clean shutdown; a counter that comes back
 * into shared memory -- after a restart, or after it left to make room --
 * starts from that row, so a crash loses at most one flush interval of
 * counts and a clean restart none.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "core/counters.h"
#include "auth/identity.h"
#include "auth/keycache.h"
#include "limit/quota.h"
#include "limit/quotaread.h"
#include "usage/events.h"

/* The names quotas have in headers: the columns that set them. */
static const char *const ak_quota_names[AK_NUM_PERIODS] = {
	[AK_DAY] = "daily_quota",
	[AK_MONTH] = "monthly_quota",
};

bool
ak_key_has_quota(const AkKeyInfo *key)
{
	return key->stored &&
		(key->quota[AK_DAY] >= 0 || key->quota[AK_MONTH] >= 0);
}

/*
 * Debits cost from a key's quotas, both or neither; the charge is what
 * ak_quota_undo, ak_quota_announce and ak_quota_report need later.
 */
AkDebit
ak_quota_debit(const AkKeyInfo *key, int64 cost, int64 now_us, bool pin,
			   AkQuotaCharge *charge)
{
	AkQuotaRequest *req = &charge->req;
	AkDebit		result;

	charge->cost = cost;
	charge->now_us = now_us;
	ak_periods_at(now_us, req->period);
	for (int p = 0; p < AK_NUM_PERIODS; p++)
		req->quota[p] = key->quota[p];
	result = ak_quota_counter_debit((const uint8 *) key->lineage.data, req, cost, pin,
									now_us, &charge->out, ak_key_quota_hint(key));
	charge->pinned = pin && result == AK_DEBIT_OK && cost > 0;
	if (result == AK_DEBIT_REJECTED)
		ak_count(AK_QUOTA_EXCEEDED);
	return result;
}

/* A later step refused the request: gives the units back, alerts unsent. */
void
ak_quota_undo(const AkKeyInfo *key, AkQuotaCharge *charge)
{
	if (charge->pinned)
		ak_quota_counter_unpin(*ak_key_quota_hint(key), charge->req.period,
							   charge->cost);
	else
		ak_quota_counter_refund((const uint8 *) key->lineage.data, charge->req.period,
								charge->cost, charge->out.crossed,
								ak_key_quota_hint(key));
	charge->pinned = false;
	memset(charge->out.crossed, 0, sizeof(charge->out.crossed));
}

/*
 * The request was admitted: queues the alerts its debit crossed.  The
 * counter remembers which were sent, so each goes once per period.
 */
void
ak_quota_announce(const AkKeyInfo *key, const AkQuotaCharge *charge)
{
	for (int p = 0; p < AK_NUM_PERIODS; p++)
		for (int i = 0; i < AK_NUM_ALERTS; i++)
			if (charge->out.crossed[p] & (1 << i))
				ak_event_quota_alert(&key->id, (AkPeriod) p, charge->req.period[p],
									 charge->out.used[p], charge->req.quota[p],
									 ak_alert_percent[i]);
}

/*
 * Describes a refusal by quota as a limit, for the result columns and the
 * headers: the quota, what is left of it, and its rollover -- of the later
 * period when both refused, as that is when a retry can pass.
 */
void
ak_quota_report(const AkQuotaCharge *charge, AkLimit *limit,
				AkLimitReport *report, int64 *retry_after_us)
{
	AkPeriod	p = charge->out.refused[AK_MONTH] ? AK_MONTH : AK_DAY;
	int32		period = charge->req.period[p];
	int64		until = ak_period_end_us(p, period) - charge->now_us;
	AkLimitOutcome *o = &report->outcome[0];

	memset(limit, 0, sizeof(*limit));
	strlcpy(limit->name, ak_quota_names[p], sizeof(limit->name));
	limit->limit = charge->req.quota[p];
	limit->burst = charge->req.quota[p];
	limit->period_us = ak_period_length_us(p, period);

	report->nlimits = 1;
	report->limits = limit;
	report->policy = NULL;
	report->restrictive = 0;
	o->remaining = Max(charge->req.quota[p] - charge->out.used[p], 0);
	o->full_in_us = until;
	o->retry_in_us = until;
	*retry_after_us = until;
}

/*
 * A key's quota counts, for apikey.key_list: live from its counter when it
 * is in shared memory, else as the worker last wrote them.  False when the
 * key has none, or is not the caller's to see.
 */
bool
ak_quota_counts_of(const pg_uuid_t *key_id, AkQuotaCounts *counts)
{
	const AkKeyInfo *key = ak_keycache_lookup_id(key_id);

	if (key == NULL || !key->stored || !ak_key_visible(key))
		return false;
	return ak_quota_counter_peek((const uint8 *) key->lineage.data, counts) ||
		ak_quota_counts_read((const uint8 *) key->lineage.data, counts);
}
