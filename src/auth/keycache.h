/*-------------------------------------------------------------------------
 *
 * keycache.h
 *	  The verification cache: each backend's map from token digest to key,
 *	  kept exact by transactional invalidation (keycache.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_KEYCACHE_H
#define AK_KEYCACHE_H

#include "access/xact.h"
#include "auth/keyinfo.h"

extern bool ak_keycache_probe(const uint8 *digest, const AkKeyInfo **key);
extern const AkKeyInfo *ak_keycache_fill(const uint8 *digest);
extern const AkKeyInfo *ak_keycache_lookup_id(const pg_uuid_t *id);

extern void ak_keycache_note_change(Oid relid, const uint8 *digest);
extern void ak_keycache_at_xact_end(XactEvent event);
extern void ak_keycache_at_subxact_end(SubXactEvent event);

#endif							/* AK_KEYCACHE_H */
