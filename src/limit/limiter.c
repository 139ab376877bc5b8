/*-------------------------------------------------------------------------
 *
 * limiter.c
 *	  check(), consume() and throttle(): the order of the steps, what a
 *	  refusal gives back, and the slots an admitted request holds.
 *
 * check() decides in this order (doc/apikey.md, "check()"):
 *	  1. verification, with the abuse cooldown (admission.c);
 *	  2. the bucket of the client address, when client_ip is given and
 *		 apikey.ip_rate_limit > 0;
 *	  3. the server-wide limit of requests in flight, apikey.max_inflight;
 *	  4. the key's concurrency limit, max_concurrency;
 *	  5. the key's daily and monthly quotas (quota.c);
 *	  6. the key's buckets, debited all together or not at all.
 * A request refused at a step has nothing debited at any step: the steps
 * before it are given back.  A step that finds no room in the cell table
 * follows apikey.on_table_full: refuse with OVERLOADED, or skip the step.
 *
 * An admitted check() holds one in-flight slot (and one concurrency slot of
 * its key) until its transaction ends (held.c).  Quota alerts are queued
 * only once the request is admitted.
 *
 * Nothing here writes to a table, so all of it works in a read-only
 * transaction and on a hot standby.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "auth/identity.h"
#include "auth/keycache.h"
#include "auth/keyinfo.h"
#include "auth/verify.h"
#include "core/counters.h"
#include "core/guc.h"
#include "limit/admission.h"
#include "limit/buckets.h"
#include "limit/held.h"
#include "limit/limiter.h"
#include "limit/named.h"
#include "limit/quota.h"
#include "limit/refund.h"
#include "limit/slots.h"
#include "usage/record.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

/* ---- decisions ---- */

static void
ak_decide(AkDecision *d, AkCode code, int64 retry_after_us)
{
	d->code = code;
	d->allowed = ak_code_status(code) == 200;
	d->retry_after_us = retry_after_us;
	d->usage = ak_codes[code].usage;
}

static void
ak_decision_init(AkDecision *d)
{
	memset(d, 0, sizeof(*d));
	d->now_us = ak_now_us();
	d->retry_after_us = -1;
}

/*
 * A step found no room in the cell table: true to go on without it
 * (apikey.on_table_full = open), or false with the request refused.
 */
static bool
ak_table_full(AkDecision *d)
{
	if (ak_on_table_full == AK_TABLE_FULL_OPEN)
		return true;
	ak_count(AK_OVERLOADED);
	ak_decide(d, AK_CODE_OVERLOADED, USECS_PER_SEC);
	return false;
}

/* The Retry-After of a refusal by limits: when every one would admit. */
static int64
ak_retry_after(const AkLimitReport *r)
{
	int64		retry = 0;

	for (int i = 0; i < r->nlimits; i++)
		retry = Max(retry, r->outcome[i].retry_in_us);
	return retry;
}

/*
 * What a debit of the limits in d->report came to: true to go on, or false
 * with the request refused.
 */
static bool
ak_debit_outcome(AkDecision *d, AkDebit result)
{
	AkLimitReport *r = &d->report;

	r->restrictive = ak_most_restrictive(r);
	switch (result)
	{
		case AK_DEBIT_OK:
			return true;
		case AK_DEBIT_REJECTED:
			ak_count(AK_RATE_LIMITED);
			ak_decide(d, AK_CODE_RATE_LIMITED, ak_retry_after(r));
			return false;
		case AK_DEBIT_NO_ROOM:
			r->nlimits = 0;
			return ak_table_full(d);
	}
	return false;				/* keep compiler quiet */
}

/*
 * Debits a set of limits into d->report; returns false (with d decided)
 * when the request must stop here.  *debited tells whether anything was
 * taken (a full table with on_table_full = open takes nothing); it may be
 * NULL.  hints: see ak_bucket_debit.
 */
static bool
ak_debit_step(AkDecision *d, AkCellKind kind, const uint8 *subject,
			  const AkLimit *limits, int n, const char *policy, int64 cost,
			  bool *debited, void **hints)
{
	AkLimitReport *r = &d->report;
	AkDebit		result;

	r->nlimits = n;
	r->limits = limits;
	r->policy = policy;
	result = ak_bucket_debit(kind, subject, limits, n, cost, d->now_us,
							 r->outcome, hints);
	if (debited)
		*debited = (result == AK_DEBIT_OK);
	return ak_debit_outcome(d, result);
}

/*
 * Debits a key's quotas, if it has any; returns false (with d decided)
 * when the request must stop here.  *debited tells whether anything was
 * taken, to be given back by ak_quota_undo if a later step refuses.  pin:
 * see ak_quota_debit.
 */
static bool
ak_quota_step(AkDecision *d, const AkKeyInfo *key, int64 cost, bool pin,
			  AkQuotaCharge *charge, bool *debited)
{
	int64		retry_after_us;

	*debited = false;
	if (!ak_key_has_quota(key))
		return true;
	switch (ak_quota_debit(key, cost, d->now_us, pin, charge))
	{
		case AK_DEBIT_OK:
			*debited = true;
			return true;
		case AK_DEBIT_REJECTED:
			ak_quota_report(charge, &d->quota_limit, &d->report, &retry_after_us);
			ak_decide(d, AK_CODE_QUOTA_EXCEEDED, retry_after_us);
			return false;
		case AK_DEBIT_NO_ROOM:
			return ak_table_full(d);
	}
	return false;				/* keep compiler quiet */
}

/*
 * The key's own buckets, all together; hints remember where they are.
 * Their subject is the key's lineage: a rotated key shares its
 * predecessor's buckets (and concurrency and quota counters).
 */
static bool
ak_key_limits_step(AkDecision *d, const AkKeyInfo *key, int64 cost)
{
	if (key->nlimits == 0)
		return true;
	return ak_debit_step(d, AK_CELL_KEY_LIMIT, (const uint8 *) key->lineage.data,
						 key->limits, key->nlimits, key->policy_header, cost,
						 NULL, key->cell_hints);
}

/* A cost that no bucket of these limits can ever hold is a caller's error. */
static void
ak_validate_cost(int64 cost, const AkLimit *limits, int n)
{
	if (cost < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid cost: it must not be negative")));
	for (int i = 0; i < n; i++)
		if (cost > limits[i].burst)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid cost: " INT64_FORMAT " is more than limit \"%s\" can ever hold",
							cost, limits[i].name),
					 errdetail("Its burst is " INT64_FORMAT ".", limits[i].burst)));
}


/* ---- check() ---- */

/* The per-address limit of the settings, its horizon kept within bounds. */
static void
ak_ip_limit(AkLimit *limit)
{
	strcpy(limit->name, "ip");
	limit->limit = ak_ip_rate_limit;
	limit->period_us = (int64) ak_ip_rate_period * USECS_PER_SEC;
	limit->burst = Min(ak_ip_burst > 0 ? ak_ip_burst : ak_ip_rate_limit,
					   ak_limit_max_burst(limit->limit, limit->period_us));
}

/* What check() took at each step, to give back if a later one refuses. */
typedef struct AkTaken
{
	uint8		ip_subject[AK_SUBJECT_ID_LEN];
	bool		ip;
	bool		inflight;
	AkCell	   *slot;
	AkQuotaCharge quota;
	bool		quota_debited;
} AkTaken;

static void
ak_give_back(AkDecision *d, int64 cost, AkTaken *t)
{
	if (t->quota_debited)
		ak_quota_undo(d->key, &t->quota);
	if (t->slot)
		ak_slot_release(t->slot);
	if (t->inflight)
		ak_inflight_release();
	if (t->ip)
		ak_bucket_refund(AK_CELL_IP, t->ip_subject, &d->ip_limit, 1,
						 Min(cost, d->ip_limit.burst));
}

/* Step 2: the client address's bucket. */
static bool
ak_ip_step(AkDecision *d, inet *client_ip, int64 cost, AkTaken *t)
{
	if (client_ip == NULL || ak_ip_rate_limit <= 0)
		return true;
	ak_ip_limit(&d->ip_limit);
	ak_ip_subject_id(client_ip, t->ip_subject);
	if (!ak_debit_step(d, AK_CELL_IP, t->ip_subject, &d->ip_limit, 1, NULL,
					   Min(cost, d->ip_limit.burst), &t->ip, NULL))
		return false;
	d->report.nlimits = 0;
	return true;
}

/* Step 3: the server-wide limit of requests in flight. */
static bool
ak_inflight_step(AkDecision *d, AkTaken *t)
{
	if (ak_max_inflight <= 0)
		return true;
	t->inflight = ak_inflight_acquire(ak_max_inflight);
	if (t->inflight)
		return true;
	ak_count(AK_OVERLOADED);
	ak_decide(d, AK_CODE_OVERLOADED, USECS_PER_SEC);
	return false;
}

/* Step 4: the key's concurrency limit. */
static bool
ak_concurrency_step(AkDecision *d, const AkKeyInfo *key, AkTaken *t)
{
	AkDebit		taken;

	if (key->max_concurrency <= 0)
		return true;
	taken = ak_slot_acquire((const uint8 *) key->lineage.data, key->max_concurrency,
							&t->slot);
	if (taken != AK_DEBIT_OK)
		t->slot = NULL;
	if (taken == AK_DEBIT_REJECTED)
	{
		ak_count(AK_RATE_LIMITED);
		ak_decide(d, AK_CODE_CONCURRENCY_LIMITED, USECS_PER_SEC);
		return false;
	}
	return taken == AK_DEBIT_OK || ak_table_full(d);
}

/*
 * Steps 2 to 6 for d->key, verified at d->now_us: everything is taken, or
 * nothing.
 */
static void
ak_admit_steps(AkDecision *d, inet *client_ip, int64 cost)
{
	AkTaken		t;

	t.ip = t.inflight = t.quota_debited = false;
	t.slot = NULL;
	ak_validate_cost(cost, d->key->limits, d->key->nlimits);
	ak_held_prepare();

	if (!ak_ip_step(d, client_ip, cost, &t))
		return;
	if (!ak_inflight_step(d, &t) ||
		!ak_concurrency_step(d, d->key, &t) ||
		!ak_quota_step(d, d->key, cost, false, &t.quota, &t.quota_debited) ||
		!ak_key_limits_step(d, d->key, cost))
	{
		ak_give_back(d, cost, &t);
		return;
	}

	if (t.inflight)
		ak_held_add_inflight();
	if (t.slot)
		ak_held_add_slot(t.slot);
	if (t.quota_debited)
		ak_quota_announce(d->key, &t.quota);
	ak_decide(d, AK_CODE_OK, -1);
}

/*
 * The whole of check() but the result row.  d->key is the verified key,
 * kept for the caller (check_request needs its owner).
 */
void
ak_limiter_decide(text *token, text *scope, inet *client_ip, int64 cost,
				  AkDecision *d)
{
	AkCode		code;
	int64		blocked_until;

	ak_decision_init(d);
	code = ak_verify_request(token, scope, client_ip, d->now_us, &d->key,
							 &blocked_until);
	if (code != AK_CODE_VALID)
	{
		ak_decide(d, code, code == AK_CODE_BLOCKED ? blocked_until - d->now_us : -1);
		return;
	}
	ak_admit_steps(d, client_ip, cost);
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
	ak_decision_init(d);
	d->now_us = now_us;
	d->key = key;
	ak_admit_steps(d, client_ip, cost);
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
 * Debits a key's quotas and buckets directly, for callers that verified
 * the key themselves or charge the real cost of a request after doing it.
 * With refund_on_rollback, the quota units come back if the transaction
 * aborts.
 */
void
ak_limiter_consume(const pg_uuid_t *key_id, int64 cost, bool refund_on_rollback,
				   AkDecision *d)
{
	const AkKeyInfo *key;
	AkCode		state;
	AkQuotaCharge quota;
	bool		quota_debited = false;

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

	ak_validate_cost(cost, key->limits, key->nlimits);
	ak_decide(d, AK_CODE_OK, -1);
	if (ak_quota_step(d, key, cost, refund_on_rollback, &quota, &quota_debited) &&
		!ak_key_limits_step(d, key, cost) && quota_debited)
	{
		ak_quota_undo(key, &quota);
		quota_debited = false;
	}
	if (quota_debited)
		ak_quota_announce(key, &quota);
	if (d->allowed)
	{
		TimestampTz now = GetCurrentTimestamp();

		ak_usage_charge(&key->id, cost, now);
		if (refund_on_rollback)
			ak_refund_on_rollback(key, quota_debited ? &quota : NULL, cost, now);
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
	strcpy(limit->name, "throttle");
	limit->limit = rate;
	limit->period_us = ak_interval_to_us(period);
	limit->burst = burst ? *burst : rate;
	ak_limit_validate(limit, "throttle", -1);
	ak_validate_cost(cost, limit, 1);

	ak_decide(d, AK_CODE_OK, -1);
	d->report.nlimits = 1;
	d->report.limits = limit;
	d->report.policy = NULL;
	(void) ak_debit_outcome(d, ak_named_debit(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name),
											  limit, cost, d->now_us, d->report.outcome));
}


/* ---- a subject's limits, without a key ---- */

/*
 * Debits a subject's limits all together, for a request that no key
 * authenticated: the buckets of a certificate's owner
 * (postgrest/certauth.c).  No quota, no slot: those are a key's.
 */
void
ak_limiter_debit_subject(AkCellKind kind, const uint8 *subject, const AkLimit *limits,
						 int n, const char *policy, int64 cost, AkDecision *d)
{
	ak_decision_init(d);
	ak_validate_cost(cost, limits, n);
	ak_decide(d, AK_CODE_OK, -1);
	if (n > 0)
		(void) ak_debit_step(d, kind, subject, limits, n, policy, cost, NULL, NULL);
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
 * (limit_value, remaining, reset_at, retry_after_ms).
 */
void
ak_decision_limit_columns(const AkDecision *d, Datum *values, bool *nulls)
{
	const AkLimitReport *r = &d->report;
	const AkLimitOutcome *o;

	if (r->nlimits == 0)
	{
		nulls[0] = nulls[1] = nulls[2] = true;
		values[3] = Int64GetDatum(ak_ms_ceil(d->retry_after_us));
		nulls[3] = d->allowed || d->retry_after_us < 0;
		return;
	}
	o = &r->outcome[r->restrictive];
	values[0] = Int64GetDatum(r->limits[r->restrictive].burst);
	values[1] = Int64GetDatum(o->remaining);
	values[2] = TimestampTzGetDatum(d->now_us + o->full_in_us);
	values[3] = Int64GetDatum(d->allowed ? 0 : ak_ms_ceil(d->retry_after_us));
	nulls[0] = nulls[1] = nulls[2] = nulls[3] = false;
}
