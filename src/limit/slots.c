/*-------------------------------------------------------------------------
 *
 * slots.c
 *	  Requests in flight.  A key's concurrency counter is a cell (cells.c)
 *	  whose count is its requests in flight; a held counter (count > 0) is
 *	  never removed, so its holder releases it with the spinlock alone.
 *	  The server-wide count is one atomic.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "core/clock.h"
#include "limit/slots.h"
#include "port/atomics.h"
#include "storage/shmem.h"

/* admitted requests whose transaction runs, across the server */
static pg_atomic_uint32 *ak_inflight = NULL;

Size
ak_inflight_shmem_size(void)
{
	return sizeof(pg_atomic_uint32);
}

/* Caller holds AddinShmemInitLock. */
void
ak_inflight_shmem_init(void)
{
	bool		found;

	ak_inflight = ShmemInitStruct("apikey inflight", sizeof(pg_atomic_uint32), &found);
	if (!found)
		pg_atomic_init_u32(ak_inflight, 0);
}

/*
 * Takes one of max slots of a subject into *slot: AK_DEBIT_REJECTED when
 * all are taken, AK_DEBIT_NO_ROOM when the table is full.
 */
AkDebit
ak_slot_acquire(const uint8 *subject, int32 max, AkCell **slot)
{
	AkCellKey	key;
	uint32		hash;
	AkCell	   *c;
	bool		taken = false;

	ak_cell_key(&key, AK_CELL_CONCURRENCY, subject, 0);
	hash = ak_cell_hash(&key);
	if (!ak_cells_find(&key, &hash, 1, &c, ak_now_us(), true))
		return AK_DEBIT_NO_ROOM;
	ak_cell_lock(c);
	if (c->count < max)
	{
		c->count++;
		taken = true;
	}
	ak_cell_unlock(c);
	ak_cells_release(&key, hash);
	*slot = c;
	return taken ? AK_DEBIT_OK : AK_DEBIT_REJECTED;
}

/* No partition lock needed: a counter with a holder is never removed. */
void
ak_slot_release(AkCell *slot)
{
	ak_cell_lock(slot);
	Assert(slot->count > 0);
	slot->count--;
	ak_cell_unlock(slot);
}

/* How many slots of a subject are taken; nothing is created. */
int32
ak_slot_in_use(const uint8 *subject)
{
	AkCellKey	key;
	uint32		hash;
	AkCell	   *c;
	int32		count = 0;

	ak_cell_key(&key, AK_CELL_CONCURRENCY, subject, 0);
	hash = ak_cell_hash(&key);
	(void) ak_cells_find(&key, &hash, 1, &c, ak_now_us(), false);
	if (c != NULL)
	{
		ak_cell_lock(c);
		count = c->count;
		ak_cell_unlock(c);
	}
	ak_cells_release(&key, hash);
	return count;
}

/* The server-wide count of admitted requests in flight, capped at max. */
bool
ak_inflight_acquire(int max)
{
	if (pg_atomic_add_fetch_u32(ak_inflight, 1) > (uint32) max)
	{
		pg_atomic_sub_fetch_u32(ak_inflight, 1);
		return false;
	}
	return true;
}

void
ak_inflight_release(void)
{
	pg_atomic_sub_fetch_u32(ak_inflight, 1);
}

/* Requests in flight across the server, now. */
int
ak_inflight_in_use(void)
{
	return (int) pg_atomic_read_u32(ak_inflight);
}
