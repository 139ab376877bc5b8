/*-------------------------------------------------------------------------
 *
 * identity.c
 *	  Who is calling: the admin test, the owner on whose behalf a caller
 *	  acts (apikey.current_owner()), the actor written to the audit log,
 *	  the key verified by check_request() for this transaction
 *	  (apikey.current_key_id()), and the keys verified in it (consume()).
 *
 * The caller is the session's role as set by SET ROLE (PostgREST's
 * set_config('role', ..., true)), i.e. GetOuterUserId(): the management
 * functions are SECURITY DEFINER, so inside them the current user is the
 * extension's owner and says nothing about the caller.
 *
 * The identity rule, the one every reader of identity follows (the
 * row-level security of keys, audit_log and usage_hourly through
 * current_owner(); issue, update, revoke, rotate, exchange, consume,
 * introspect; the audit actor).  current_owner() is:
 *	  1. the owner of the key verified by check_request() in this
 *		 transaction, kept in backend memory and forgotten at transaction
 *		 end, so that no role can forge it with set_config(): the key
 *		 proves itself, whoever sent it;
 *	  2. in a request PostgREST runs -- the session user is one of
 *		 apikey.authenticator_roles and has switched to another role
 *		 (core/request.c) -- the "sub" claim of request.jwt.claims, which
 *		 PostgREST set from a JWT it checked, or NULL: the role of a
 *		 PostgREST request is shared by all its clients and owns nothing;
 *	  3. anywhere else, the name of the current role, whatever any
 *		 setting says.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "auth/identity.h"
#include "core/json.h"
#include "core/request.h"
#include "core/xactevent.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

/*
 * The key -- or the client certificate (is_key false) -- verified by
 * check_request() in the current transaction.
 */
static bool ak_identity_valid = false;
static bool ak_identity_is_key = false;
static bool ak_identity_stored = false;
static pg_uuid_t ak_identity_id;
static char ak_identity_owner[AK_MAX_TEXT_LEN + 1];

/*
 * The stored keys verified in the current transaction (verify(), check(),
 * check_request(), exchange()): the last one, and the earlier ones in a
 * set that lives in TopTransactionContext.  A transaction that verifies
 * one key, however often, never builds the set.
 */
static bool ak_last_verified_valid = false;
static pg_uuid_t ak_last_verified;
static HTAB *ak_verified_set = NULL;

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

/*
 * The "sub" claim of request.jwt.claims, parsed once per distinct value;
 * NULL outside a request PostgREST runs.
 */
static const char *
ak_jwt_subject(void)
{
	const char *claims = ak_request_setting("request.jwt.claims");

	if (claims == NULL)
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

/* current_owner(): see the identity rule above. */
text *
ak_current_owner(void)
{
	const char *sub;

	if (ak_identity_valid)
		return cstring_to_text(ak_identity_owner);
	if (ak_request_trusted())
	{
		sub = ak_jwt_subject();
		return sub ? cstring_to_text(sub) : NULL;
	}
	return cstring_to_text(GetUserNameFromId(GetOuterUserId(), false));
}

/*
 * The actor of an audit row: the real roles, current and session, the
 * subject a PostgREST request claims, and the key check_request() verified.
 */
void
ak_current_actor(AkActor *actor)
{
	const char *sub = ak_jwt_subject();

	actor->role = GetUserNameFromId(GetOuterUserId(), false);
	actor->session_role = GetUserNameFromId(GetSessionUserId(), false);
	actor->subject = sub ? pstrdup(sub) : NULL;
	actor->has_key = ak_identity_valid && ak_identity_is_key && ak_identity_stored;
	if (actor->has_key)
		actor->key_id = ak_identity_id;
}

/*
 * The actor as one name, for a created_by column: the key check_request()
 * verified ("key:" and its id), else the subject of a request PostgREST
 * runs ("sub:" and the claim), else the current role.  The audit row of the
 * same change has the whole actor.
 */
char *
ak_actor_name(void)
{
	const char *sub;

	if (ak_identity_valid && ak_identity_is_key && ak_identity_stored)
		return psprintf("key:%s", DatumGetCString(DirectFunctionCall1(uuid_out,
																	   UUIDPGetDatum(&ak_identity_id))));
	if (ak_request_trusted() && (sub = ak_jwt_subject()) != NULL)
		return psprintf("sub:%s", sub);
	return GetUserNameFromId(GetOuterUserId(), false);
}

/* Whether the caller acts for owner (current_owner() = owner). */
bool
ak_caller_owns(text *owner)
{
	text	   *me = ak_current_owner();

	return me != NULL && owner != NULL &&
		VARSIZE_ANY_EXHDR(me) == VARSIZE_ANY_EXHDR(owner) &&
		memcmp(VARDATA_ANY(me), VARDATA_ANY(owner), VARSIZE_ANY_EXHDR(me)) == 0;
}

/*
 * Raises 42501 unless the caller is an admin or acts for owner.  "what"
 * describes the action for the message ("revoke this key").
 */
void
ak_require_owner_or_admin(text *owner, const char *what)
{
	if (ak_caller_is_admin() || ak_caller_owns(owner))
		return;

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to %s", what),
			 errdetail(ak_current_owner() != NULL
					   ? "Only its owner or a member of apikey_admin may do this."
					   : "The caller acts for no owner: no verified key, no JWT subject."),
			 errhint("Grant the role apikey_admin to manage keys of every owner.")));
}


/* ---- the key verified in this transaction ---- */

/* check_request() admitted a request of key: it is the caller until the end. */
void
ak_identity_set(const AkKeyInfo *key)
{
	ak_identity_id = key->id;
	ak_identity_stored = key->stored;
	text_to_cstring_buffer(key->owner, ak_identity_owner, sizeof(ak_identity_owner));
	ak_identity_valid = true;
	ak_identity_is_key = true;
}

/*
 * check_request() admitted a request by its client certificate: its owner
 * is the caller until the end; there is no current key, and the actor of
 * audit rows is the role, as for any caller (display is the certificate's
 * name for messages).
 */
void
ak_identity_set_certificate(const char *owner, const char *display)
{
	strlcpy(ak_identity_owner, owner, sizeof(ak_identity_owner));
	ak_identity_valid = true;
	ak_identity_is_key = false;
	ak_identity_stored = false;
}

/* The key verified by check_request() in this transaction, if any. */
bool
ak_identity_key_id(pg_uuid_t *id)
{
	if (!ak_identity_valid || !ak_identity_is_key)
		return false;
	*id = ak_identity_id;
	return true;
}

/*
 * Whether the caller's identity comes from a key (check_request()): its id,
 * and whether it is a stored key (not the static development key).
 */
bool
ak_identity_by_key(pg_uuid_t *id, bool *stored)
{
	if (!ak_identity_valid || !ak_identity_is_key)
		return false;
	*id = ak_identity_id;
	*stored = ak_identity_stored;
	return true;
}


/* ---- the keys verified in this transaction ---- */

static void
ak_verified_set_add(const pg_uuid_t *id)
{
	if (ak_verified_set == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(pg_uuid_t);
		ctl.entrysize = sizeof(pg_uuid_t);
		ctl.hcxt = TopTransactionContext;
		ak_verified_set = hash_create("apikey verified keys", 16, &ctl,
									  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	(void) hash_search(ak_verified_set, id, HASH_ENTER, NULL);
}

/*
 * A token of this key verified VALID in the current transaction: whoever
 * holds the token may consume() the key until the transaction ends.
 */
void
ak_identity_note_verified(const AkKeyInfo *key)
{
	if (!key->stored)
		return;
	if (ak_last_verified_valid)
	{
		if (memcmp(&ak_last_verified, &key->id, sizeof(pg_uuid_t)) == 0)
			return;
		ak_verified_set_add(&ak_last_verified);
	}
	ak_last_verified = key->id;
	ak_last_verified_valid = true;
}

/* Whether a token of this key verified VALID in the current transaction. */
bool
ak_identity_verified(const pg_uuid_t *id)
{
	if (ak_last_verified_valid &&
		memcmp(&ak_last_verified, id, sizeof(pg_uuid_t)) == 0)
		return true;
	return ak_verified_set != NULL &&
		hash_search(ak_verified_set, id, HASH_FIND, NULL) != NULL;
}

void
ak_identity_at_xact_end(XactEvent event)
{
	if (!ak_xact_ends(event))
		return;
	ak_identity_valid = false;
	ak_last_verified_valid = false;
	ak_verified_set = NULL;		/* freed with TopTransactionContext */
}

/*
 * Whether the caller may see a key, as row-level security on apikey.keys
 * decides: admins see every key, owners their own.
 */
bool
ak_key_visible(const AkKeyInfo *key)
{
	text	   *me;

	if (ak_caller_is_admin())
		return true;
	me = ak_current_owner();
	return me != NULL && key->owner != NULL &&
		VARSIZE_ANY_EXHDR(me) == VARSIZE_ANY_EXHDR(key->owner) &&
		memcmp(VARDATA_ANY(me), VARDATA_ANY(key->owner), VARSIZE_ANY_EXHDR(me)) == 0;
}
