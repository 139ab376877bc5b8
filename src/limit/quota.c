/*-------------------------------------------------------------------------
 *
 * quota.c
 *	  Daily and monthly quotas (doc/apikey.md, "Quotas") on the request's
 *	  path: what a counter is debited, what a refusal reports, and the 80%
 *	  and 95% alerts.  A counter belongs to a key, to an owner (the quotas
 *	  of apikey.owner_limits, shared by the owner's keys), or to a key's
 *	  uses (max_uses: a count that never rolls over).
 *
 * Counts live in quota counters (quotastore.c); a key's counter is its
 * lineage's, so every key of a rotation chain counts in one.  The worker
 * writes the counters that changed to apikey.quota_counters every
 * apikey.flush_interval, and at a clean shutdown; a counter that comes back
 * into shared memory -- after a restart, or after it left to make room --
 * starts from that row, so a crash loses at most one flush interval of
 * counts and a clean restart none.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "auth/identity.h"
#include "auth/keycache.h"
#include "core/counters.h"
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

bool
ak_owner_has_quota(const AkOwnerLimits *owner)
{
	return owner->quota[AK_DAY] >= 0 || owner->quota[AK_MONTH] >= 0;
}

/*
 * Debits a counter, both quotas or neither, into charge (req filled); with
 * pin, an admitted debit keeps the counter in memory until the transaction
 * ends (refund.c).
 */
static AkDebit
ak_counter_debit(const uint8 *subject, void **hint, int64 cost, int64 now_us,
				 bool pin, AkQuotaCharge *charge)
{
	AkDebit		result;

	charge->subject = subject;
	charge->hint = hint;
	charge->cost = cost;
	charge->now_us = now_us;
	result = ak_quota_counter_debit(subject, &charge->req, cost, pin, now_us,
									&charge->out, hint);
	charge->pinned = pin && result == AK_DEBIT_OK && cost > 0;
	return result;
}

/* The request of a counter of the current day and month. */
static void
ak_quota_request(AkQuotaRequest *req, const int64 *quota, int64 now_us)
{
	ak_periods_at(now_us, req->period);
	for (int p = 0; p < AK_NUM_PERIODS; p++)
		req->quota[p] = quota[p];
}

/*
 * Debits cost from a key's quotas, both or neither; the charge is what
 * ak_quota_undo, ak_quota_announce and ak_quota_report need later.
 */
AkDebit
ak_quota_debit(const AkKeyInfo *key, int64 cost, int64 now_us, bool pin,
			   AkQuotaCharge *charge)
{
	AkDebit		result;

	ak_quota_request(&charge->req, key->quota, now_us);
	result = ak_counter_debit((const uint8 *) key->lineage.data, ak_key_quota_hint(key),
							  cost, now_us, pin, charge);
	if (result == AK_DEBIT_REJECTED)
		ak_count(AK_QUOTA_EXCEEDED);
	return result;
}

/* The same for the quotas an owner's keys share. */
AkDebit
ak_owner_quota_debit(const AkOwnerLimits *owner, int64 cost, int64 now_us,
					 bool pin, AkQuotaCharge *charge)
{
	AkDebit		result;

	ak_quota_request(&charge->req, owner->quota, now_us);
	result = ak_counter_debit((const uint8 *) owner->id.data,
							  ak_owner_quota_hint(owner), cost, now_us, pin, charge);
	if (result == AK_DEBIT_REJECTED)
		ak_count(AK_QUOTA_EXCEEDED);
	return result;
}

/*
 * Counts cost uses of a key with max_uses: a counter whose period never
 * ends, under a subject of its own (core/subject.h), written and read back
 * as any counter.
 */
AkDebit
ak_uses_debit(const AkKeyInfo *key, int64 cost, int64 now_us,
			  AkQuotaCharge *charge)
{
	AkQuotaRequest *req = &charge->req;

	ak_uses_subject(key->id.data, charge->uses_subject);
	req->period[AK_DAY] = AK_USES_PERIOD_DAY;
	req->period[AK_MONTH] = AK_USES_PERIOD_MONTH;
	req->quota[AK_DAY] = key->max_uses;
	req->quota[AK_MONTH] = -1;
	return ak_counter_debit(charge->uses_subject, ak_key_uses_hint(key), cost,
							now_us, false, charge);
}

/*
 * After a debit of cost 0 (a look): whether a request of cost 1 would be
 * refused, with out.refused set as if it had been.
 */
bool
ak_quota_peek_refuses(AkQuotaCharge *charge)
{
	bool		refused = false;

	for (int p = 0; p < AK_NUM_PERIODS; p++)
	{
		charge->out.refused[p] = charge->req.quota[p] >= 0 &&
			charge->out.used[p] >= charge->req.quota[p];
		refused |= charge->out.refused[p];
	}
	return refused;
}

/* A later step refused the request: gives the units back, alerts unsent. */
void
ak_quota_undo(AkQuotaCharge *charge)
{
	if (charge->pinned)
		ak_quota_counter_unpin(*charge->hint, charge->req.period, charge->cost);
	else
		ak_quota_counter_refund(charge->subject, charge->req.period, charge->cost,
								charge->out.crossed, charge->hint);
	charge->pinned = false;
	memset(charge->out.crossed, 0, sizeof(charge->out.crossed));
}

/*
 * The request was admitted: queues the alerts its debit of a key's quotas
 * crossed.  The counter remembers which were sent, so each goes once per
 * period.
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
 * Reports a counter's quotas as limits, for the result columns and the
 * headers (storage: room for AK_NUM_PERIODS limits): the quota, what is
 * left of it, and its rollover.  refused_only: only the quotas that
 * refused the request.
 */
void
ak_quota_report(const AkQuotaCharge *charge, AkLimit *storage,
				const char *prefix, bool refused_only, AkLimitReport *report)
{
	for (int p = 0; p < AK_NUM_PERIODS; p++)
	{
		int32		period = charge->req.period[p];
		int64		quota = charge->req.quota[p];
		int64		length = ak_period_length_us(p, period);
		AkLimit    *limit = &storage[p];
		AkLimitOutcome *o;

		if (quota < 0 || (refused_only && !charge->out.refused[p]))
			continue;
		memset(limit, 0, sizeof(*limit));
		strlcpy(limit->name, ak_quota_names[p], sizeof(limit->name));
		limit->limit = limit->burst = quota;
		limit->period_us = length;
		o = ak_report_add(report, limit, 1, prefix, NULL);
		report->window_s[report->nlimits - 1] = ak_seconds_ceil(length);
		o->remaining = Max(quota - charge->out.used[p], 0);
		o->full_in_us = ak_period_end_us(p, period) - charge->now_us;
		o->retry_in_us = charge->out.refused[p] ? o->full_in_us : 0;
	}
}

/*
 * When a refused request could pass: at the end of the later period that
 * refused it.
 */
int64
ak_quota_retry_after(const AkQuotaCharge *charge)
{
	AkPeriod	p = charge->out.refused[AK_MONTH] ? AK_MONTH : AK_DAY;

	return ak_period_end_us(p, charge->req.period[p]) - charge->now_us;
}

/* The uses a key has left after a debit of its uses counter. */
int64
ak_uses_left(const AkQuotaCharge *charge)
{
	return Max(charge->req.quota[AK_DAY] - charge->out.used[AK_DAY], 0);
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
