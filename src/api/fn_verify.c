/*-------------------------------------------------------------------------
 *
 * fn_verify.c
 *	  SQL entry points of verification and identity: verify(),
 *	  current_owner(), current_key_id().
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "access/htup_details.h"
#include "auth/identity.h"
#include "auth/token.h"
#include "auth/verify.h"
#include "core/clock.h"
#include "core/subject.h"
#include "core/tokenpath.h"
#include "core/util.h"
#include "funcapi.h"
#include "limit/admission.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(apikey_verify);
PG_FUNCTION_INFO_V1(apikey_verify_0_2);
PG_FUNCTION_INFO_V1(apikey_current_owner);
PG_FUNCTION_INFO_V1(apikey_current_key_id);
PG_FUNCTION_INFO_V1(apikey_key_status);

/* The key columns of a verification: key_id .. metadata. */
static void
ak_key_columns(const AkKeyInfo *key, Datum *values, bool *nulls)
{
	values[0] = UUIDPGetDatum(&key->id);
	nulls[0] = false;
	values[1] = PointerGetDatum(key->owner);
	nulls[1] = false;
	values[2] = PointerGetDatum(key->org);
	nulls[2] = key->org == NULL;
	values[3] = PointerGetDatum(key->name);
	nulls[3] = key->name == NULL;
	values[4] = PointerGetDatum(key->scopes_array);
	nulls[4] = false;
	values[5] = PointerGetDatum(key->tier);
	nulls[5] = key->tier == NULL;
	values[6] = TimestampTzGetDatum(key->expires_at);
	nulls[6] = key->expires_at == DT_NOEND;
	values[7] = JsonbPGetDatum(key->metadata);
	nulls[7] = key->metadata == NULL;
}

/* verify() with its client address read */
static Datum
ak_verify(FunctionCallInfo fcinfo, inet *client_ip)
{
	TupleDesc	desc;
	const AkKeyInfo *key;
	AkCode		code;
	int64		blocked_until;
	Datum		values[10];
	bool		nulls[10];

	desc = ak_result_tupdesc(fcinfo);
	AK_TOKEN_PATH_BEGIN();
	code = ak_verify_request(ak_token_arg(fcinfo, 0),
							 PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1),
							 client_ip, ak_now_us(), &key, &blocked_until, NULL);
	AK_TOKEN_PATH_END();

	memset(nulls, true, sizeof(nulls));
	values[0] = BoolGetDatum(code == AK_CODE_VALID);
	nulls[0] = false;
	values[1] = CStringGetTextDatum(ak_code_name(code));
	nulls[1] = false;
	if (key != NULL)
		ak_key_columns(key, &values[2], &nulls[2]);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/*
 * apikey.verify(token text, scope text, client_ip text)
 *	  RETURNS apikey.verification
 *	  (valid, code, key_id, owner, org, name, scopes, tier, expires_at, metadata)
 */
Datum
apikey_verify_0_2(PG_FUNCTION_ARGS)
{
	AK_REQUIRE_PRELOAD();
	return ak_verify(fcinfo, ak_inet_arg(fcinfo, 2));
}

/*
 * verify() as 0.1.0 declared it, client_ip inet: for a server that loaded
 * this library before ALTER EXTENSION apikey UPDATE ran.
 */
Datum
apikey_verify(PG_FUNCTION_ARGS)
{
	AK_REQUIRE_PRELOAD();
	return ak_verify(fcinfo, ak_inet_arg_inet(fcinfo, 2));
}

/* apikey.current_owner() RETURNS text */
Datum
apikey_current_owner(PG_FUNCTION_ARGS)
{
	text	   *owner;

	AK_REQUIRE_PRELOAD();
	owner = ak_current_owner();
	if (owner == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(owner);
}

/* apikey.current_key_id() RETURNS uuid */
Datum
apikey_current_key_id(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id;

	AK_REQUIRE_PRELOAD();
	id = palloc(sizeof(pg_uuid_t));
	if (!ak_identity_key_id(id))
		PG_RETURN_NULL();
	PG_RETURN_UUID_P(id);
}

/*
 * apikey._key_status(revoked_at, expires_at, rotated_to, disabled_at)
 *	  RETURNS text:
 * the status apikey.key_list shows, by the rule and the clock verification
 * uses (auth/verify.c).  It needs no shared memory: it works, as the view
 * does, where the library was not preloaded.
 */
Datum
apikey_key_status(PG_FUNCTION_ARGS)
{
	TimestampTz revoked_at = PG_ARGISNULL(0) ? DT_NOEND : PG_GETARG_TIMESTAMPTZ(0);
	TimestampTz expires_at = PG_ARGISNULL(1) ? DT_NOEND : PG_GETARG_TIMESTAMPTZ(1);
	AkKeyStatus status;

	status = ak_key_status_at(revoked_at, expires_at, !PG_ARGISNULL(2),
							  !PG_ARGISNULL(3), ak_now_us());
	PG_RETURN_TEXT_P(cstring_to_text(ak_key_status_names[status]));
}
