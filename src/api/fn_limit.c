/*-------------------------------------------------------------------------
 *
 * fn_limit.c
 *	  SQL entry points of the limiter: check(), finish(), limits(),
 *	  consume(), throttle(), and the rate-limit check of the tables' CHECK
 *	  constraints.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "access/htup_details.h"
#include "auth/token.h"
#include "core/subject.h"
#include "core/tokenpath.h"
#include "core/util.h"
#include "funcapi.h"
#include "limit/apprequest.h"
#include "limit/limiter.h"
#include "limit/limitlist.h"
#include "limit/named.h"
#include "limit/quota.h"
#include "postgrest/scopemap.h"
#include "usage/record.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#define AK_MAX_ENDPOINT_LEN		1024

PG_FUNCTION_INFO_V1(apikey_check);
PG_FUNCTION_INFO_V1(apikey_check_0_2);
PG_FUNCTION_INFO_V1(apikey_finish);
PG_FUNCTION_INFO_V1(apikey_limits);
PG_FUNCTION_INFO_V1(apikey_consume);
PG_FUNCTION_INFO_V1(apikey_throttle);
PG_FUNCTION_INFO_V1(apikey_clear_throttles);
PG_FUNCTION_INFO_V1(apikey_quota_counts);
PG_FUNCTION_INFO_V1(apikey_reset_buckets);
PG_FUNCTION_INFO_V1(apikey_check_rate_limits);

/* A cost argument; -1 for NULL, which the limiter refuses. */
#define AK_ARG_COST(n)		(PG_ARGISNULL(n) ? -1 : (int64) PG_GETARG_INT32(n))

/* check()'s endpoint argument: 1 to AK_MAX_ENDPOINT_LEN bytes, or NULL. */
static char *
ak_endpoint_arg(FunctionCallInfo fcinfo, int argno)
{
	text	   *t;

	if (PG_ARGISNULL(argno))
		return NULL;
	t = PG_GETARG_TEXT_PP(argno);
	if (VARSIZE_ANY_EXHDR(t) == 0 || VARSIZE_ANY_EXHDR(t) > AK_MAX_ENDPOINT_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid endpoint: it must be 1 to %d bytes long", AK_MAX_ENDPOINT_LEN),
				 errdetail("It has %zu bytes.", VARSIZE_ANY_EXHDR(t))));
	return text_to_cstring(t);
}

/* check()'s method argument: an HTTP method, in upper case, or NULL. */
static char *
ak_method_arg(FunctionCallInfo fcinfo, int argno)
{
	char	   *method;
	size_t		len;

	if (PG_ARGISNULL(argno))
		return NULL;
	method = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	len = strlen(method);
	for (size_t i = 0; i < len; i++)
	{
		if (!isalpha((unsigned char) method[i]))
			len = 0;
		method[i] = pg_toupper((unsigned char) method[i]);
	}
	if (len == 0 || len >= AK_METHOD_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid method: it must be an HTTP method"),
				 errdetail("A method is 1 to %d letters, such as GET or POST.",
						   AK_METHOD_LEN - 1)));
	return method;
}

/* The check_result row of a decision. */
static Datum
ak_check_result(FunctionCallInfo fcinfo, const AkDecision *d)
{
	TupleDesc	desc = ak_result_tupdesc(fcinfo);
	AkHeaders	h;
	Datum		values[12];
	bool		nulls[12] = {false};

	values[0] = BoolGetDatum(d->allowed);
	values[1] = Int32GetDatum(ak_code_status(d->code));
	values[2] = CStringGetTextDatum(ak_code_name(d->code));
	if (d->key != NULL)
	{
		values[3] = UUIDPGetDatum(&d->key->id);
		values[4] = PointerGetDatum(d->key->owner);
		values[5] = PointerGetDatum(d->key->scopes_array);
		values[6] = PointerGetDatum(d->key->tier);
		nulls[6] = d->key->tier == NULL;
	}
	else
		nulls[3] = nulls[4] = nulls[5] = nulls[6] = true;
	ak_decision_limit_columns(d, &values[7], &nulls[7]);
	ak_decision_headers(d, &h);
	values[11] = JsonbPGetDatum(ak_headers_jsonb(&h));
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/*
 * An application's request (an endpoint or a method given): the scope map
 * says what the endpoint needs when the caller did not, and the request
 * stays open until finish().
 */
static void
ak_app_request(AkRequest *req, const char *endpoint, const char *method)
{
	if (endpoint != NULL && req->scope == NULL)
	{
		AkEndpointRule rule;

		ak_endpoint_rule(method ? method : "", endpoint, &rule);
		req->scope = rule.scope;
		req->public = rule.public;
	}
	req->until_finish = true;
	req->defer = ak_app_request_begin();
}

/* check() with its client address read; endpoint and method, if declared */
static Datum
ak_check(FunctionCallInfo fcinfo, inet *client_ip)
{
	AkRequest	req = {0};
	AkDecision	d;
	char	   *endpoint = NULL;
	char	   *method = NULL;

	req.cost = AK_ARG_COST(3);
	if (PG_NARGS() > 5)
	{
		endpoint = ak_endpoint_arg(fcinfo, 4);
		method = ak_method_arg(fcinfo, 5);
	}
	req.scope = PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1);
	req.client_ip = client_ip;
	if (unlikely(endpoint != NULL || method != NULL))
		ak_app_request(&req, endpoint, method);

	AK_TOKEN_PATH_BEGIN();
	req.token = ak_token_arg(fcinfo, 0);
	ak_limiter_decide(&req, &d);
	AK_TOKEN_PATH_END();
	if (req.until_finish)
		ak_app_request_open(&d, endpoint, method, req.cost);
	else if (d.key != NULL && d.key->stored)
		ak_usage_request(&d.key->id, d.usage, req.cost);

	PG_RETURN_DATUM(ak_check_result(fcinfo, &d));
}

/*
 * apikey.check(token text, scope text, client_ip text, cost integer,
 *				endpoint text, method text)
 *	  RETURNS apikey.check_result
 *	  (allowed, status, code, key_id, owner, scopes, tier,
 *	   limit_value, remaining, reset_at, retry_after_ms, headers)
 */
Datum
apikey_check_0_2(PG_FUNCTION_ARGS)
{
	AK_REQUIRE_PRELOAD();
	return ak_check(fcinfo, ak_inet_arg(fcinfo, 2));
}

/*
 * check() as 0.1.0 declared it, client_ip inet and no endpoint: for a
 * server that loaded this library before ALTER EXTENSION apikey UPDATE ran.
 */
Datum
apikey_check(PG_FUNCTION_ARGS)
{
	AK_REQUIRE_PRELOAD();
	return ak_check(fcinfo, ak_inet_arg_inet(fcinfo, 2));
}

/*
 * apikey.finish(status integer, latency interval) RETURNS boolean: the
 * open application request was answered with status, after latency (NULL:
 * the time since check()); false when none is open.
 */
Datum
apikey_finish(PG_FUNCTION_ARGS)
{
	int32		status;
	int64		latency_us = -1;

	AK_REQUIRE_PRELOAD();
	status = PG_ARGISNULL(0) ? 0 : PG_GETARG_INT32(0);
	if (status < 100 || status > 599)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid status: it must be an HTTP status code"),
				 errdetail("A status is a number from 100 to 599; this one is %s.",
						   PG_ARGISNULL(0) ? "null" : psprintf("%d", status))));
	if (!PG_ARGISNULL(1))
	{
		latency_us = ak_interval_to_us(PG_GETARG_INTERVAL_P(1));
		if (latency_us < 0 || latency_us > USECS_PER_DAY)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid latency: it must be between 0 and 1 day"),
					 errdetail("Give the time the request took, or NULL for the time since check().")));
	}
	PG_RETURN_BOOL(ak_app_request_finish(status, latency_us));
}

/* A row of apikey.limits(), into the function's tuplestore. */
static void
ak_limits_row(const AkLimitRow *row, void *arg)
{
	ReturnSetInfo *rsinfo = arg;
	Datum		values[7];
	bool		nulls[7] = {false};

	values[0] = CStringGetTextDatum(row->name);
	values[1] = CStringGetTextDatum(row->kind);
	values[2] = CStringGetTextDatum(row->applies_to);
	values[3] = Int64GetDatum(row->limit_value);
	values[4] = Int64GetDatum(row->remaining);
	values[5] = TimestampTzGetDatum(row->reset_at_us);
	nulls[5] = row->reset_at_us < 0;
	values[6] = BoolGetDatum(row->shadow);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * apikey.limits(token text)
 *	  RETURNS TABLE(name, kind, applies_to, limit_value, remaining,
 *					reset_at, shadow)
 * Every limit of the key the token names, if it verifies; no rows if not.
 */
Datum
apikey_limits(PG_FUNCTION_ARGS)
{
	const AkKeyInfo *key;
	AkCode		code;
	int64		blocked_until;
	int64		now_us;

	AK_REQUIRE_PRELOAD();
	InitMaterializedSRF(fcinfo, 0);
	now_us = ak_now_us();
	AK_TOKEN_PATH_BEGIN();
	code = ak_verify_request(ak_token_arg(fcinfo, 0), NULL, NULL, now_us, &key,
							 &blocked_until, NULL);
	AK_TOKEN_PATH_END();
	if (code == AK_CODE_VALID)
		ak_key_limits_list(key, now_us, ak_limits_row, fcinfo->resultinfo);
	return (Datum) 0;
}

/* (allowed, code, limit_value, remaining, reset_at, retry_after_ms) */
static Datum
ak_limit_result(FunctionCallInfo fcinfo, const AkDecision *d)
{
	TupleDesc	desc = ak_result_tupdesc(fcinfo);
	Datum		values[6];
	bool		nulls[6] = {false};

	values[0] = BoolGetDatum(d->allowed);
	values[1] = CStringGetTextDatum(ak_code_name(d->code));
	ak_decision_limit_columns(d, &values[2], &nulls[2]);
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/*
 * apikey.consume(key_id, cost, refund_on_rollback) RETURNS apikey.limit_result
 */
Datum
apikey_consume(PG_FUNCTION_ARGS)
{
	AkDecision	d;

	AK_REQUIRE_PRELOAD();
	ak_limiter_consume(PG_ARGISNULL(0) ? NULL : PG_GETARG_UUID_P(0),
					   AK_ARG_COST(1), !PG_ARGISNULL(2) && PG_GETARG_BOOL(2), &d);
	PG_RETURN_DATUM(ak_limit_result(fcinfo, &d));
}

/*
 * apikey.throttle(bucket, rate, period, burst, cost) RETURNS apikey.limit_result
 */
Datum
apikey_throttle(PG_FUNCTION_ARGS)
{
	AkDecision	d;
	int64		burst;

	AK_REQUIRE_PRELOAD();
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid throttle: bucket, rate and period must not be null")));
	burst = PG_ARGISNULL(3) ? 0 : PG_GETARG_INT32(3);
	ak_limiter_throttle(PG_GETARG_TEXT_PP(0), PG_GETARG_INT32(1),
						PG_GETARG_INTERVAL_P(2), PG_ARGISNULL(3) ? NULL : &burst,
						AK_ARG_COST(4), &d);
	PG_RETURN_DATUM(ak_limit_result(fcinfo, &d));
}

/*
 * apikey._check_rate_limits(jsonb) RETURNS boolean, for CHECK constraints:
 * true, or an error that says what is wrong.
 */
Datum
apikey_check_rate_limits(PG_FUNCTION_ARGS)
{
	AkLimit		limits[AK_MAX_LIMITS];

	if (!PG_ARGISNULL(0))
		(void) ak_limits_parse(PG_GETARG_JSONB_P(0), limits, "rate_limits");
	PG_RETURN_BOOL(true);
}

/*
 * apikey.clear_throttles(role regrole, bucket text) RETURNS bigint: removes
 * a role's throttle() buckets in this database (role NULL: the shared
 * names'), or only bucket's; returns how many.  Admins only (GRANT).
 */
Datum
apikey_clear_throttles(PG_FUNCTION_ARGS)
{
	Oid			roleid = PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0);
	text	   *bucket = PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1);

	AK_REQUIRE_PRELOAD();
	PG_RETURN_INT64(ak_named_clear(roleid, bucket ? VARDATA_ANY(bucket) : NULL,
								   bucket ? VARSIZE_ANY_EXHDR(bucket) : 0));
}

/*
 * apikey._quota_counts(key_id) RETURNS (day, day_used, month, month_used):
 * a key's quota counts, live; NULLs for a key the caller cannot see.  Part
 * of key_list, which works without the library preloaded: then NULLs.
 */
Datum
apikey_quota_counts(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4] = {true, true, true, true};
	AkQuotaCounts counts;

	desc = ak_result_tupdesc(fcinfo);
	if (ak_preloaded && ak_quota_counts_of(PG_GETARG_UUID_P(0), &counts))
		for (int p = 0; p < AK_NUM_PERIODS; p++)
		{
			if (counts.period[p] == PG_INT32_MIN)
				continue;
			values[2 * p] = DateADTGetDatum(ak_period_first_day((AkPeriod) p, counts.period[p]));
			values[2 * p + 1] = Int64GetDatum(counts.used[p]);
			nulls[2 * p] = nulls[2 * p + 1] = false;
		}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/*
 * apikey.reset_buckets(class text) RETURNS bigint: forgets every bucket and
 * cooldown of a class (key, address, named, cooldown; NULL: all), as a
 * restart without the saved file would; returns how many.  Admins only
 * (GRANT).
 */
Datum
apikey_reset_buckets(PG_FUNCTION_ARGS)
{
	int64		removed = 0;
	int			table = -1;

	AK_REQUIRE_PRELOAD();
	if (!PG_ARGISNULL(0))
	{
		char	   *class = text_to_cstring(PG_GETARG_TEXT_PP(0));

		table = ak_cell_table_named(class);
		if (table < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid class \"%s\"", class),
					 errdetail("A class is key, address, named or cooldown; NULL resets them all.")));
	}
	for (int t = 0; t < AK_NUM_CELL_TABLES; t++)
		if (table < 0 || t == table)
			removed += ak_cells_reset((AkCellTable) t);
	PG_RETURN_INT64(removed);
}
