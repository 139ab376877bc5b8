/*-------------------------------------------------------------------------
 *
 * check.c
 *	  apikey.check_request(), written to be PostgREST's db-pre-request
 *	  (doc/postgrest.md).
 *
 * It reads everything from the transaction-local settings PostgREST sets
 * before it runs (request.method, request.path, request.headers) and writes
 * only response.headers, so it works in the READ ONLY transactions of GET
 * requests.  Only the key is read from any session: it proves itself.
 * The method, path and client address count only in a request PostgREST
 * runs (core/request.c): elsewhere the request is not a PostgREST one, has
 * no address (so no forged X-Forwarded-For meets an allowlist) and is
 * refused with plain errors.  A refusal is an ERROR (refusal.c): PostgREST rolls the
 * transaction back and answers with the status the error names.  An
 * admitted request's key is the caller for the rest of the transaction
 * (auth/identity.c).
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "auth/identity.h"
#include "auth/signature.h"
#include "auth/token.h"
#include "core/clock.h"
#include "core/guc.h"
#include "core/json.h"
#include "core/request.h"
#include "core/tokenpath.h"
#include "limit/headers.h"
#include "limit/limiter.h"
#include "postgrest/certauth.h"
#include "postgrest/check.h"
#include "postgrest/refusal.h"
#include "postgrest/response.h"
#include "postgrest/scopemap.h"
#include "postgrest/signed.h"
#include "usage/record.h"
#include "utils/builtins.h"

/*
 * The token of the apikey.header header: from request.headers (JSON, as
 * PostgREST 12 and 11 on PostgreSQL 14 and later pass headers), else from
 * PostgREST 11's legacy per-header setting request.header.<name>.  NULL
 * when absent; a value longer than any token is cut to one byte more, which
 * verification answers MALFORMED.
 */
static text *
ak_request_token(void)
{
	char	   *value = ak_json_get_string(ak_request_setting_any_session("request.headers"),
										   ak_header_name);

	if (value == NULL)
	{
		char		legacy[NAMEDATALEN + 16];
		const char *v;

		snprintf(legacy, sizeof(legacy), "request.header.%s", ak_header_name);
		v = ak_request_setting_any_session(legacy);
		if (v != NULL)
			value = pstrdup(v);
	}
	if (value == NULL)
		return NULL;
	/* longer than any token: MALFORMED all the same, without copying it */
	return cstring_to_text_with_len(value, Min(strlen(value), AK_TOKEN_MAX_LEN + 1));
}

/* Refuses a request whose signature did not pass (the key is known). */
pg_noreturn static void
ak_refuse_signature(AkCode code, const AkKeyInfo *key, inet *client_ip,
					text *scope, int64 retry_after_us)
{
	AkHeaders	h;

	ak_signature_denied(code, key, client_ip);
	ak_headers_build(&h, NULL, ak_now_us(), retry_after_us > 0 ? retry_after_us : -1);
	ak_refuse(code, retry_after_us > 0 ? &h : NULL, retry_after_us, scope, true);
}

/*
 * A request that carries a key (or none): a route that must be signed has
 * its signature checked before any limit is debited (postgrest/signed.c),
 * then the limiter decides.  A request without a key goes on as anonymous
 * on a public endpoint, or where it needs no scope when
 * apikey.anonymous_tier is set.
 */
static void
ak_check_key_request(AkRequest *req, const char *method, const char *path,
					 bool signed_route)
{
	bool		token_sent = req->token != NULL;
	AkCode		signature = AK_CODE_VALID;
	const AkKeyInfo *signer = NULL;
	int64		retry_after_us = 0;
	AkDecision	d;
	AkHeaders	h;

	AK_TOKEN_PATH_BEGIN();
	if (signed_route)
		signature = ak_check_signature(req->token, req->scope, req->client_ip,
									   method, path, &signer, &retry_after_us);
	if (signature == AK_CODE_VALID)
		ak_limiter_decide(req, &d);
	if (token_sent)
		pfree(req->token);
	AK_TOKEN_PATH_END();
	if (signature != AK_CODE_VALID)
		ak_refuse_signature(signature, signer, req->client_ip, req->scope, retry_after_us);

	if (d.key != NULL && d.key->stored)
		ak_usage_request(&d.key->id, d.usage, 1);
	ak_decision_headers(&d, &h);
	if (d.allowed)
	{
		if (d.key != NULL)
			ak_identity_set(d.key);
		ak_append_response_headers(&h);
		return;
	}
	ak_refuse(d.code, d.report.nlimits > 0 || d.retry_after_us > 0 ? &h : NULL,
			  d.retry_after_us, req->scope, token_sent || d.anonymous);
}

/*
 * Checks the current PostgREST request: returns if it is admitted (its
 * rate-limit headers added to the response), raises its HTTP error if not.
 * A request without a key may carry a client certificate the proxy passed
 * (postgrest/certauth.c).
 */
void
ak_check_request(void)
{
	const char *method = ak_request_setting("request.method");
	const char *path = ak_request_setting("request.path");
	AkEndpointRule rule;
	AkRequest	req = {0};

	ak_endpoint_rule(method, path, &rule);
	req.scope = rule.scope;
	req.public = rule.public;
	req.client_ip = ak_request_client_ip();
	req.cost = 1;

	AK_TOKEN_PATH_BEGIN();
	req.token = ak_request_token();
	AK_TOKEN_PATH_END();
	if (req.token == NULL &&
		ak_check_certificate(req.scope, rule.require_signature, req.client_ip))
		return;
	ak_check_key_request(&req, method, path, rule.require_signature);
}
