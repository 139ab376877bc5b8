/*-------------------------------------------------------------------------
 *
 * signed.c
 *	  Signed PostgREST requests: for a route of apikey.scope_map marked
 *	  require_signature, check_request() verifies, before any limit is
 *	  debited, the signature the client sent in four headers:
 *	  apikey.signature_header (the HMAC), signature_timestamp_header (Unix
 *	  seconds), signature_nonce_header and signature_body_header (the
 *	  body's SHA-256: PostgREST does not hand the body to the pre-request).
 *	  The method and path signed are PostgREST's request.method and
 *	  request.path.  A missing header is SIGNATURE_REQUIRED; a header that
 *	  cannot be what it should is SIGNATURE_INVALID.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "auth/signature.h"
#include "auth/verify.h"
#include "core/clock.h"
#include "core/guc.h"
#include "core/json.h"
#include "core/request.h"
#include "postgrest/signed.h"

/* A header's value as Unix seconds: 1 to 12 decimal digits. */
static bool
ak_parse_unix_seconds(const char *s, int64 *ts)
{
	size_t		len = strlen(s);

	if (len == 0 || len > 12 || strspn(s, "0123456789") != len)
		return false;
	*ts = strtoi64(s, NULL, 10);
	return true;
}

/* The signature headers of the request, judged for key. */
static AkCode
ak_request_signature(const AkKeyInfo *key, const char *method, const char *path,
					 int64 now_us, int64 *retry_after_us)
{
	const char *headers = ak_request_setting("request.headers");
	char	   *signature = ak_json_get_string(headers, ak_signature_header);
	char	   *ts = ak_json_get_string(headers, ak_signature_timestamp_header);
	char	   *nonce = ak_json_get_string(headers, ak_signature_nonce_header);
	char	   *body = ak_json_get_string(headers, ak_signature_body_header);
	AkSignedRequest r = {0};
	const char *what;

	if (signature == NULL || ts == NULL || nonce == NULL || body == NULL)
		return AK_CODE_SIGNATURE_REQUIRED;
	if (!ak_parse_unix_seconds(ts, &r.ts))
		return AK_CODE_SIGNATURE_INVALID;
	r.method = method ? method : "";
	r.method_len = strlen(r.method);
	r.path = path ? path : "";
	r.path_len = strlen(r.path);
	r.body_sha256 = body;
	r.body_len = strlen(body);
	r.nonce = nonce;
	r.nonce_len = strlen(nonce);
	r.signature = signature;
	r.signature_len = strlen(signature);
	if (ak_signed_request_problem(&r, &what) != NULL)
		return AK_CODE_SIGNATURE_INVALID;
	return ak_signature_check(&key->id, &r, now_us, retry_after_us);
}

/*
 * A request to a route that must be signed: its key is verified first,
 * without counting anything (the limiter verifies it again, from its
 * cache), then its signature.  A key that does not verify leaves the
 * answer to the limiter, which refuses it with the key's own code: VALID
 * then, with *key NULL.  Otherwise *key is the key, until the next
 * verification.
 */
AkCode
ak_check_signature(text *token, text *scope, inet *client_ip, const char *method,
				   const char *path, const AkKeyInfo **key, int64 *retry_after_us)
{
	int64		now_us = ak_now_us();
	size_t		prefix_len;

	*retry_after_us = 0;
	ak_require_signing();
	if (ak_verify_token(token, scope, client_ip, now_us, key, &prefix_len) != AK_CODE_VALID)
	{
		*key = NULL;
		return AK_CODE_VALID;
	}
	return ak_request_signature(*key, method, path, now_us, retry_after_us);
}
