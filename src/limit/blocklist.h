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
#include "port/atomics.h"

/* What a backend knows of the blocks; the ranges themselves are blocklist.c's. */
typedef struct AkBlocklistState
{
	pg_atomic_uint64 *generation;	/* shared: advanced by every change */
	uint64		read_generation;	/* the one the ranges were read at */
	int64		next_end_us;	/* the earliest end of a block read */
	int64		read_at_us;		/* the time they were read at */
	bool		valid;
	int			nglobal;		/* ranges blocked for every request */
	int			nowned;			/* ranges blocked for one owner's keys */
} AkBlocklistState;

extern AkBlocklistState ak_blocklist;

extern Size ak_blocklist_shmem_size(void);
extern void ak_blocklist_shmem_init(void);
extern void ak_blocklist_load(int64 now_us);

/*
 * Whether any address is blocked at now_us, after making sure the ranges
 * are those in force: one atomic read when nothing changed.  Inline: every
 * check() with a client address asks.
 */
static inline bool
ak_blocklist_any(int64 now_us)
{
	AkBlocklistState *b = &ak_blocklist;

	if (unlikely(!b->valid || now_us >= b->next_end_us || now_us < b->read_at_us ||
				 pg_atomic_read_u64(b->generation) != b->read_generation))
		ak_blocklist_load(now_us);
	return b->nglobal + b->nowned > 0;
}

extern bool ak_blocklist_match(const inet *ip, int64 *until_us);
extern bool ak_blocklist_match_owner(const text *owner, const inet *ip,
									 int64 *until_us);

extern void ak_blocklist_changed(Oid relid);
extern void ak_blocklist_at_xact_end(XactEvent event);
extern void ak_blocklist_at_subxact_end(SubXactEvent event);

/* An address as 16 bytes: IPv4 as IPv4-mapped IPv6, as cidr's range ends. */
extern void ak_address_bytes(const inet *ip, uint8 *out);
extern void ak_cidr_range(const inet *cidr, uint8 *lo, uint8 *hi);

#endif							/* AK_BLOCKLIST_H */
