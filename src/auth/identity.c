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
#include "apikey.h"

#include "auth/identity.h"
#include "auth/token.h"
#include "core/json.h"
#include "core/request.h"
#include "core/xactevent.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

/*
 * The key -- or the client certificate (is_key false) -- verified by
 * check_request() in the current transaction.
 */
static bool ak_identity_valid = false;
static bool ak_identity_is_key = false;
static pg_uuid_t ak_identity_id;
static char ak_identity_owner[AK_MAX_TEXT_LEN + 1];
static char ak_identity_display[AK_DISPLAY_MAX_LEN + 1];

/* the last request.jwt.claims seen, and its "sub" */
static char *ak_claims_seen = NULL;
static char *ak_claims_sub = NULL;


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
	if (ak_in_request())
		return NULL;
	return cstring_to_text(GetUserNameFromId(GetOuterUserId(), false));
}

/* The actor of an audit row: the verified key, the JWT subject, or the role. */
char *
ak_current_actor(void)
{
	const char *sub;

	if (ak_identity_valid)
		return ak_identity_is_key ? psprintf("key:%s", ak_identity_display)
			: pstrdup(ak_identity_display);
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

/* check_request() admitted a request of key: it is the caller until the end. */
void
ak_identity_set(const AkKeyInfo *key)
{
	ak_identity_id = key->id;
	text_to_cstring_buffer(key->owner, ak_identity_owner, sizeof(ak_identity_owner));
	strlcpy(ak_identity_display, key->display_prefix, sizeof(ak_identity_display));
	ak_identity_valid = true;
	ak_identity_is_key = true;
}

/*
 * check_request() admitted a request by its client certificate: its owner
 * is the caller until the end, and display ("cert:...") the actor; there
 * is no current key.
 */
void
ak_identity_set_certificate(const char *owner, const char *display)
{
	strlcpy(ak_identity_owner, owner, sizeof(ak_identity_owner));
	strlcpy(ak_identity_display, display, sizeof(ak_identity_display));
	ak_identity_valid = true;
	ak_identity_is_key = false;
}

/* The key verified in this transaction, if any. */
bool
ak_identity_key_id(pg_uuid_t *id)
{
	if (!ak_identity_valid || !ak_identity_is_key)
		return false;
	*id = ak_identity_id;
	return true;
}

void
ak_identity_at_xact_end(XactEvent event)
{
	if (ak_xact_ends(event))
		ak_identity_valid = false;
}
