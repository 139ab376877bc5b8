/*-------------------------------------------------------------------------
 *
 * refusal.c
 *	  A refused request as an error, in one of three forms:
 *	  pgrst	(PostgREST >= 12) SQLSTATE PGRST, a message that is the JSON of
 *			the response body and a detail that is the JSON of its status
 *			and headers -- the only way to send Retry-After with an error;
 *	  pt	(PostgREST 11, apikey.postgrest_error_style = 'pt') SQLSTATE
 *			PTnnn: status nnn, message = reason phrase, no headers;
 *	  plain	outside PostgREST (request.method empty): 28000, 42501 or 53400
 *			with the code in the detail, for psql, cron jobs and tests.
 *	  The statement is never logged with the error: it may carry a token.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "core/guc.h"
#include "core/request.h"
#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "postgrest/refusal.h"
#include "utils/builtins.h"
#include "utils/json.h"

/* What a refusal says, whichever form the error takes. */
typedef struct AkRefusal
{
	AkCode		code;
	int			status;
	const char *message;		/* for people, in the response body */
	char	   *hint;
	const AkHeaders *headers;	/* rate-limit headers, or NULL */
	int64		retry_after_s;	/* 0: none */
} AkRefusal;

static const char *
ak_reason_phrase(int status)
{
	switch (status)
	{
		case 401:
			return "Unauthorized";
		case 403:
			return "Forbidden";
		case 429:
			return "Too Many Requests";
		case 503:
			return "Service Unavailable";
	}
	return "Error";
}

static const char *
ak_refusal_message(AkCode code, bool token_sent)
{
	return token_sent ? ak_codes[code].message : "API key required";
}

static char *
ak_refusal_hint(const AkRefusal *r, const text *scope, bool token_sent)
{
	if (r->retry_after_s > 0)
		return psprintf("Retry after " INT64_FORMAT " s.", r->retry_after_s);
	if (!token_sent)
		return psprintf("Send the key in the %s header.", ak_header_name);
	if (r->code == AK_CODE_INSUFFICIENT_SCOPE && scope != NULL)
		return psprintf("This request needs scope \"%s\".", text_to_cstring(scope));
	if (r->code == AK_CODE_SIGNATURE_REQUIRED)
		return psprintf("Sign the request: send the headers %s, %s, %s and %s.",
						ak_signature_header, ak_signature_timestamp_header,
						ak_signature_nonce_header, ak_signature_body_header);
	return pstrdup("");
}

static void
ak_json_pair(StringInfo buf, bool first, const char *name, const char *value)
{
	if (!first)
		appendStringInfoChar(buf, ',');
	escape_json(buf, name);
	appendStringInfoChar(buf, ':');
	escape_json(buf, value);
}

/* {"status":nnn,"headers":{...}}: the DETAIL PostgREST >= 12 requires */
static char *
ak_pgrst_detail(const AkRefusal *r)
{
	StringInfoData buf;
	bool		first = true;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"status\":%d,\"headers\":{", r->status);
	if (r->status == 401)
	{
		char	   *challenge = psprintf("ApiKey header=\"%s\"", ak_header_name);

		ak_json_pair(&buf, first, "WWW-Authenticate", challenge);
		first = false;
	}
	if (r->headers != NULL)
	{
		for (int i = 0; i < r->headers->n; i++)
		{
			char	   *value = pnstrdup(r->headers->value[i], r->headers->value_len[i]);

			ak_json_pair(&buf, first, r->headers->name[i], value);
			first = false;
		}
	}
	appendStringInfoString(&buf, "}}");
	return buf.data;
}

/* "Invalid API key" as a PostgreSQL message has it: "invalid API key" */
static char *
ak_lower_first(const char *message)
{
	char	   *s = pstrdup(message);

	if (strncmp(s, "API", 3) != 0)
		s[0] = pg_tolower((unsigned char) s[0]);
	return s;
}

/* Raises the refusal in the form the caller understands. */
pg_noreturn static void
ak_raise_refusal(const AkRefusal *r)
{
	if (!ak_in_request())
		ereport(ERROR,
				(errcode(ak_codes[r->code].sqlstate),
				 errmsg("request refused: %s", ak_lower_first(r->message)),
				 errdetail("The apikey code is %s; over HTTP the status would be %d.",
						   ak_code_name(r->code), r->status),
				 *r->hint ? errhint("%s", r->hint) : 0,
				 errhidestmt(true)));

	if (ak_error_style == AK_ERRORS_PT)
		ereport(ERROR,
				(errcode(MAKE_SQLSTATE('P', 'T', '0' + r->status / 100,
									   '0' + r->status / 10 % 10, '0' + r->status % 10)),
				 errmsg_internal("%s", ak_reason_phrase(r->status)),
				 errdetail_internal("%s (%s)", r->message, ak_code_name(r->code)),
				 *r->hint ? errhint("%s", r->hint) : 0,
				 errhidestmt(true)));
	else
	{
		StringInfoData body;
		char		akcode[8];

		snprintf(akcode, sizeof(akcode), "AK%d", r->status);
		initStringInfo(&body);
		appendStringInfoChar(&body, '{');
		ak_json_pair(&body, true, "code", akcode);
		ak_json_pair(&body, false, "message", r->message);
		ak_json_pair(&body, false, "details", ak_code_name(r->code));
		ak_json_pair(&body, false, "hint", r->hint);
		appendStringInfoChar(&body, '}');
		ereport(ERROR,
				(errcode(MAKE_SQLSTATE('P', 'G', 'R', 'S', 'T')),
				 errmsg_internal("%s", body.data),
				 errdetail_internal("%s", ak_pgrst_detail(r)),
				 errhidestmt(true)));
	}
	pg_unreachable();
}

/*
 * Raises the refusal of a request with code, and its rate-limit headers
 * (NULL: none); scope is what the request needed, token_sent whether it
 * carried a key at all.
 */
void
ak_refuse(AkCode code, const AkHeaders *headers, int64 retry_after_us,
		  const text *scope, bool token_sent)
{
	AkRefusal	r = {0};

	r.code = code;
	r.status = ak_code_status(code);
	r.message = ak_refusal_message(code, token_sent);
	r.headers = headers;
	r.retry_after_s = retry_after_us > 0 ? Max((retry_after_us + USECS_PER_SEC - 1) / USECS_PER_SEC, 1) : 0;
	r.hint = ak_refusal_hint(&r, scope, token_sent);
	ak_raise_refusal(&r);
}
