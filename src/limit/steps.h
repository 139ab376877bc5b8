/*-------------------------------------------------------------------------
 *
 * steps.h
 *	  What the limiter's steps share (limiter.c takes, look.c looks): what
 *	  a request took, how a decision is made, and the refusals every step
 *	  may answer.  Inline: they run on every check().
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_STEPS_H
#define AK_STEPS_H

#include "auth/anontier.h"
#include "core/counters.h"
#include "core/guc.h"
#include "limit/limiter.h"
#include "limit/quota.h"

/* What a request took at each step, to give back if a later one refuses. */
typedef struct AkTaken
{
	int64		cost;
	uint8		ip_subject[AK_SUBJECT_ID_LEN];
	bool		ip;
	bool		inflight;
	AkCell	   *slot;			/* the key's concurrency slot */
	AkCell	   *owner_slot;
	bool		quota;			/* the key's quota was debited (or looked at) */
	bool		owner_quota;
	bool		uses;
	bool		buckets;		/* the key's */
	bool		pin_quota;		/* keep the key's counter until the
								 * transaction ends (refund on rollback) */
	AkQuotaCharge quota_charge;
	AkQuotaCharge owner_quota_charge;
	AkQuotaCharge uses_charge;
} AkTaken;

static inline void
ak_decide(AkDecision *d, AkCode code, int64 retry_after_us)
{
	d->code = code;
	d->allowed = ak_code_status(code) == 200;
	d->retry_after_us = retry_after_us;
	d->usage = ak_codes[code].usage;
}

static inline void
ak_decision_init(AkDecision *d)
{
	d->key = NULL;
	d->anonymous = false;
	d->shadow_limited = false;
	ak_report_reset(&d->report);
	d->now_us = ak_now_us();
	d->retry_after_us = -1;
}

static inline void
ak_taken_init(AkTaken *t, int64 cost)
{
	t->cost = cost;
	t->ip = t->inflight = false;
	t->slot = t->owner_slot = NULL;
	t->quota = t->owner_quota = t->uses = t->buckets = false;
	t->pin_quota = false;
}

/*
 * A step found no room in the cell table: true to go on without it
 * (apikey.on_table_full = open), or false with the request refused.
 */
static inline bool
ak_table_full(AkDecision *d)
{
	if (ak_on_table_full == AK_TABLE_FULL_OPEN)
		return true;
	ak_count(AK_OVERLOADED);
	ak_decide(d, AK_CODE_OVERLOADED, USECS_PER_SEC);
	return false;
}

/* The Retry-After of a refusal by limits: when every one would admit. */
static inline int64
ak_retry_after(const AkLimitReport *r)
{
	int64		retry = 0;

	for (int i = 0; i < r->nlimits; i++)
		retry = Max(retry, r->outcome[i].retry_in_us);
	return retry;
}

/* The per-address limit of the settings, its horizon kept within bounds. */
static inline void
ak_ip_limit(AkLimit *limit)
{
	memset(limit, 0, sizeof(*limit));
	strcpy(limit->name, "ip");
	limit->limit = ak_ip_rate_limit;
	limit->period_us = (int64) ak_ip_rate_period * USECS_PER_SEC;
	limit->burst = Min(ak_ip_burst > 0 ? ak_ip_burst : ak_ip_rate_limit,
					   ak_limit_max_burst(limit->limit, limit->period_us));
}

/*
 * The requests in flight a priority may fill: apikey.max_inflight, less
 * the share apikey.inflight_reserve keeps from lower priorities -- all of
 * it from priority 0, a third of it from priority 2, rounded up, so that
 * any reserve keeps at least one slot for priority 3 alone.
 */
static inline int
ak_inflight_max(int priority)
{
	int64		reserve = ((int64) ak_max_inflight * ak_inflight_reserve + 99) / 100;
	int			levels = AK_MAX_PRIORITY - AK_MIN_PRIORITY;

	return ak_max_inflight -
		(int) ((reserve * (AK_MAX_PRIORITY - priority) + levels - 1) / levels);
}

static inline bool
ak_overloaded(AkDecision *d)
{
	ak_count(AK_OVERLOADED);
	ak_decide(d, AK_CODE_OVERLOADED, USECS_PER_SEC);
	return false;
}

static inline bool
ak_concurrency_limited(AkDecision *d)
{
	ak_count(AK_RATE_LIMITED);
	ak_decide(d, AK_CODE_CONCURRENCY_LIMITED, USECS_PER_SEC);
	return false;
}

static inline bool
ak_quota_refused(AkDecision *d, AkQuotaCharge *charge, int owner)
{
	ak_quota_report(charge, d->quota_limits[owner], owner ? AK_OWNER_PREFIX : NULL,
					true, &d->report);
	ak_decide(d, AK_CODE_QUOTA_EXCEEDED, ak_quota_retry_after(charge));
	return false;
}

static inline bool
ak_usage_exceeded(AkDecision *d)
{
	ak_count(AK_QUOTA_EXCEEDED);
	ak_decide(d, AK_CODE_USAGE_EXCEEDED, -1);
	return false;
}

/*
 * The subject of anonymous requests' buckets: the client address, else
 * one shared by every request without a key or an address.
 */
static inline void
ak_anon_subject(inet *client_ip, uint8 *subject)
{
	if (client_ip != NULL)
		ak_ip_subject_id(client_ip, subject);
	else
		ak_name_subject_id("anonymous", 9, subject);
}

extern void ak_validate_cost(int64 cost, const AkLimit *limits, int n,
							 const char *prefix);
extern void ak_look_key(const AkRequest *req, AkDecision *d);
extern void ak_look_anonymous(const AkRequest *req, AkDecision *d);

#endif							/* AK_STEPS_H */
