/*-------------------------------------------------------------------------
 *
 * rights.h
 *	  What a caller may do to keys: owners act within their rights, and a
 *	  key cannot widen itself (rights.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_RIGHTS_H
#define AK_RIGHTS_H

#include "datatype/timestamp.h"
#include "utils/array.h"

/* How far a key reaches: its scopes, allowlist and expiry. */
typedef struct AkKeyBounds
{
	ArrayType  *scopes;			/* text[]; NULL: none */
	ArrayType  *allowed_ips;	/* cidr[]; NULL: any address */
	bool		has_expiry;
	TimestampTz expires_at;
} AkKeyBounds;

extern void ak_rights_require_owner(text *owner, const char *action);
extern bool ak_rights_acting_key(AkKeyBounds *acting);
extern void ak_rights_check_scopes(const AkKeyBounds *acting, ArrayType *scopes,
								   const char *action);
extern void ak_rights_check_allowed_ips(const AkKeyBounds *acting, ArrayType *ips,
										const char *action);
extern void ak_rights_check_expiry(const AkKeyBounds *acting, bool has_expiry,
								   TimestampTz expires_at, const char *action);
extern void ak_rights_require_within(const AkKeyBounds *target, const char *action);

#endif							/* AK_RIGHTS_H */
