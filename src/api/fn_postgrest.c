/*-------------------------------------------------------------------------
 *
 * fn_postgrest.c
 *	  SQL entry points for PostgREST: check_request(), exchange().
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "auth/token.h"
#include "core/tokenpath.h"
#include "postgrest/check.h"
#include "postgrest/exchange.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(apikey_check_request);
PG_FUNCTION_INFO_V1(apikey_exchange);

/* apikey.check_request() RETURNS void, for PostgREST's db-pre-request. */
Datum
apikey_check_request(PG_FUNCTION_ARGS)
{
	AK_REQUIRE_PRELOAD();
	ak_check_request();
	PG_RETURN_VOID();
}

/*
 * apikey.exchange(token text, ttl interval) RETURNS jsonb
 *	  {"access_token": <JWT>, "token_type": "bearer", "expires_in": <s>}
 */
Datum
apikey_exchange(PG_FUNCTION_ARGS)
{
	Jsonb	   *result;

	AK_REQUIRE_PRELOAD();
	/* from here on an error may be logged with the statement: not the token */
	AK_TOKEN_PATH_BEGIN();
	result = ak_exchange(ak_token_arg(fcinfo, 0),
						 PG_ARGISNULL(1) ? NULL : PG_GETARG_INTERVAL_P(1));
	AK_TOKEN_PATH_END();
	PG_RETURN_JSONB_P(result);
}
