/*-------------------------------------------------------------------------
 *
 * identity.c
 *	  Who is calling: the admin test, the owner on whose behalf a caller
 *	  acts (apikey.current_owner()), the actor written to the audit log, and
 *	  the key verified for this transaction (apikey.current_key_id()).
 *
 * The caller is the session's role as set by SET ROLE (PostgREST's
 * SET LOCAL ROLE), i.e. GetOuterUserId(): the management functions are
 * SECURITY DEFINER, so inside them the current user is the extension's
 * owner and says nothing about the caller.
 *
 * current_owner() is, in order:
 *	  1. the owner of the key verified by check_request() in this
 *		 transaction, kept in backend memory and forgotten at transaction
 *		 end, so that no role can forge it with set_config();
 *	  2. the "sub" claim of request.jwt.claims, which PostgREST sets from a
 *		 JWT it has checked -- the trust Supabase's auth.uid() gives it,
 *		 sound only where clients cannot run their own SQL;
 *	  3. outside a PostgREST request (request.method empty), the name of
 *		 the calling role, so that database roles own keys directly;
 *	  4. otherwise NULL: an anonymous PostgREST request owns nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inet.h"
#include "utils/memutils.h"
#include "utils/uuid.h"

#include "apikey.h"

#define AK_ADMIN_ROLE "apikey_admin"

/* the key verified by check_request() in the current transaction */
static bool ak_identity_valid = false;
static pg_uuid_t ak_identity_key_id;
static char ak_identity_owner[AK_MAX_TEXT_LEN + 1];
static char ak_identity_display[AK_DISPLAY_MAX_LEN + 1];
static bool ak_identity_callback_registered = false;

/* the last request.jwt.claims seen, and its "sub" */
static char *ak_claims_seen = NULL;
static char *ak_claims_sub = NULL;

PG_FUNCTION_INFO_V1(apikey_current_owner);
PG_FUNCTION_INFO_V1(apikey_current_key_id);


/* ---- reading one top-level field of a JSON object ---- */

typedef struct AkJsonField
{
	const char *field;
	int			depth;
	bool		in_field;
	char	   *value;
} AkJsonField;

static AK_JSON_ACTION
ak_json_object_start(void *state)
{
	((AkJsonField *) state)->depth++;
	AK_JSON_ACTION_DONE;
}

static AK_JSON_ACTION
ak_json_object_end(void *state)
{
	((AkJsonField *) state)->depth--;
	AK_JSON_ACTION_DONE;
}

static AK_JSON_ACTION
ak_json_field_start(void *state, char *fname, bool isnull)
{
	AkJsonField *f = (AkJsonField *) state;

	f->in_field = (f->depth == 1 && strcmp(fname, f->field) == 0);
	AK_JSON_ACTION_DONE;
}

static AK_JSON_ACTION
ak_json_scalar(void *state, char *token, JsonTokenType tokentype)
{
	AkJsonField *f = (AkJsonField *) state;

	if (f->in_field && f->depth == 1)
	{
		/* the last occurrence wins, as in PostgREST's JSON decoding */
		f->value = (tokentype == JSON_TOKEN_NULL) ? NULL : pstrdup(token);
		f->in_field = false;
	}
	AK_JSON_ACTION_DONE;
}

/*
 * The value of a top-level scalar field of a JSON object as text, or NULL
 * when the text is not JSON, not an object, or has no such scalar.  Never
 * raises an error: request settings come from outside.
 */
char *
ak_json_get_string(const char *json, const char *field)
{
	JsonLexContext *lex;
	JsonSemAction sem;
	AkJsonField state;

	if (json == NULL || *json == '\0')
		return NULL;

	memset(&state, 0, sizeof(state));
	state.field = field;
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &state;
	sem.object_start = ak_json_object_start;
	sem.object_end = ak_json_object_end;
	sem.object_field_start = ak_json_field_start;
	sem.scalar = ak_json_scalar;

	lex = ak_make_json_lex(unconstify(char *, json), strlen(json));
	if (pg_parse_json(lex, &sem) != JSON_SUCCESS)
		return NULL;
	return state.value;
}


/*
 * An IP address from untrusted text (a header), or NULL if it is not one.
 * inet_in would raise an error; this never does.
 */
inet *
ak_parse_inet(const char *s, size_t len)
{
	char		buf[64];
	unsigned char addr[16];

	while (len > 0 && isspace((unsigned char) *s))
		s++, len--;
	while (len > 0 && isspace((unsigned char) s[len - 1]))
		len--;
	if (len == 0 || len >= sizeof(buf))
		return NULL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (pg_inet_net_pton(PGSQL_AF_INET, buf, addr, sizeof(addr)) < 0 &&
		pg_inet_net_pton(PGSQL_AF_INET6, buf, addr, sizeof(addr)) < 0)
		return NULL;
	return DatumGetInetPP(DirectFunctionCall1(inet_in, CStringGetDatum(buf)));
}

char	   *ak_client_ip_header = NULL;

/*
 * The client address of the current PostgREST request: the first hop of
 * the apikey.client_ip_header header (x-forwarded-for) in request.headers,
 * or NULL.
 */
inet *
ak_request_client_ip(void)
{
	const char *headers = GetConfigOption("request.headers", true, false);
	char	   *value = ak_json_get_string(headers, ak_client_ip_header);

	if (value == NULL)
		return NULL;
	return ak_parse_inet(value, strcspn(value, ","));
}


/* ---- the caller ---- */

bool
ak_caller_is_admin(void)
{
	Oid			caller = GetOuterUserId();
	Oid			admin;

	if (superuser_arg(caller))
		return true;
	admin = get_role_oid(AK_ADMIN_ROLE, true);
	return OidIsValid(admin) && has_privs_of_role(caller, admin);
}

static bool
ak_in_postgrest_request(void)
{
	const char *method = GetConfigOption("request.method", true, false);

	return method != NULL && *method != '\0';
}

/* The "sub" claim of request.jwt.claims, parsed once per distinct value. */
static const char *
ak_jwt_subject(void)
{
	const char *claims = GetConfigOption("request.jwt.claims", true, false);

	if (claims == NULL || *claims == '\0')
		return NULL;
	if (ak_claims_seen == NULL || strcmp(claims, ak_claims_seen) != 0)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
		char	   *sub;

		if (ak_claims_seen)
			pfree(ak_claims_seen);
		if (ak_claims_sub)
			pfree(ak_claims_sub);
		ak_claims_seen = pstrdup(claims);
		sub = ak_json_get_string(claims, "sub");
		ak_claims_sub = (sub && *sub) ? sub : NULL;
		MemoryContextSwitchTo(old);
	}
	return ak_claims_sub;
}

text *
ak_current_owner(void)
{
	const char *sub;

	if (ak_identity_valid)
		return cstring_to_text(ak_identity_owner);
	sub = ak_jwt_subject();
	if (sub)
		return cstring_to_text(sub);
	if (ak_in_postgrest_request())
		return NULL;
	return cstring_to_text(GetUserNameFromId(GetOuterUserId(), false));
}

/* The actor of an audit row: the verified key, the JWT subject, or the role. */
char *
ak_current_actor(void)
{
	const char *sub;

	if (ak_identity_valid)
		return psprintf("key:%s", ak_identity_display);
	sub = ak_jwt_subject();
	if (sub)
		return pstrdup(sub);
	return GetUserNameFromId(GetOuterUserId(), false);
}

/*
 * Raises 42501 unless the caller is an admin or acts for owner.  "what"
 * describes the action for the message ("revoke this key").
 */
void
ak_require_owner_or_admin(text *owner, const char *what)
{
	text	   *me;

	if (ak_caller_is_admin())
		return;
	me = ak_current_owner();
	if (me != NULL && owner != NULL &&
		VARSIZE_ANY_EXHDR(me) == VARSIZE_ANY_EXHDR(owner) &&
		memcmp(VARDATA_ANY(me), VARDATA_ANY(owner), VARSIZE_ANY_EXHDR(me)) == 0)
		return;

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to %s", what),
			 errdetail(me ? "Only its owner or a member of apikey_admin may do this."
					   : "The caller acts for no owner: no verified key, no JWT subject."),
			 errhint("Grant the role apikey_admin to manage keys of every owner.")));
}


/* ---- the key verified in this transaction ---- */

static void
ak_identity_xact_callback(XactEvent event, void *arg)
{
	if (ak_xact_ends(event))
		ak_identity_valid = false;
}

void
ak_identity_set(const AkKeyInfo *key)
{
	if (!ak_identity_callback_registered)
	{
		RegisterXactCallback(ak_identity_xact_callback, NULL);
		ak_identity_callback_registered = true;
	}
	ak_identity_key_id = key->id;
	text_to_cstring_buffer(key->owner, ak_identity_owner, sizeof(ak_identity_owner));
	strlcpy(ak_identity_display, key->display_prefix, sizeof(ak_identity_display));
	ak_identity_valid = true;
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
	if (!ak_identity_valid)
		PG_RETURN_NULL();
	id = palloc(sizeof(pg_uuid_t));
	*id = ak_identity_key_id;
	PG_RETURN_UUID_P(id);
}
