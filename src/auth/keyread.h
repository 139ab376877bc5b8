/*-------------------------------------------------------------------------
 *
 * keyread.h
 *	  Reading a key from apikey.keys and its tier from apikey.tiers,
 *	  through their indexes (keyread.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_KEYREAD_H
#define AK_KEYREAD_H

#include "auth/keyinfo.h"

extern AkKeyInfo *ak_key_read_by_digest(const uint8 *digest, MemoryContext dest);
extern AkKeyInfo *ak_key_read_by_id(const pg_uuid_t *id, MemoryContext dest,
									uint8 *digest);
extern bool ak_keyread_reads(Oid relid);
extern bool ak_keyread_tables_moved(void);
extern void ak_keyread_forget_owners(void);
extern Oid	ak_keyread_keys_relid(void);
extern Size ak_keyinfo_size(const AkKeyInfo *info);
extern void ak_keyinfo_relocate(AkKeyInfo *info, uintptr_t from);

#endif							/* AK_KEYREAD_H */
