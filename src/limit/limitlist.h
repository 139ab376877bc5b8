/*-------------------------------------------------------------------------
 *
 * limitlist.h
 *	  Every limit that applies to a key, as it stands (limitlist.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_LIMITLIST_H
#define AK_LIMITLIST_H

#include "auth/keyinfo.h"

/* One limit of a key, as apikey.limits() lists it. */
typedef struct AkLimitRow
{
	const char *name;
	const char *kind;			/* rate_limit, quota, concurrency, uses */
	const char *applies_to;		/* key, owner */
	int64		limit_value;
	int64		remaining;
	int64		reset_at_us;	/* -1: none */
	bool		shadow;
} AkLimitRow;

typedef void (*AkLimitRowFn) (const AkLimitRow *row, void *arg);

extern void ak_key_limits_list(const AkKeyInfo *key, int64 now_us,
							   AkLimitRowFn fn, void *arg);

#endif							/* AK_LIMITLIST_H */
