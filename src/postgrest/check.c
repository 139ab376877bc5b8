/*-------------------------------------------------------------------------
 *
 * check.c
 *	  apikey.check_request(), written to be PostgREST's db-pre-request
 *	  (doc/postgrest.md).
 *
 * It reads everything from the transaction-local settings PostgREST sets
 * before it runs (request.method, request.path, request.headers) and writes
 * only response.headers, so it works in the READ ONLY transactions of GET
 * requests.  A refusal is an ERROR (refusal.c): PostgREST rolls the
 * transaction back and answers with the status the error names.  An
 * admitted request's key is the caller for the rest of the transaction
 * (auth/identity.c); an anonymous one has no caller.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "auth/identity.h"
#include "auth/token.h"
#include "core/guc.h"
#include "core/json.h"
#include "core/request.h"
#include "core/tokenpath.h"
#include "limit/limiter.h"
#include "postgrest/check.h"
#include "postgrest/refusal.h"
#include "postgrest/response.h"
#include "postgrest/scopemap.h"
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
	char	   *value = ak_json_get_string(ak_request_setting("request.headers"),
										   ak_header_name);

	if (value == NULL)
	{
		char		legacy[NAMEDATALEN + 16];
		const char *v;

		snprintf(legacy, sizeof(legacy), "request.header.%s", ak_header_name);
		v = ak_request_setting(legacy);
		if (v != NULL)
			value = pstrdup(v);
	}
	if (value == NULL)
		return NULL;
	/* longer than any token: MALFORMED all the same, without copying it */
	return cstring_to_text_with_len(value, Min(strlen(value), AK_TOKEN_MAX_LEN + 1));
}

/*
 * Checks the current PostgREST request: returns if it is admitted (its
 * rate-limit headers added to the response), raises its HTTP error if not.
 * A request without a key goes on as anonymous on a public endpoint, or
 * where it needs no scope when apikey.anonymous_tier is set.
 */
void
ak_check_request(void)
{
	AkEndpointRule rule;
	AkRequest	req = {0};
	bool		token_sent;
	AkDecision	d;
	AkHeaders	h;

	ak_endpoint_rule(ak_request_setting("request.method"),
					 ak_request_setting("request.path"), &rule);
	req.scope = rule.scope;
	req.public = rule.public;
	req.client_ip = ak_request_client_ip();
	req.cost = 1;

	AK_TOKEN_PATH_BEGIN();
	req.token = ak_request_token();
	token_sent = req.token != NULL;
	ak_limiter_decide(&req, &d);
	if (token_sent)
		pfree(req.token);
	AK_TOKEN_PATH_END();

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
			  d.retry_after_us, req.scope, token_sent || d.anonymous);
}
