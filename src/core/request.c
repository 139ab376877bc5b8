/*-------------------------------------------------------------------------
 *
 * request.c
 *	  The request PostgREST describes: it sets request.method, request.path,
 *	  request.headers (a JSON object) and request.jwt.claims for each
 *	  transaction, before the pre-request runs.  After a commit they read as
 *	  empty strings.
 *
 * Any session can set these settings to anything, so they describe a
 * request only in a session PostgREST runs: its session user is one of
 * apikey.authenticator_roles (the role PostgREST logs in as) and it has
 * switched to another role (set_config('role', ..., true), the role of
 * the request).  Anywhere else this file reads them as unset, and every
 * reader -- the caller's identity (auth/identity.c), the audit log, usage
 * endpoints, access events, check_request() -- sees the same thing.  The
 * one exception is the API key itself, which proves itself wherever it
 * comes from (ak_request_setting_any_session).
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
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

/*
 * Whether the session user is an authenticator, as last worked out: for
 * which session user, and which value of apikey.authenticator_roles.  A
 * change to any role (a rename) forgets it.
 */
static bool ak_auth_known = false;
static Oid	ak_auth_session = InvalidOid;
static char *ak_auth_list_seen = NULL;
static bool ak_auth_session_is_authenticator = false;

static void
ak_auth_forget(Datum arg, int cacheid, uint32 hashvalue)
{
	ak_auth_known = false;
}

static bool
ak_session_is_authenticator(void)
{
	Oid			session = GetSessionUserId();
	const char *list = ak_authenticator_roles ? ak_authenticator_roles : "";

	if (ak_auth_known && session == ak_auth_session &&
		strcmp(list, ak_auth_list_seen) == 0)
		return ak_auth_session_is_authenticator;

	if (ak_auth_list_seen == NULL)
		CacheRegisterSyscacheCallback(AUTHOID, ak_auth_forget, (Datum) 0);
	else
		pfree(ak_auth_list_seen);
	ak_auth_list_seen = MemoryContextStrdup(TopMemoryContext, list);
	ak_auth_session = session;
	ak_auth_session_is_authenticator =
		ak_role_in_list(list, GetUserNameFromId(session, false));
	ak_auth_known = true;
	return ak_auth_session_is_authenticator;
}

/*
 * Whether the request settings were set by PostgREST: the session user is
 * one of apikey.authenticator_roles and the current role was switched from
 * it.  The current role is the one SET ROLE chose (GetOuterUserId): inside
 * a SECURITY DEFINER function it is still the caller's.
 */
bool
ak_request_trusted(void)
{
	if (GetOuterUserId() == GetSessionUserId())
		return false;
	return ak_session_is_authenticator();
}

static const char *
ak_setting_value(const char *name)
{
	const char *value = GetConfigOption(name, true, false);

	return (value != NULL && *value != '\0') ? value : NULL;
}

/*
 * A request.* setting, or NULL when unset or empty (as after a commit), or
 * when the session is not one PostgREST runs (ak_request_trusted).
 */
const char *
ak_request_setting(const char *name)
{
	if (!ak_request_trusted())
		return NULL;
	return ak_setting_value(name);
}

/*
 * A request.* setting whoever set it: only for the API key, which
 * verification proves or refutes by itself.
 */
const char *
ak_request_setting_any_session(const char *name)
{
	return ak_setting_value(name);
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
