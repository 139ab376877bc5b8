/*-------------------------------------------------------------------------
 *
 * limiter.c
 *	  check(), consume() and throttle(): the order of the checks, what a
 *	  refusal gives back, and the slots an admitted request holds until its
 *	  transaction ends.
 *
 * check() decides in this order (contract §6):
 *	  1. verification, with the abuse cooldown (verify.c);
 *	  2. the bucket of the client address, when client_ip is given and
 *		 apikey.ip_rate_limit > 0;
 *	  3. the server-wide limit of requests in flight, apikey.max_inflight;
 *	  4. the key's concurrency limit, max_concurrency;
 *	  5. the key's daily and monthly quotas (quota.c);
 *	  6. the key's buckets, debited all together or not at all.
 * A request refused at a step has nothing debited at any step: the steps
 * before it are given back.  A step that finds no room in the bucket table
 * follows apikey.on_table_full: refuse with OVERLOADED, or skip the step.
 *
 * An admitted check() holds one in-flight slot (and one concurrency slot of
 * its key) until its transaction ends -- commit, abort, or the backend
 * exiting -- when the callbacks below release them.
 *
 * Quota alerts are queued only once the request is admitted, and the
 * request is counted in the key's hourly usage when its transaction ends
 * (usage.c).
 *
 * Nothing here writes to a table, so all of it works in a read-only
 * transaction and on a hot standby.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "funcapi.h"
#include "storage/ipc.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "apikey.h"

PG_FUNCTION_INFO_V1(apikey_check);
PG_FUNCTION_INFO_V1(apikey_consume);
PG_FUNCTION_INFO_V1(apikey_throttle);


/* ---- slots held until the transaction ends ---- */

typedef struct AkHeldSlot
{
	AkBucket   *slot;
	int			count;
} AkHeldSlot;

static AkHeldSlot *ak_held = NULL;
static int	ak_nheld = 0;
static int	ak_held_size = 0;
static int	ak_inflight_held = 0;
static bool ak_release_registered = false;

static void
ak_release_all(void)
{
	for (int i = 0; i < ak_nheld; i++)
		while (ak_held[i].count-- > 0)
			ak_slot_release(ak_held[i].slot);
	ak_nheld = 0;
	for (; ak_inflight_held > 0; ak_inflight_held--)
		ak_inflight_release();
}

static void
ak_release_at_xact_end(XactEvent event, void *arg)
{
	if (ak_xact_ends(event))
		ak_release_all();
}

static void
ak_release_at_exit(int code, Datum arg)
{
	ak_release_all();
}

/* Makes sure the slots taken next are released; call before taking any. */
static void
ak_prepare_to_hold(void)
{
	if (!ak_release_registered)
	{
		RegisterXactCallback(ak_release_at_xact_end, NULL);
		before_shmem_exit(ak_release_at_exit, (Datum) 0);
		ak_release_registered = true;
	}
	if (ak_nheld == ak_held_size)
		ak_held = ak_array_grow(ak_held, &ak_held_size, sizeof(AkHeldSlot));
}

static void
ak_hold_slot(AkBucket *slot)
{
	for (int i = 0; i < ak_nheld; i++)
		if (ak_held[i].slot == slot)
		{
			ak_held[i].count++;
			return;
		}
	ak_held[ak_nheld].slot = slot;
	ak_held[ak_nheld].count = 1;
	ak_nheld++;
}


/* ---- decisions ---- */

static void
ak_decide(AkDecision *d, bool allowed, int status, const char *code,
		  int64 retry_after_us)
{
	d->allowed = allowed;
	d->status = status;
	d->code = code;
	d->retry_after_us = retry_after_us;
	d->usage = allowed ? AK_USAGE_ALLOWED
		: (status == 401 || status == 403) ? AK_USAGE_DENIED_AUTH
		: AK_USAGE_RATE_LIMITED;
}

/*
 * A step found no room in the bucket table: true to go on without it
 * (apikey.on_table_full = open), or false with the request refused.
 */
static bool
ak_table_full(AkDecision *d)
{
	if (ak_on_table_full == AK_TABLE_FULL_OPEN)
		return true;
	ak_count(AK_OVERLOADED);
	ak_decide(d, false, 503, "OVERLOADED", USECS_PER_SEC);
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
 * Debits a set of limits into d->report; returns false (with d decided)
 * when the request must stop here.  *debited tells whether anything was
 * taken (a full table with on_table_full = open takes nothing); it may be
 * NULL.  hints: see ak_bucket_debit.
 */
static bool
ak_debit_step(AkDecision *d, AkBucketKind kind, const uint8 *owner,
			  const AkLimit *limits, int n, const char *policy, int64 cost,
			  bool *debited, AkBucket **hints)
{
	AkLimitReport *r = &d->report;
	AkDebit		result;

	r->nlimits = n;
	r->limits = limits;
	r->policy = policy;
	result = ak_bucket_debit(kind, owner, limits, n, cost, d->now_us,
							 r->outcome, hints);
	r->restrictive = ak_most_restrictive(r);
	if (debited)
		*debited = (result == AK_DEBIT_OK);

	switch (result)
	{
		case AK_DEBIT_OK:
			return true;
		case AK_DEBIT_REJECTED:
			ak_count(AK_RATE_LIMITED);
			ak_decide(d, false, 429, "RATE_LIMITED", ak_retry_after(r));
			return false;
		case AK_DEBIT_NO_ROOM:
			r->nlimits = 0;
			return ak_table_full(d);
	}
	return false;				/* keep compiler quiet */
}

/*
 * Debits a key's quotas, if it has any; returns false (with d decided)
 * when the request must stop here.  *debited tells whether anything was
 * taken, to be given back by ak_quota_undo if a later step refuses.
 */
static bool
ak_quota_step(AkDecision *d, const AkKeyInfo *key, int64 cost,
			  AkQuotaCharge *charge, bool *debited)
{
	int64		retry_after_us;

	*debited = false;
	if (!ak_key_has_quota(key))
		return true;
	switch (ak_quota_debit(key, cost, d->now_us, charge))
	{
		case AK_DEBIT_OK:
			*debited = true;
			return true;
		case AK_DEBIT_REJECTED:
			ak_quota_report(charge, &d->quota_limit, &d->report, &retry_after_us);
			ak_decide(d, false, 429, "QUOTA_EXCEEDED", retry_after_us);
			d->usage = AK_USAGE_QUOTA_EXCEEDED;
			return false;
		case AK_DEBIT_NO_ROOM:
			return ak_table_full(d);
	}
	return false;				/* keep compiler quiet */
}

/* A cost that no bucket of these limits can ever hold is a caller's error. */
static void
ak_check_cost(int64 cost, const AkLimit *limits, int n)
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

/* The per-address limit of the GUCs, its horizon kept within bounds. */
static void
ak_ip_limit(AkLimit *limit)
{
	strcpy(limit->name, "ip");
	limit->limit = ak_ip_rate_limit;
	limit->period_us = (int64) ak_ip_rate_period * USECS_PER_SEC;
	limit->burst = Min(ak_ip_burst > 0 ? ak_ip_burst : ak_ip_rate_limit,
					   ak_limit_max_burst(limit->limit, limit->period_us));
}

/*
 * The whole of check() but the result row.  d->key is the verified key,
 * kept for the caller (check_request needs its owner).
 */
void
ak_check(text *token, text *scope, inet *client_ip, int64 cost, AkDecision *d)
{
	AkCode		code;
	int64		blocked_until;
	AkLimit    *ip_limit = &d->ip_limit;
	uint8		ip_owner[AK_BUCKET_ID_LEN];
	bool		ip_debited = false;
	bool		inflight = false;
	AkBucket   *slot = NULL;
	AkQuotaCharge quota;
	bool		quota_debited = false;
	const AkKeyInfo *key;

	memset(d, 0, sizeof(*d));
	d->now_us = ak_now_us();
	d->retry_after_us = -1;

	code = ak_verify(token, scope, client_ip, d->now_us, &d->key, &blocked_until);
	key = d->key;
	if (code != AK_CODE_VALID)
	{
		ak_decide(d, false, ak_code_status[code], ak_code_names[code],
				  code == AK_CODE_BLOCKED ? blocked_until - d->now_us : -1);
		return;
	}
	ak_check_cost(cost, key->limits, key->nlimits);
	ak_prepare_to_hold();

	if (client_ip != NULL && ak_ip_rate_limit > 0)
	{
		ak_ip_limit(ip_limit);
		ak_ip_owner_id(client_ip, ip_owner);
		if (!ak_debit_step(d, AK_BK_IP, ip_owner, ip_limit, 1, NULL,
						   Min(cost, ip_limit->burst), &ip_debited, NULL))
			return;
		d->report.nlimits = 0;
	}

	if (ak_max_inflight > 0)
	{
		inflight = ak_inflight_acquire(ak_max_inflight);
		if (!inflight)
		{
			ak_count(AK_OVERLOADED);
			ak_decide(d, false, 503, "OVERLOADED", USECS_PER_SEC);
			goto refuse;
		}
	}

	if (key->max_concurrency > 0)
	{
		AkDebit		taken = ak_slot_acquire((const uint8 *) key->id.data,
											key->max_concurrency, &slot);

		if (taken != AK_DEBIT_OK)
			slot = NULL;
		if (taken == AK_DEBIT_REJECTED)
		{
			ak_count(AK_RATE_LIMITED);
			ak_decide(d, false, 429, "CONCURRENCY_LIMITED", USECS_PER_SEC);
			goto refuse;
		}
		if (taken == AK_DEBIT_NO_ROOM && !ak_table_full(d))
			goto refuse;
	}

	if (!ak_quota_step(d, key, cost, &quota, &quota_debited))
		goto refuse;

	if (key->nlimits > 0 &&
		!ak_debit_step(d, AK_BK_KEY_LIMIT, (const uint8 *) key->id.data,
					   key->limits, key->nlimits, key->policy_header, cost,
					   NULL, key->bucket_hints))
		goto refuse;

	if (inflight)
		ak_inflight_held++;
	if (slot)
		ak_hold_slot(slot);
	if (quota_debited)
		ak_quota_announce(key, &quota);
	ak_decide(d, true, 200, "OK", -1);
	return;

refuse:
	if (quota_debited)
		ak_quota_undo(key, &quota);
	if (slot)
		ak_slot_release(slot);
	if (inflight)
		ak_inflight_release();
	if (ip_debited)
		ak_bucket_refund(AK_BK_IP, ip_owner, ip_limit, 1, Min(cost, ip_limit->burst));
}


/* ---- result rows ---- */

static Datum
ak_reset_at(const AkDecision *d)
{
	const AkLimitOutcome *o = &d->report.outcome[d->report.restrictive];

	return TimestampTzGetDatum(d->now_us + o->full_in_us);
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
static void
ak_limit_columns(const AkDecision *d, Datum *values, bool *nulls)
{
	const AkLimitReport *r = &d->report;

	if (r->nlimits == 0)
	{
		nulls[0] = nulls[1] = nulls[2] = true;
		values[3] = Int64GetDatum(ak_ms_ceil(d->retry_after_us));
		nulls[3] = d->allowed || d->retry_after_us < 0;
		return;
	}
	values[0] = Int64GetDatum(r->limits[r->restrictive].burst);
	values[1] = Int64GetDatum(r->outcome[r->restrictive].remaining);
	values[2] = ak_reset_at(d);
	values[3] = Int64GetDatum(d->allowed ? 0 : ak_ms_ceil(d->retry_after_us));
	nulls[0] = nulls[1] = nulls[2] = nulls[3] = false;
}

/* The headers of contract §7 for a decision. */
void
ak_decision_headers(const AkDecision *d, AkHeaders *h)
{
	ak_headers_build(h, &d->report, d->now_us, d->allowed ? -1 : d->retry_after_us);
}

/*
 * apikey.check(token, scope, client_ip, cost) RETURNS apikey.check_result
 *	  (allowed, status, code, key_id, owner, scopes, tier,
 *	   limit_value, remaining, reset_at, retry_after_ms, headers)
 */
Datum
apikey_check(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	AkDecision	d;
	AkHeaders	h;
	Datum		values[12];
	bool		nulls[12] = {false};
	int64		cost = PG_ARGISNULL(3) ? -1 : PG_GETARG_INT32(3);

	AK_REQUIRE_PRELOAD();
	desc = ak_result_tupdesc(fcinfo);
	AK_TOKEN_PATH_BEGIN();
	ak_check(ak_token_arg(fcinfo, 0),
			 PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1),
			 PG_ARGISNULL(2) ? NULL : PG_GETARG_INET_PP(2),
			 cost, &d);
	AK_TOKEN_PATH_END();
	if (d.key != NULL && d.key->stored)
		ak_usage_request(&d.key->id, d.usage, cost);

	values[0] = BoolGetDatum(d.allowed);
	values[1] = Int32GetDatum(d.status);
	values[2] = CStringGetTextDatum(d.code);
	if (d.key != NULL)
	{
		values[3] = UUIDPGetDatum(&d.key->id);
		values[4] = PointerGetDatum(d.key->owner);
		values[5] = PointerGetDatum(d.key->scopes_array);
		values[6] = PointerGetDatum(d.key->tier);
		nulls[6] = d.key->tier == NULL;
	}
	else
		nulls[3] = nulls[4] = nulls[5] = nulls[6] = true;
	ak_limit_columns(&d, &values[7], &nulls[7]);
	ak_decision_headers(&d, &h);
	values[11] = JsonbPGetDatum(ak_headers_jsonb(&h));

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

static Datum
ak_limit_result(FunctionCallInfo fcinfo, const AkDecision *d)
{
	TupleDesc	desc = ak_result_tupdesc(fcinfo);
	Datum		values[6];
	bool		nulls[6] = {false};

	values[0] = BoolGetDatum(d->allowed);
	values[1] = CStringGetTextDatum(d->code);
	ak_limit_columns(d, &values[2], &nulls[2]);
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/*
 * apikey.consume(key_id, cost, refund_on_rollback) RETURNS apikey.limit_result
 *	  Debits a key's quotas and buckets directly, for callers that verified
 *	  the key themselves or charge the real cost of a request after doing
 *	  it.  With refund_on_rollback, the quota units come back if the
 *	  transaction aborts.
 */
Datum
apikey_consume(PG_FUNCTION_ARGS)
{
	AkDecision	d;
	const AkKeyInfo *key;
	AkCode		state;
	int64		cost = PG_ARGISNULL(1) ? -1 : PG_GETARG_INT32(1);
	bool		refund_on_rollback = !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
	AkQuotaCharge quota;
	bool		quota_debited = false;

	AK_REQUIRE_PRELOAD();
	memset(&d, 0, sizeof(d));
	d.now_us = ak_now_us();
	d.retry_after_us = -1;

	key = PG_ARGISNULL(0) ? NULL : ak_keycache_lookup_id(PG_GETARG_UUID_P(0));
	state = key ? ak_key_state(key, d.now_us) : AK_CODE_NOT_FOUND;
	if (state != AK_CODE_VALID)
		ak_decide(&d, false, ak_code_status[state], ak_code_names[state], -1);
	else
	{
		ak_check_cost(cost, key->limits, key->nlimits);
		ak_decide(&d, true, 200, "OK", -1);
		if (ak_quota_step(&d, key, cost, &quota, &quota_debited) &&
			key->nlimits > 0 &&
			!ak_debit_step(&d, AK_BK_KEY_LIMIT, (const uint8 *) key->id.data,
						   key->limits, key->nlimits, key->policy_header,
						   cost, NULL, key->bucket_hints) &&
			quota_debited)
		{
			ak_quota_undo(key, &quota);
			quota_debited = false;
		}
		if (quota_debited)
			ak_quota_announce(key, &quota);
		if (d.allowed)
		{
			TimestampTz now = GetCurrentTimestamp();

			ak_usage_charge(&key->id, cost, now);
			if (refund_on_rollback)
				ak_refund_on_rollback(key, quota_debited ? &quota : NULL, cost, now);
		}
	}
	PG_RETURN_DATUM(ak_limit_result(fcinfo, &d));
}

/*
 * apikey.throttle(bucket, rate, period, burst, cost) RETURNS apikey.limit_result
 *	  A token bucket for anything: login attempts per user, jobs per tenant.
 */
Datum
apikey_throttle(PG_FUNCTION_ARGS)
{
	AkDecision	d;
	AkLimit		limit;
	text	   *bucket;
	uint8		owner[AK_BUCKET_ID_LEN];

	AK_REQUIRE_PRELOAD();
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid throttle: bucket, rate and period must not be null")));
	bucket = PG_GETARG_TEXT_PP(0);
	if (VARSIZE_ANY_EXHDR(bucket) == 0 || VARSIZE_ANY_EXHDR(bucket) > AK_MAX_TEXT_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid bucket: it must be 1 to %d bytes long", AK_MAX_TEXT_LEN)));

	strcpy(limit.name, "throttle");
	limit.limit = PG_GETARG_INT32(1);
	limit.period_us = ak_interval_to_us(PG_GETARG_INTERVAL_P(2));
	limit.burst = PG_ARGISNULL(3) ? limit.limit : PG_GETARG_INT32(3);
	ak_limit_check(&limit, "throttle", -1);
	ak_check_cost(PG_ARGISNULL(4) ? -1 : PG_GETARG_INT32(4), &limit, 1);

	memset(&d, 0, sizeof(d));
	d.now_us = ak_now_us();
	d.retry_after_us = -1;
	ak_decide(&d, true, 200, "OK", -1);
	ak_owner_id(VARDATA_ANY(bucket), VARSIZE_ANY_EXHDR(bucket), owner);
	(void) ak_debit_step(&d, AK_BK_NAMED, owner, &limit, 1, NULL,
						 PG_GETARG_INT32(4), NULL, NULL);
	PG_RETURN_DATUM(ak_limit_result(fcinfo, &d));
}
