/*-------------------------------------------------------------------------
 *
 * fn_limit.c
 *	  SQL entry points of the limiter: check(), consume(), throttle(), and
 *	  the rate-limit check of the tables' CHECK constraints.
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
#include "limit/limiter.h"
#include "limit/named.h"
#include "limit/quota.h"
#include "usage/record.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(apikey_check);
PG_FUNCTION_INFO_V1(apikey_check_0_2);
PG_FUNCTION_INFO_V1(apikey_consume);
PG_FUNCTION_INFO_V1(apikey_throttle);
PG_FUNCTION_INFO_V1(apikey_clear_throttles);
PG_FUNCTION_INFO_V1(apikey_quota_counts);
PG_FUNCTION_INFO_V1(apikey_reset_buckets);
PG_FUNCTION_INFO_V1(apikey_check_rate_limits);

/* A cost argument; -1 for NULL, which the limiter refuses. */
#define AK_ARG_COST(n)		(PG_ARGISNULL(n) ? -1 : (int64) PG_GETARG_INT32(n))

/* check() with its client address read */
static Datum
ak_check(FunctionCallInfo fcinfo, inet *client_ip)
{
	TupleDesc	desc;
	AkDecision	d;
	AkHeaders	h;
	Datum		values[12];
	bool		nulls[12] = {false};
	int64		cost = AK_ARG_COST(3);

	desc = ak_result_tupdesc(fcinfo);
	AK_TOKEN_PATH_BEGIN();
	ak_limiter_decide(ak_token_arg(fcinfo, 0),
					  PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1),
					  client_ip, cost, &d);
	AK_TOKEN_PATH_END();
	if (d.key != NULL && d.key->stored)
		ak_usage_request(&d.key->id, d.usage, cost);

	values[0] = BoolGetDatum(d.allowed);
	values[1] = Int32GetDatum(ak_code_status(d.code));
	values[2] = CStringGetTextDatum(ak_code_name(d.code));
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
	ak_decision_limit_columns(&d, &values[7], &nulls[7]);
	ak_decision_headers(&d, &h);
	values[11] = JsonbPGetDatum(ak_headers_jsonb(&h));

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/*
 * apikey.check(token text, scope text, client_ip text, cost integer)
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
 * check() as 0.1.0 declared it, client_ip inet: for a server that loaded
 * this library before ALTER EXTENSION apikey UPDATE ran.
 */
Datum
apikey_check(PG_FUNCTION_ARGS)
{
	AK_REQUIRE_PRELOAD();
	return ak_check(fcinfo, ak_inet_arg_inet(fcinfo, 2));
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
