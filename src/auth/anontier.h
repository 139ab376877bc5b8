/*-------------------------------------------------------------------------
 *
 * anontier.h
 *	  The limits of apikey.anonymous_tier: what requests without a key get,
 *	  per client address (anontier.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_ANONTIER_H
#define AK_ANONTIER_H

#include "core/limits.h"

/* The anonymous tier as a backend keeps it. */
typedef struct AkAnonTier
{
	bool		enabled;		/* apikey.anonymous_tier names a tier */
	int			nlimits;
	int			nenforced;		/* the rest are shadow limits */
	AkLimit		limits[AK_MAX_LIMITS];
	char	   *policy_header;	/* RateLimit-Policy of the enforced ones */
} AkAnonTier;

extern const AkAnonTier *ak_anonymous_tier(void);

#endif							/* AK_ANONTIER_H */
