/*-------------------------------------------------------------------------
 *
 * keyinfo.h
 *	  What verification and the limiter know about a key, and the bounds on
 *	  what a key may carry.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_KEYINFO_H
#define AK_KEYINFO_H

#include <sys/socket.h>			/* AF_INET, for utils/inet.h */

#include "core/clock.h"
#include "core/limits.h"
#include "utils/array.h"
#include "utils/inet.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

/* bounds on what a key may carry */
#define AK_MAX_TEXT_LEN		256 /* owner, org, name, scope, tier */
#define AK_MAX_SCOPES		64
#define AK_MAX_ALLOWED_IPS	64

/* The names of an owner's limits in the headers: "owner.<name>". */
#define AK_OWNER_POLICY_PREFIX	"owner."

/* Priorities of keys and tiers under apikey.max_inflight: 0 is shed first. */
#define AK_MIN_PRIORITY		0
#define AK_MAX_PRIORITY		3

/*
 * The limits every key of an owner shares (apikey.owner_limits), read with
 * the key and packed in its chunk.  Their cells' subject is id.
 */
typedef struct AkOwnerLimits
{
	pg_uuid_t	id;
	int			nlimits;		/* enforced ones first, then shadow ones */
	int			nenforced;
	AkLimit    *limits;
	int64		quota[AK_NUM_PERIODS];	/* daily, monthly; -1: none */
	int32		max_concurrency;	/* 0: none */
	void	  **cell_hints;		/* one per limit, then the quota counter */

	/*
	 * RateLimit-Policy of the key's enforced limits followed by the
	 * owner's ("owner.<name>"): what an admitted request reports, unless
	 * quotas are reported too.
	 */
	char	   *policy_header;
} AkOwnerLimits;

/*
 * A key, packed into one allocation (keyread.c).  Varlena fields point into
 * the same chunk so they can be handed to heap_form_tuple as they are.  The
 * fields check() reads come first, and the chunk holds their data first: a
 * cached verification touches as few cache lines as it can.
 */
typedef struct AkKeyInfo
{
	/* what every check() reads */
	pg_uuid_t	id;
	pg_uuid_t	lineage;		/* the rotation chain: its buckets' subject */
	TimestampTz expires_at;		/* DT_NOEND when the key never expires */
	TimestampTz revoked_at;		/* DT_NOEND when not revoked */
	bool		rotated;		/* rotated_to is set */
	int16		nscopes;
	int16		nallowed;		/* 0: no allowlist */
	int32		max_concurrency;	/* 0: none */
	int			nlimits;		/* effective limits: the key's own, else its tier's */
	int			nenforced;		/* limits[nenforced..] are shadow limits */
	AkLimit    *limits;
	bool		disabled;		/* paused by disable() */

	/*
	 * Whether the key has any limit beyond its buckets -- quotas, uses, a
	 * concurrency limit, shadow limits, owner limits: without, check()
	 * skips every step of theirs at once.
	 */
	bool		extras;
	int16		priority;		/* the key's, else its tier's */
	int64		max_uses;		/* -1: none */
	const AkOwnerLimits *owner_limits;	/* NULL: its owner has none */

	/*
	 * Where the limiter last found this key's shared-memory cells: one per
	 * limit, then the quota counter, then the uses counter.  Opaque here;
	 * see limit/cells.h.
	 */
	void	  **cell_hints;
	char	   *policy_header;	/* RateLimit-Policy for these limits */
	text	   *owner;			/* columns of the result rows */
	ArrayType  *scopes_array;
	text	   *tier;
	bool		stored;			/* a row of apikey.keys (not the static key) */
	int64		quota[AK_NUM_PERIODS];	/* daily, monthly; -1: none */

	/* the rest: verify()'s other columns, scope and address checks */
	char	   *display_prefix;
	text	   *org;			/* may be NULL */
	text	   *name;			/* may be NULL */
	Jsonb	   *metadata;
	char	  **scopes;
	inet	  **allowed;
	uint32		packed_size;	/* the bytes of the chunk */
} AkKeyInfo;

/* The hint of the quota counter, after those of the limits. */
static inline void **
ak_key_quota_hint(const AkKeyInfo *key)
{
	return &key->cell_hints[key->nlimits];
}

/* The hint of the uses counter (max_uses), after the quota counter's. */
static inline void **
ak_key_uses_hint(const AkKeyInfo *key)
{
	return &key->cell_hints[key->nlimits + 1];
}

/* The hint of an owner's quota counter, after those of its limits. */
static inline void **
ak_owner_quota_hint(const AkOwnerLimits *owner)
{
	return &owner->cell_hints[owner->nlimits];
}

#endif							/* AK_KEYINFO_H */
