/*-------------------------------------------------------------------------
 *
 * limiter.c
 *	  check(), consume() and throttle(): the order of the steps (steps.c),
 *	  what a refusal gives back, and the slots an admitted request holds.
 *
 * check() decides in this order (doc/apikey.md, "check()"):
 *	  1. verification (admission.c): the address blocks, the token, the
 *		 blocks of the key's owner and the abuse cooldowns;
 *	  2. the bucket of the client address, when client_ip is given and
 *		 apikey.ip_rate_limit > 0;
 *	  3. the server-wide limit of requests in flight, apikey.max_inflight,
 *		 less the share apikey.inflight_reserve keeps from lower priorities;
 *	  4. the concurrency limits: the key's, its owner's;
 *	  5. the daily and monthly quotas: the key's, its owner's;
 *	  6. the key's uses, max_uses;
 *	  7. the enforced buckets: the key's all together, then its owner's;
 *	  8. admitted: the shadow limits, which never refuse.
 * A request refused at a step has nothing debited at any step: the steps
 * before it are given back.  A request of cost 0 only looks: every step
 * answers whether a request of cost 1 would pass, and nothing is taken.
 *
 * A request without a key is anonymous: on a public endpoint, or where it
 * needs no scope when apikey.anonymous_tier is set, it gets the address
 * blocks, the address's bucket, the in-flight limit at the lowest
 * priority and the anonymous tier's buckets, per address.
 *
 * A key's buckets, concurrency counter and quota counter are its lineage's:
 * a rotated key shares its predecessor's.  An admitted check() holds one
 * in-flight slot (and one concurrency slot of its key, and of its owner)
 * until its transaction ends, or for an application's request until
 * finish() (held.c).  Quota alerts are queued only once the request is
 * admitted.
 *
 * Nothing here writes to a table, so all of it works in a read-only
 * transaction and on a hot standby.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "auth/anontier.h"
#include "auth/identity.h"
#include "auth/keycache.h"
#include "auth/verify.h"
#include "core/counters.h"
#include "limit/blocklist.h"
#include "limit/held.h"
#include "limit/named.h"
#include "limit/refund.h"
#include "limit/buckets.h"
#include "limit/slots.h"
#include "limit/steps.h"
#include "usage/record.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"


/* ---- the steps that take ---- */

/* A cost that no bucket of these limits can ever hold is a caller's error. */
void
ak_validate_cost(int64 cost, const AkLimit *limits, int n, const char *prefix)
{
	if (cost < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid cost: it must not be negative")));
	for (int i = 0; i < n; i++)
		if (cost > limits[i].burst)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid cost: " INT64_FORMAT " is more than limit \"%s%s\" can ever hold",
							cost, prefix ? prefix : "", limits[i].name),
					 errdetail("Its burst is " INT64_FORMAT ".", limits[i].burst)));
}

/*
 * What a debit of the n limits last added to the report came to: true to
 * go on, or false (with d decided) when the request must stop here.
 */
static bool
ak_debit_outcome(AkDecision *d, AkDebit result, int n, const char *prefix,
				 const char *policy)
{
	AkLimitReport *r = &d->report;

	switch (result)
	{
		case AK_DEBIT_OK:
			return true;
		case AK_DEBIT_REJECTED:
			ak_report_keep_last(r, n, prefix == NULL ? policy : NULL);
			ak_count(AK_RATE_LIMITED);
			ak_decide(d, AK_CODE_RATE_LIMITED, ak_retry_after(r));
			return false;
		case AK_DEBIT_NO_ROOM:
			ak_report_drop(r, n);
			return ak_table_full(d);
	}
	return false;				/* keep compiler quiet */
}

/*
 * Debits a list of limits into the report; returns false (with d decided)
 * when the request must stop here.  *debited tells whether anything was
 * taken (a full table with on_table_full = open takes nothing).  prefix and
 * policy: how the list is reported.  hints: see ak_bucket_debit.
 */
static bool
ak_debit_step(AkDecision *d, AkCellKind kind, const uint8 *subject,
			  const AkLimit *limits, int n, const char *prefix,
			  const char *policy, int64 cost, bool *debited, void **hints)
{
	AkLimitOutcome *out = ak_report_add(&d->report, limits, n, prefix, policy);
	AkDebit		result;

	result = ak_bucket_debit(kind, subject, limits, n, cost, d->now_us, out, hints);
	*debited = (result == AK_DEBIT_OK);
	return ak_debit_outcome(d, result, n, prefix, policy);
}

/* A throttle()'s bucket, private to the caller's role (named.c). */
static bool
ak_debit_named(AkDecision *d, text *name, int64 cost)
{
	AkLimitOutcome *out = ak_report_add(&d->report, &d->named_limit, 1, NULL, NULL);

	return ak_debit_outcome(d, ak_named_debit(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name),
											  &d->named_limit, cost, d->now_us, out),
							1, NULL, NULL);
}

/* The client address's bucket, when apikey.ip_rate_limit is set. */
static bool
ak_step_ip(AkDecision *d, inet *client_ip, AkTaken *t)
{
	if (client_ip == NULL || ak_ip_rate_limit <= 0)
		return true;
	ak_ip_limit(&d->ip_limit);
	ak_ip_subject_id(client_ip, t->ip_subject);
	if (!ak_debit_step(d, AK_CELL_IP, t->ip_subject, &d->ip_limit, 1, NULL, NULL,
					   Min(t->cost, d->ip_limit.burst), &t->ip, NULL))
		return false;
	ak_report_drop(&d->report, 1);	/* reported only when it refuses */
	return true;
}

/* The server-wide limit of requests in flight, by priority. */
static bool
ak_step_inflight(AkDecision *d, int priority, AkTaken *t)
{
	if (ak_max_inflight <= 0)
		return true;
	ak_held_prepare();
	t->inflight = ak_inflight_acquire(ak_inflight_max(priority));
	return t->inflight || ak_overloaded(d);
}

/* One of max slots of a subject, into *slot. */
static bool
ak_take_slot(AkDecision *d, const uint8 *subject, int32 max, AkCell **slot)
{
	AkDebit		taken;

	ak_held_prepare();
	taken = ak_slot_acquire(subject, max, slot);

	if (taken != AK_DEBIT_OK)
		*slot = NULL;
	if (taken == AK_DEBIT_REJECTED)
		return ak_concurrency_limited(d);
	return taken == AK_DEBIT_OK || ak_table_full(d);
}

/* The key's concurrency limit, then its owner's. */
static bool
ak_step_concurrency(AkDecision *d, const AkKeyInfo *key, AkTaken *t)
{
	const AkOwnerLimits *owner = key->owner_limits;

	if (key->max_concurrency > 0 &&
		!ak_take_slot(d, (const uint8 *) key->lineage.data, key->max_concurrency, &t->slot))
		return false;
	if (owner != NULL && owner->max_concurrency > 0 &&
		!ak_take_slot(d, (const uint8 *) owner->id.data, owner->max_concurrency,
					  &t->owner_slot))
		return false;
	return true;
}

/* The outcome of a quota debit: false (decided) when the request stops. */
static bool
ak_quota_result(AkDecision *d, AkDebit result, AkQuotaCharge *charge,
				int owner, bool *debited)
{
	*debited = (result == AK_DEBIT_OK);
	switch (result)
	{
		case AK_DEBIT_OK:
			return true;
		case AK_DEBIT_REJECTED:
			return ak_quota_refused(d, charge, owner);
		case AK_DEBIT_NO_ROOM:
			return ak_table_full(d);
	}
	return false;				/* keep compiler quiet */
}

/* The key's daily and monthly quotas, then its owner's. */
static bool
ak_step_quotas(AkDecision *d, const AkKeyInfo *key, AkTaken *t)
{
	const AkOwnerLimits *owner = key->owner_limits;

	if (ak_key_has_quota(key) &&
		!ak_quota_result(d, ak_quota_debit(key, t->cost, d->now_us, t->pin_quota,
										   &t->quota_charge),
						 &t->quota_charge, 0, &t->quota))
		return false;
	if (owner != NULL && ak_owner_has_quota(owner) &&
		!ak_quota_result(d, ak_owner_quota_debit(owner, t->cost, d->now_us, t->pin_quota,
												 &t->owner_quota_charge),
						 &t->owner_quota_charge, 1, &t->owner_quota))
		return false;
	return true;
}

/* One use of a key with max_uses. */
static bool
ak_step_uses(AkDecision *d, const AkKeyInfo *key, AkTaken *t)
{
	AkDebit		result;

	if (key->max_uses < 0)
		return true;
	result = ak_uses_debit(key, 1, d->now_us, &t->uses_charge);
	t->uses = (result == AK_DEBIT_OK);
	if (result == AK_DEBIT_REJECTED)
		return ak_usage_exceeded(d);
	return t->uses || ak_table_full(d);
}

/* The key's enforced buckets, all together, then its owner's. */
static bool
ak_step_buckets(AkDecision *d, const AkKeyInfo *key, AkTaken *t)
{
	const AkOwnerLimits *owner = key->owner_limits;
	bool		debited;

	if (key->nenforced > 0 &&
		!ak_debit_step(d, AK_CELL_KEY_LIMIT, (const uint8 *) key->lineage.data,
					   key->limits, key->nenforced, NULL, key->policy_header,
					   t->cost, &t->buckets, key->cell_hints))
		return false;
	if (unlikely(owner != NULL) && owner->nenforced > 0)
	{
		if (!ak_debit_step(d, AK_CELL_OWNER_LIMIT, (const uint8 *) owner->id.data,
						   owner->limits, owner->nenforced, AK_OWNER_PREFIX,
						   NULL, t->cost, &debited, owner->cell_hints))
			return false;
		/* both lists, as they were computed once when the key was cached */
		if (d->report.nlimits == key->nenforced + owner->nenforced)
			d->report.policy = owner->policy_header;
	}
	return true;
}

/* A request without a key: the anonymous tier's buckets, per address. */
static bool
ak_step_anon_buckets(AkDecision *d, inet *client_ip, AkTaken *t)
{
	const AkAnonTier *tier = ak_anonymous_tier();
	uint8		subject[AK_SUBJECT_ID_LEN];
	bool		debited;

	if (!tier->enabled || tier->nenforced == 0)
		return true;
	ak_anon_subject(client_ip, subject);
	return ak_debit_step(d, AK_CELL_ANON_LIMIT, subject, tier->limits,
						 tier->nenforced, NULL, tier->policy_header, t->cost,
						 &debited, NULL);
}

/*
 * Debits a subject's shadow limits (n may be 0): true when they would have
 * refused.  They take their tokens when they have them, and never refuse.
 */
static bool
ak_shadow_debit(AkCellKind kind, const uint8 *subject, const AkLimit *limits,
				int n, int64 cost, int64 now_us, void **hints)
{
	AkLimitOutcome out[AK_MAX_LIMITS];

	return n > 0 &&
		ak_bucket_debit(kind, subject, limits, n, cost, now_us, out, hints) == AK_DEBIT_REJECTED;
}

/* Counts an admitted request that a shadow limit would have refused. */
static void
ak_note_shadow_limited(AkDecision *d, bool refused)
{
	if (refused)
	{
		d->shadow_limited = true;
		ak_count(AK_SHADOW_LIMITED);
	}
}

/*
 * The shadow limits of an admitted request, the key's and its owner's:
 * debited when they have the tokens, and counted when they would have
 * refused -- never refusing, never reported in headers.
 */
static void
ak_step_shadow(AkDecision *d, const AkKeyInfo *key, int64 cost)
{
	const AkOwnerLimits *owner = key->owner_limits;
	bool		refused;

	refused = ak_shadow_debit(AK_CELL_KEY_LIMIT, (const uint8 *) key->lineage.data,
							  key->limits + key->nenforced, key->nlimits - key->nenforced,
							  cost, d->now_us, key->cell_hints + key->nenforced);
	if (owner != NULL)
		refused |= ak_shadow_debit(AK_CELL_OWNER_LIMIT, (const uint8 *) owner->id.data,
								   owner->limits + owner->nenforced,
								   owner->nlimits - owner->nenforced, cost, d->now_us,
								   owner->cell_hints + owner->nenforced);
	ak_note_shadow_limited(d, refused);
}

/* The anonymous tier's shadow limits, per address, once admitted. */
static void
ak_step_anon_shadow(AkDecision *d, inet *client_ip, int64 cost)
{
	const AkAnonTier *tier = ak_anonymous_tier();
	uint8		subject[AK_SUBJECT_ID_LEN];

	if (!tier->enabled || tier->nlimits == tier->nenforced)
		return;
	ak_anon_subject(client_ip, subject);
	ak_note_shadow_limited(d, ak_shadow_debit(AK_CELL_ANON_LIMIT, subject,
											  tier->limits + tier->nenforced,
											  tier->nlimits - tier->nenforced,
											  cost, d->now_us, NULL));
}

/* A later step refused: everything taken before it goes back. */
static void
ak_give_back(AkDecision *d, AkTaken *t)
{
	const AkKeyInfo *key = d->key;

	if (t->buckets)
		ak_bucket_refund(AK_CELL_KEY_LIMIT, (const uint8 *) key->lineage.data,
						 key->limits, key->nenforced, t->cost);
	if (t->uses)
		ak_quota_undo(&t->uses_charge);
	if (t->owner_quota)
		ak_quota_undo(&t->owner_quota_charge);
	if (t->quota)
		ak_quota_undo(&t->quota_charge);
	if (t->owner_slot)
		ak_slot_release(t->owner_slot);
	if (t->slot)
		ak_slot_release(t->slot);
	if (t->inflight)
		ak_inflight_release();
	if (t->ip)
		ak_bucket_refund(AK_CELL_IP, t->ip_subject, &d->ip_limit, 1,
						 Min(t->cost, d->ip_limit.burst));
}

/*
 * An admitted request holds its concurrency slots until its transaction
 * ends, or until finish(); its quota alerts are queued.  (Its in-flight
 * slot the caller holds.)
 */
static void
ak_hold(AkDecision *d, AkTaken *t, bool until_finish)
{
	if (t->slot)
		ak_held_add_slot(t->slot, until_finish);
	if (t->owner_slot)
		ak_held_add_slot(t->owner_slot, until_finish);
	if (t->quota)
		ak_quota_announce(d->key, &t->quota_charge);
}

/* The quotas of an admitted request, after its buckets in the report. */
static void
ak_report_quotas(AkDecision *d, const AkKeyInfo *key, AkTaken *t)
{
	if (t->quota)
		ak_quota_report(&t->quota_charge, d->quota_limits[0], NULL, false, &d->report);
	if (t->owner_quota)
		ak_quota_report(&t->owner_quota_charge, d->quota_limits[1], AK_OWNER_PREFIX,
						false, &d->report);
}


/* ---- check() ---- */

/* Whether a request without a key may go on as anonymous. */
static bool
ak_anonymous_allowed(const AkRequest *req)
{
	return req->token == NULL &&
		(req->public || (req->scope == NULL && ak_anonymous_tier()->enabled));
}

/* The end of a block as a Retry-After: none for a block for good. */
static int64
ak_blocked_retry(int64 blocked_until, int64 now_us)
{
	return blocked_until == DT_NOEND ? -1 : blocked_until - now_us;
}

/* A request without a key, where it may go without one. */
static void
ak_decide_anonymous(const AkRequest *req, AkDecision *d)
{
	int64		until;
	AkTaken		t;

	d->anonymous = true;
	ak_count(AK_ANONYMOUS);
	if (req->client_ip != NULL && ak_blocklist_any(d->now_us) &&
		ak_blocklist_match(req->client_ip, &until))
	{
		ak_count(AK_BLOCKED);
		ak_decide(d, AK_CODE_BLOCKED, ak_blocked_retry(until, d->now_us));
		return;
	}
	ak_decide(d, AK_CODE_OK, -1);
	if (req->cost == 0)
	{
		ak_look_anonymous(req, d);
		return;
	}
	ak_validate_cost(req->cost, ak_anonymous_tier()->limits,
					 ak_anonymous_tier()->nenforced, NULL);
	ak_taken_init(&t, req->cost);
	if (!ak_step_ip(d, req->client_ip, &t) ||
		!ak_step_inflight(d, AK_MIN_PRIORITY, &t) ||
		!ak_step_anon_buckets(d, req->client_ip, &t))
	{
		ak_give_back(d, &t);
		return;
	}
	if (t.inflight)
		ak_held_add_inflight(req->until_finish);
	ak_step_anon_shadow(d, req->client_ip, req->cost);
}

/*
 * The steps a key has only when it has quotas, uses, a concurrency limit
 * or owner limits (key->extras): the concurrency limits, the quotas, the
 * uses.
 */
static bool
ak_take_extras(AkDecision *d, const AkKeyInfo *key, AkTaken *t)
{
	return ak_step_concurrency(d, key, t) &&
		ak_step_quotas(d, key, t) &&
		ak_step_uses(d, key, t);
}

/* Every step of an admission, in order; false when one refused. */
static bool
ak_take_all(const AkRequest *req, AkDecision *d, AkTaken *t)
{
	const AkKeyInfo *key = d->key;

	return ak_step_ip(d, req->client_ip, t) &&
		ak_step_inflight(d, key->priority, t) &&
		(likely(!key->extras) || ak_take_extras(d, key, t)) &&
		ak_step_buckets(d, key, t);
}

/* The enforced limits a cost must fit: the key's, its owner's. */
static void
ak_validate_key_cost(int64 cost, const AkKeyInfo *key)
{
	ak_validate_cost(cost, key->limits, key->nenforced, NULL);
	if (unlikely(key->owner_limits != NULL))
		ak_validate_cost(cost, key->owner_limits->limits,
						 key->owner_limits->nenforced, AK_OWNER_PREFIX);
}

/*
 * Everything after a key's verification: the key is d->key, verified at
 * d->now_us; every step is taken, or none.
 */
static void
ak_admit_key(const AkRequest *req, AkDecision *d)
{
	AkTaken		t;

	ak_validate_key_cost(req->cost, d->key);
	ak_decide(d, AK_CODE_OK, -1);
	if (unlikely(req->cost == 0))
	{
		ak_look_key(req, d);
		return;
	}

	ak_taken_init(&t, req->cost);
	if (!ak_take_all(req, d, &t))
	{
		ak_give_back(d, &t);
		return;
	}
	if (t.inflight)
		ak_held_add_inflight(req->until_finish);
	if (unlikely(d->key->extras))
	{
		ak_hold(d, &t, req->until_finish);
		ak_report_quotas(d, d->key, &t);
		ak_step_shadow(d, d->key, req->cost);
	}
}

/*
 * The whole of check() but the result row.  d->key is the verified key,
 * kept for the caller (check_request needs its owner).
 */
void
ak_limiter_decide(const AkRequest *req, AkDecision *d)
{
	AkCode		code;
	int64		blocked_until;

	ak_decision_init(d);
	if (unlikely(req->token == NULL) && ak_anonymous_allowed(req))
	{
		ak_decide_anonymous(req, d);
		return;
	}
	code = ak_verify_request(req->token, req->scope, req->client_ip, d->now_us,
							 &d->key, &blocked_until, req->defer);
	if (code != AK_CODE_VALID)
	{
		ak_decide(d, code, code == AK_CODE_BLOCKED
				  ? ak_blocked_retry(blocked_until, d->now_us) : -1);
		return;
	}
	ak_admit_key(req, d);
}

/*
 * check()'s steps after verification, for a key the caller verified at
 * now_us itself (exchange(), which has more to check in between): the
 * same limits, quotas and slots as a request.
 */
void
ak_limiter_admit(const AkKeyInfo *key, inet *client_ip, int64 cost,
				 int64 now_us, AkDecision *d)
{
	AkRequest	req;

	memset(&req, 0, sizeof(req));
	req.client_ip = client_ip;
	req.cost = cost;
	ak_decision_init(d);
	d->now_us = now_us;
	d->key = key;
	ak_admit_key(&req, d);
}


/* ---- consume() ---- */

/*
 * consume() drains a key's limits and bills it: only a caller that proved
 * it holds the key's token in this transaction (verify(), check(),
 * check_request(), exchange()), the owner it acts for, or an admin may.
 * An unknown key is refused the same way, so that consume() tells nobody
 * which key ids exist.
 */
static void
ak_require_consume_right(const pg_uuid_t *key_id, const AkKeyInfo *key)
{
	if (key != NULL &&
		(ak_identity_verified(&key->id) || ak_caller_owns(key->owner)))
		return;
	if (ak_caller_is_admin())
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to consume API key %s",
					DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(key_id)))),
			 errdetail("Only a member of apikey_admin, the key's owner (apikey.current_owner()), or a caller that verified the key's token in this transaction may consume it."),
			 errhint("Call check() or verify() with the token first, in the same transaction.")));
}

/*
 * Debits a key's quotas and buckets, and its owner's, directly, for
 * callers that verified the key themselves or charge the real cost of a
 * request after doing it.  With refund_on_rollback, the quota units come
 * back if the transaction aborts.
 */
void
ak_limiter_consume(const pg_uuid_t *key_id, int64 cost, bool refund_on_rollback,
				   AkDecision *d)
{
	const AkKeyInfo *key;
	AkCode		state;
	AkTaken		t;

	ak_decision_init(d);
	key = key_id ? ak_keycache_lookup_id(key_id) : NULL;
	if (key_id != NULL)
		ak_require_consume_right(key_id, key);
	state = key ? ak_key_status(key, d->now_us) : AK_CODE_NOT_FOUND;
	if (state != AK_CODE_VALID)
	{
		ak_decide(d, state, -1);
		return;
	}

	d->key = key;
	ak_validate_key_cost(cost, key);
	ak_decide(d, AK_CODE_OK, -1);
	ak_taken_init(&t, cost);
	t.pin_quota = refund_on_rollback;	/* the refund at abort finds the counter */
	if (!ak_step_quotas(d, key, &t) || !ak_step_buckets(d, key, &t))
	{
		ak_give_back(d, &t);
		return;
	}
	if (t.quota)
		ak_quota_announce(key, &t.quota_charge);
	if (key->extras)
		ak_step_shadow(d, key, cost);
	{
		TimestampTz now = GetCurrentTimestamp();

		ak_usage_charge(&key->id, cost, now);
		if (refund_on_rollback)
			ak_refund_on_rollback(key, t.quota ? &t.quota_charge : NULL,
								  t.owner_quota ? &t.owner_quota_charge : NULL,
								  cost, now);
	}
}


/* ---- throttle() ---- */

/*
 * A token bucket for anything: login attempts per user, jobs per tenant.
 * burst NULL: rate.  Raises 22023 for what cannot be a bucket.
 */
void
ak_limiter_throttle(text *name, int64 rate, const Interval *period,
					const int64 *burst, int64 cost, AkDecision *d)
{
	AkLimit    *limit = &d->named_limit;

	if (VARSIZE_ANY_EXHDR(name) == 0 || VARSIZE_ANY_EXHDR(name) > AK_MAX_TEXT_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid bucket: it must be 1 to %d bytes long", AK_MAX_TEXT_LEN)));

	ak_decision_init(d);
	memset(limit, 0, sizeof(*limit));
	strcpy(limit->name, "throttle");
	limit->limit = rate;
	limit->period_us = ak_interval_to_us(period);
	limit->burst = burst ? *burst : rate;
	ak_limit_validate(limit, "throttle", -1);
	ak_validate_cost(cost, limit, 1, NULL);

	ak_decide(d, AK_CODE_OK, -1);
	(void) ak_debit_named(d, name, cost);
}


/* ---- a subject's limits, without a key ---- */

/*
 * Debits a subject's limits all together, for a request that no key
 * authenticated: the buckets of a certificate's owner
 * (postgrest/certauth.c).  The first nenforced limits decide; the others
 * are shadow limits, debited once the request is admitted.  No quota, no
 * slot: those are a key's.
 */
void
ak_limiter_debit_subject(AkCellKind kind, const uint8 *subject, const AkLimit *limits,
						 int n, int nenforced, const char *policy, int64 cost,
						 AkDecision *d)
{
	bool		debited;

	ak_decision_init(d);
	ak_validate_cost(cost, limits, n, NULL);
	ak_decide(d, AK_CODE_OK, -1);
	if (nenforced > 0 &&
		!ak_debit_step(d, kind, subject, limits, nenforced, NULL, policy, cost,
					   &debited, NULL))
		return;
	ak_note_shadow_limited(d, ak_shadow_debit(kind, subject, limits + nenforced,
											  n - nenforced, cost, d->now_us, NULL));
}


/* ---- what a decision reports ---- */

/* The headers of a decision (doc/apikey.md, "Headers"). */
void
ak_decision_headers(const AkDecision *d, AkHeaders *h)
{
	ak_headers_build(h, &d->report, d->now_us, d->allowed ? -1 : d->retry_after_us);
}

static int64
ak_ms_ceil(int64 us)
{
	return us <= 0 ? 0 : (us + 999) / 1000;
}

/*
 * The limit columns shared by check_result and limit_result:
 * (limit_value, remaining, reset_at, retry_after_ms), of the most
 * restrictive limit.
 */
void
ak_decision_limit_columns(const AkDecision *d, Datum *values, bool *nulls)
{
	const AkLimitReport *r = &d->report;
	const AkLimitOutcome *o;
	int			restrictive;

	if (r->nlimits == 0)
	{
		nulls[0] = nulls[1] = nulls[2] = true;
		values[3] = Int64GetDatum(ak_ms_ceil(d->retry_after_us));
		nulls[3] = d->allowed || d->retry_after_us < 0;
		return;
	}
	restrictive = ak_most_restrictive(r);
	o = &r->outcome[restrictive];
	values[0] = Int64GetDatum(r->limit[restrictive]->burst);
	values[1] = Int64GetDatum(o->remaining);
	values[2] = TimestampTzGetDatum(d->now_us + o->full_in_us);
	values[3] = Int64GetDatum(d->allowed ? 0 : ak_ms_ceil(d->retry_after_us));
	nulls[0] = nulls[1] = nulls[2] = nulls[3] = false;
}
