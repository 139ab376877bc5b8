/*-------------------------------------------------------------------------
 *
 * cooldowns.h
 *	  The abuse cooldowns in force, listed and lifted by admins
 *	  (cooldowns.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_COOLDOWNS_H
#define AK_COOLDOWNS_H

#include "core/subject.h"

/* A cooldown in force: of an address (its /64 for IPv6) or a display prefix. */
typedef struct AkCooldown
{
	bool		address;		/* else a display prefix */
	uint8		subject[AK_SUBJECT_ID_LEN];
	int64		until_us;
} AkCooldown;

extern int	ak_cooldowns_list(int64 now_us, AkCooldown **out);
extern inet *ak_cooldown_address(const AkCooldown *c);
extern int	ak_cooldowns_lift_addresses(const inet *cidr, int64 now_us);
extern bool ak_cooldown_lift_prefix(const char *display, size_t len, int64 now_us);

#endif							/* AK_COOLDOWNS_H */
