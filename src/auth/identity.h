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

extern bool ak_caller_is_admin(void);
extern text *ak_current_owner(void);
extern char *ak_current_actor(void);
extern void ak_require_owner_or_admin(text *owner, const char *what);

extern void ak_identity_set(const AkKeyInfo *key);
extern void ak_identity_set_certificate(const char *owner, const char *display);
extern bool ak_identity_key_id(pg_uuid_t *id);
extern void ak_identity_at_xact_end(XactEvent event);

#endif							/* AK_IDENTITY_H */
