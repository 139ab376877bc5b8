/*-------------------------------------------------------------------------
 *
 * request.c
 *	  The request PostgREST describes: it sets request.method, request.path
 *	  and request.headers (a JSON object) for each transaction, before the
 *	  pre-request runs.  After a commit they read as empty strings.
 *
 * Everything here comes from outside: nothing raises an error for what a
 * client sent.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "core/guc.h"
#include "core/json.h"
#include "core/request.h"
#include "mb/pg_wchar.h"
#include "utils/guc.h"

/* A request.* setting, or NULL when unset or empty (as after a commit). */
const char *
ak_request_setting(const char *name)
{
	const char *value = GetConfigOption(name, true, false);

	return (value != NULL && *value != '\0') ? value : NULL;
}

/* Whether this transaction runs a PostgREST request (request.method set). */
bool
ak_in_request(void)
{
	return ak_request_setting("request.method") != NULL;
}

/*
 * Copies a request setting into dst ("" if unset), cut at a character
 * boundary; returns its length.
 */
int
ak_request_copy(char *dst, int size, const char *name)
{
	const char *value = ak_request_setting(name);
	int			len;

	dst[0] = '\0';
	if (value == NULL)
		return 0;
	len = pg_mbcliplen(value, strlen(value), size - 1);
	memcpy(dst, value, len);
	dst[len] = '\0';
	return len;
}

/*
 * The client address of the current PostgREST request: the first hop of
 * the apikey.client_ip_header header (x-forwarded-for) in request.headers,
 * or NULL.
 */
inet *
ak_request_client_ip(void)
{
	char	   *value = ak_json_get_string(ak_request_setting("request.headers"),
										   ak_client_ip_header);

	if (value == NULL)
		return NULL;
	return ak_parse_inet(value, strcspn(value, ","));
}
