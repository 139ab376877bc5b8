/*-------------------------------------------------------------------------
 *
 * fn_signing.c
 *	  SQL entry points of request signing: signing_secret(),
 *	  verify_signature().
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include <sodium.h>

#include "access/htup_details.h"
#include "auth/signature.h"
#include "core/clock.h"
#include "core/request.h"
#include "core/tokenpath.h"
#include "core/util.h"
#include "funcapi.h"
#include "lifecycle/signing.h"
#include "lifecycle/validate.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(apikey_signing_secret);
PG_FUNCTION_INFO_V1(apikey_verify_signature);

/* apikey.signing_secret(key_id uuid) RETURNS text */
Datum
apikey_signing_secret(PG_FUNCTION_ARGS)
{
	char		secret[AK_SIGNING_SECRET_LEN + 1];
	text	   *result;

	AK_REQUIRE_PRELOAD();
	if (PG_ARGISNULL(0))
		ak_bad_value("key_id", "it must not be null");
	ak_key_signing_secret(PG_GETARG_DATUM(0), secret);
	result = cstring_to_text(secret);
	sodium_memzero(secret, sizeof(secret));
	PG_RETURN_TEXT_P(result);
}

/* A text argument that must be given; its bytes and length. */
static const char *
ak_required_arg(FunctionCallInfo fcinfo, int argno, const char *what, size_t *len)
{
	text	   *t;

	if (PG_ARGISNULL(argno))
		ak_bad_value(what, "it must not be null");
	t = PG_GETARG_TEXT_PP(argno);
	*len = VARSIZE_ANY_EXHDR(t);
	return VARDATA_ANY(t);
}

/* The signed fields of verify_signature()'s arguments; 22023 if bad. */
static void
ak_signed_request_args(FunctionCallInfo fcinfo, AkSignedRequest *r)
{
	const char *what;
	const char *problem;

	r->method = ak_required_arg(fcinfo, 1, "method", &r->method_len);
	r->path = ak_required_arg(fcinfo, 2, "path", &r->path_len);
	if (PG_ARGISNULL(3))
		ak_bad_value("ts", "it must not be null");
	r->ts = PG_GETARG_INT64(3);
	r->body_sha256 = ak_required_arg(fcinfo, 4, "body_sha256", &r->body_len);
	r->signature = PG_ARGISNULL(5) ? NULL : VARDATA_ANY(PG_GETARG_TEXT_PP(5));
	r->signature_len = PG_ARGISNULL(5) ? 0 : VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(5));
	r->nonce = PG_ARGISNULL(6) ? NULL : VARDATA_ANY(PG_GETARG_TEXT_PP(6));
	r->nonce_len = PG_ARGISNULL(6) ? 0 : VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(6));

	problem = ak_signed_request_problem(r, &what);
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s", what),
				 errdetail("%s", problem),
				 errhidestmt(true)));
}

/*
 * apikey.verify_signature(key text, method text, path text, ts bigint,
 *						   body_sha256 text, signature text, nonce text)
 *	  RETURNS apikey.signature_verification (valid, code, key_id, owner)
 */
Datum
apikey_verify_signature(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	AkSignedRequest r = {0};
	const AkKeyInfo *key;
	AkCode		code;
	int64		now_us;
	int64		retry_after_us;
	Datum		values[4];
	bool		nulls[4] = {false, false, true, true};

	AK_REQUIRE_PRELOAD();
	desc = ak_result_tupdesc(fcinfo);
	ak_require_signing();
	/* a signature within its window may be replayed: keep it out of the log */
	AK_TOKEN_PATH_BEGIN();
	ak_signed_request_args(fcinfo, &r);
	now_us = ak_now_us();
	key = ak_signature_key(PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0), now_us, &code);
	if (code == AK_CODE_VALID)
		code = ak_signature_check(&key->id, &r, now_us, &retry_after_us);
	AK_TOKEN_PATH_END();
	if (code != AK_CODE_VALID)
		ak_signature_denied(code, key, ak_request_client_ip());

	values[0] = BoolGetDatum(code == AK_CODE_VALID);
	values[1] = CStringGetTextDatum(ak_code_name(code));
	if (key != NULL)
	{
		values[2] = UUIDPGetDatum(&key->id);
		nulls[2] = false;
	}
	if (code == AK_CODE_VALID)
	{
		values[3] = PointerGetDatum(key->owner);
		nulls[3] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
