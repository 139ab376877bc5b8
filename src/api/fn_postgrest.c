/*-------------------------------------------------------------------------
 *
 * fn_postgrest.c
 *	  SQL entry points for PostgREST: check_request(), exchange(),
 *	  refresh().
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "auth/token.h"
#include "core/tokenpath.h"
#include "lifecycle/refresh.h"
#include "postgrest/check.h"
#include "postgrest/exchange.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(apikey_check_request);
PG_FUNCTION_INFO_V1(apikey_exchange);
PG_FUNCTION_INFO_V1(apikey_refresh);

/* apikey.check_request() RETURNS void, for PostgREST's db-pre-request. */
Datum
apikey_check_request(PG_FUNCTION_ARGS)
{
	AK_REQUIRE_PRELOAD();
	ak_check_request();
	PG_RETURN_VOID();
}

/*
 * apikey.exchange(token text, ttl interval, refresh boolean) RETURNS jsonb
 *	  {"access_token": <JWT>, "token_type": "bearer", "expires_in": <s>
 *	   [, "refresh_token": <token>, "refresh_expires_in": <s>]}
 */
Datum
apikey_exchange(PG_FUNCTION_ARGS)
{
	Jsonb	   *result;
	bool		refresh = PG_NARGS() > 2 && !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
	Interval   *ttl = PG_ARGISNULL(1) ? NULL : PG_GETARG_INTERVAL_P(1);

	AK_REQUIRE_PRELOAD();
	/* from here on an error may be logged with the statement: not the token */
	AK_TOKEN_PATH_BEGIN();
	result = refresh ? ak_refresh_exchange(ak_token_arg(fcinfo, 0), ttl)
		: ak_exchange(ak_token_arg(fcinfo, 0), ttl);
	AK_TOKEN_PATH_END();
	PG_RETURN_JSONB_P(result);
}

/*
 * apikey.refresh(refresh_token text) RETURNS jsonb: a new pair, as
 * exchange(refresh => true) returns it, or the refusal as an error body.
 */
Datum
apikey_refresh(PG_FUNCTION_ARGS)
{
	Jsonb	   *result;

	AK_REQUIRE_PRELOAD();
	AK_TOKEN_PATH_BEGIN();
	result = ak_refresh(ak_token_arg(fcinfo, 0));
	AK_TOKEN_PATH_END();
	PG_RETURN_JSONB_P(result);
}
