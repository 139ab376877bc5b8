/*-------------------------------------------------------------------------
 *
 * keyshare.h
 *	  The shared key cache, under every backend's own (keyshare.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_KEYSHARE_H
#define AK_KEYSHARE_H

#include "auth/keyinfo.h"
#include "port/atomics.h"

/* What a miss of the backend's cache noted before reading the tables. */
typedef struct AkKeyShareRead
{
	uint64		generation;
	uint64		ring_seen;
	const pg_atomic_uint64 *ring_next;
	Oid			keys_relid;
} AkKeyShareRead;

extern void ak_keyshare_request(void);
extern void ak_keyshare_attach(void);

extern bool ak_keyshare_usable(void);
extern void ak_keyshare_begin(AkKeyShareRead *r, const pg_atomic_uint64 *ring_next);
extern AkKeyInfo *ak_keyshare_get(const AkKeyShareRead *r, const uint8 *digest,
								  MemoryContext dest);
extern void ak_keyshare_put(const AkKeyShareRead *r, const uint8 *digest,
							const AkKeyInfo *info);

extern void ak_keyshare_prepare(Oid relid, const uint8 *digest);
extern void ak_keyshare_forget(const uint8 *digest);
extern int64 ak_keyshare_count(void);

#endif							/* AK_KEYSHARE_H */
