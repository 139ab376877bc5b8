/*-------------------------------------------------------------------------
 *
 * blocklist.h
 *	  Blocked client addresses, apikey.address_blocks, as each backend
 *	  keeps them: sorted ranges searched in O(log n) (blocklist.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_BLOCKLIST_H
#define AK_BLOCKLIST_H

#include "access/xact.h"
#include "core/subject.h"

extern Size ak_blocklist_shmem_size(void);
extern void ak_blocklist_shmem_init(void);

extern bool ak_blocklist_match(const inet *ip, int64 now_us, int64 *until_us);
extern bool ak_blocklist_match_owner(const text *owner, const inet *ip,
									 int64 now_us, int64 *until_us);

extern void ak_blocklist_changed(Oid relid);
extern void ak_blocklist_at_xact_end(XactEvent event);
extern void ak_blocklist_at_subxact_end(SubXactEvent event);

/* An address as 16 bytes: IPv4 as IPv4-mapped IPv6, as cidr's range ends. */
extern void ak_address_bytes(const inet *ip, uint8 *out);
extern void ak_cidr_range(const inet *cidr, uint8 *lo, uint8 *hi);

#endif							/* AK_BLOCKLIST_H */
