/*-------------------------------------------------------------------------
 *
 * look.c
 *	  check(cost => 0): every step of a request looks and takes nothing
 *	  (doc/apikey.md, "check()").  Each answers whether a request of cost 1
 *	  would pass, with the refusal it would get -- QUOTA_EXCEEDED for a
 *	  spent quota, RATE_LIMITED with the time until a token, and so on --
 *	  so that a client can look before it asks.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "limit/buckets.h"
#include "limit/slots.h"
#include "limit/steps.h"

/*
 * How long until a bucket that a look found has one token: from its time
 * to fill, less the time the other burst - 1 tokens take.
 */
static int64
ak_one_token_in_us(const AkLimit *limit, const AkLimitOutcome *o)
{
	int64		rest = (int64) ((int128) (limit->burst - 1) * limit->period_us / limit->limit);

	return o->remaining >= 1 ? 0 : Max(o->full_in_us - rest, 1);
}

/* Looks at a list of buckets; false (decided) when one has no token. */
static bool
ak_look_step(AkDecision *d, AkCellKind kind, const uint8 *subject,
			 const AkLimit *limits, int n, const char *prefix, const char *policy)
{
	AkLimitReport *r = &d->report;
	AkLimitOutcome *out = ak_report_add(r, limits, n, prefix, policy);
	bool		refused = false;

	ak_bucket_peek(kind, subject, limits, n, d->now_us, out);
	for (int i = 0; i < n; i++)
	{
		out[i].retry_in_us = ak_one_token_in_us(&limits[i], &out[i]);
		refused |= out[i].retry_in_us > 0;
	}
	if (!refused)
		return true;
	ak_report_keep_last(r, n, prefix == NULL ? policy : NULL);
	ak_decide(d, AK_CODE_RATE_LIMITED, ak_retry_after(r));
	return false;
}

static bool
ak_look_ip(AkDecision *d, inet *client_ip)
{
	uint8		subject[AK_SUBJECT_ID_LEN];

	if (client_ip == NULL || ak_ip_rate_limit <= 0)
		return true;
	ak_ip_limit(&d->ip_limit);
	ak_ip_subject_id(client_ip, subject);
	if (!ak_look_step(d, AK_CELL_IP, subject, &d->ip_limit, 1, NULL, NULL))
		return false;
	ak_report_drop(&d->report, 1);
	return true;
}

static bool
ak_look_inflight(AkDecision *d, int priority)
{
	return ak_max_inflight <= 0 ||
		ak_inflight_in_use() < ak_inflight_max(priority) ||
		ak_overloaded(d);
}

static bool
ak_look_concurrency(AkDecision *d, const AkKeyInfo *key)
{
	const AkOwnerLimits *owner = key->owner_limits;

	if (key->max_concurrency > 0 &&
		ak_slot_in_use((const uint8 *) key->lineage.data) >= key->max_concurrency)
		return ak_concurrency_limited(d);
	if (owner != NULL && owner->max_concurrency > 0 &&
		ak_slot_in_use((const uint8 *) owner->id.data) >= owner->max_concurrency)
		return ak_concurrency_limited(d);
	return true;
}

/* A quota debit of 0, and whether a request of cost 1 would pass. */
static bool
ak_look_quota(AkDecision *d, AkDebit result, AkQuotaCharge *charge, int owner,
			  bool *looked)
{
	*looked = (result != AK_DEBIT_NO_ROOM);
	if (*looked && ak_quota_peek_refuses(charge))
	{
		*looked = false;
		return ak_quota_refused(d, charge, owner);
	}
	return true;
}

static bool
ak_look_quotas(AkDecision *d, const AkKeyInfo *key, AkTaken *t)
{
	const AkOwnerLimits *owner = key->owner_limits;

	if (ak_key_has_quota(key) &&
		!ak_look_quota(d, ak_quota_debit(key, 0, d->now_us, false, &t->quota_charge),
					   &t->quota_charge, 0, &t->quota))
		return false;
	if (owner != NULL && ak_owner_has_quota(owner) &&
		!ak_look_quota(d, ak_owner_quota_debit(owner, 0, d->now_us, false,
											   &t->owner_quota_charge),
					   &t->owner_quota_charge, 1, &t->owner_quota))
		return false;
	return true;
}

static bool
ak_look_uses(AkDecision *d, const AkKeyInfo *key, AkTaken *t)
{
	if (key->max_uses < 0 ||
		ak_uses_debit(key, 0, d->now_us, &t->uses_charge) == AK_DEBIT_NO_ROOM ||
		!ak_quota_peek_refuses(&t->uses_charge))
		return true;
	return ak_usage_exceeded(d);
}

static bool
ak_look_buckets(AkDecision *d, const AkKeyInfo *key)
{
	const AkOwnerLimits *owner = key->owner_limits;

	if (key->nenforced > 0 &&
		!ak_look_step(d, AK_CELL_KEY_LIMIT, (const uint8 *) key->lineage.data,
					  key->limits, key->nenforced, NULL, key->policy_header))
		return false;
	if (owner != NULL && owner->nenforced > 0 &&
		!ak_look_step(d, AK_CELL_OWNER_LIMIT, (const uint8 *) owner->id.data,
					  owner->limits, owner->nenforced, AK_OWNER_PREFIX, NULL))
		return false;
	return true;
}

static bool
ak_look_anon_buckets(AkDecision *d, inet *client_ip)
{
	const AkAnonTier *tier = ak_anonymous_tier();
	uint8		subject[AK_SUBJECT_ID_LEN];

	if (!tier->enabled || tier->nenforced == 0)
		return true;
	ak_anon_subject(client_ip, subject);
	return ak_look_step(d, AK_CELL_ANON_LIMIT, subject, tier->limits,
						tier->nenforced, NULL, tier->policy_header);
}

/* The key's and its owner's quotas, as they stand, after the buckets. */
static void
ak_look_report_quotas(AkDecision *d, AkTaken *t)
{
	if (t->quota)
		ak_quota_report(&t->quota_charge, d->quota_limits[0], NULL, false, &d->report);
	if (t->owner_quota)
		ak_quota_report(&t->owner_quota_charge, d->quota_limits[1], AK_OWNER_PREFIX,
						false, &d->report);
}

/* A verified key's request of cost 0: d is decided OK until a step refuses. */
void
ak_look_key(const AkRequest *req, AkDecision *d)
{
	const AkKeyInfo *key = d->key;
	AkTaken		t;

	ak_taken_init(&t, 0);
	if (ak_look_ip(d, req->client_ip) &&
		ak_look_inflight(d, key->priority) &&
		ak_look_concurrency(d, key) &&
		ak_look_quotas(d, key, &t) &&
		ak_look_uses(d, key, &t) &&
		ak_look_buckets(d, key))
		ak_look_report_quotas(d, &t);
}

/* An anonymous request of cost 0. */
void
ak_look_anonymous(const AkRequest *req, AkDecision *d)
{
	(void) (ak_look_ip(d, req->client_ip) &&
			ak_look_inflight(d, AK_MIN_PRIORITY) &&
			ak_look_anon_buckets(d, req->client_ip));
}
