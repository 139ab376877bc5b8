/*-------------------------------------------------------------------------
 *
 * identity.h
 *	  Who is calling (identity.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_IDENTITY_H
#define AK_IDENTITY_H

#include "access/xact.h"
#include "auth/keyinfo.h"

#define AK_ADMIN_ROLE		"apikey_admin"

/* Who made a change, for its audit row. */
typedef struct AkActor
{
	char	   *role;			/* the current role (SET ROLE's) */
	char	   *session_role;	/* the role the session logged in as */
	char	   *subject;		/* the JWT subject of a PostgREST request, or NULL */
	bool		has_key;		/* a stored key was verified by check_request() */
	pg_uuid_t	key_id;
} AkActor;

extern bool ak_caller_is_admin(void);
extern text *ak_current_owner(void);
extern void ak_current_actor(AkActor *actor);
extern char *ak_actor_name(void);
extern bool ak_caller_owns(text *owner);
extern void ak_require_owner_or_admin(text *owner, const char *what);
extern bool ak_key_visible(const AkKeyInfo *key);

extern void ak_identity_set(const AkKeyInfo *key);
extern void ak_identity_set_certificate(const char *owner, const char *display);
extern bool ak_identity_key_id(pg_uuid_t *id);
extern bool ak_identity_by_key(pg_uuid_t *id, bool *stored);

extern void ak_identity_note_verified(const AkKeyInfo *key);
extern bool ak_identity_verified(const pg_uuid_t *id);

extern void ak_identity_at_xact_end(XactEvent event);

#endif							/* AK_IDENTITY_H */
