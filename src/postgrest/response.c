/*-------------------------------------------------------------------------
 *
 * response.c
 *	  Headers added to PostgREST's response: response.headers is a JSON
 *	  array of one-key objects, read by PostgREST's main query -- applied
 *	  only when the request succeeds.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "core/request.h"
#include "lib/stringinfo.h"
#include "postgrest/response.h"
#include "utils/guc.h"
#include "utils/json.h"

/*
 * Appends the rate-limit headers to response.headers, a JSON array of
 * one-key objects, after what the application already put there; the
 * setting is transaction-local, as PostgREST's own.
 */
void
ak_append_response_headers(const AkHeaders *h)
{
	const char *current = GetConfigOption("response.headers", true, false);
	StringInfoData buf;
	int			len;

	if (h->n == 0)
		return;					/* a key without limits: nothing to add */
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	if (current != NULL)
	{
		while (isspace((unsigned char) *current))
			current++;
		len = strlen(current);
		while (len > 0 && isspace((unsigned char) current[len - 1]))
			len--;
		if (len > 0 && (current[0] != '[' || current[len - 1] != ']'))
		{
			ereport(WARNING,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("response.headers is not a JSON array: the rate-limit headers are not added"),
					 errhint("PostgREST expects an array of one-key objects, such as [{\"Cache-Control\": \"no-cache\"}].")));
			return;
		}
		if (len > 2)
		{
			/* keep the inside of the array unless it is empty */
			const char *inner = current + 1;
			int			inner_len = len - 2;

			while (inner_len > 0 && isspace((unsigned char) *inner))
				inner++, inner_len--;
			if (inner_len > 0)
			{
				appendBinaryStringInfo(&buf, inner, inner_len);
				appendStringInfoString(&buf, ", ");
			}
		}
	}
	for (int i = 0; i < h->n; i++)
	{
		char	   *value = pnstrdup(h->value[i], h->value_len[i]);

		appendStringInfoString(&buf, i > 0 ? ", {" : "{");
		escape_json(&buf, h->name[i]);
		appendStringInfoString(&buf, ": ");
		escape_json(&buf, value);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, ']');
	(void) set_config_option("response.headers", buf.data, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}

/*
 * The HTTP status of a PostgREST request that succeeds as a transaction
 * but answers an error (response.status): what refresh() does, so that
 * what it wrote -- a family of refresh tokens revoked -- is committed.
 * Outside PostgREST it does nothing.
 */
void
ak_set_response_status(int status)
{
	char		value[12];

	if (!ak_in_request())
		return;
	snprintf(value, sizeof(value), "%d", status);
	(void) set_config_option("response.status", value, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}
