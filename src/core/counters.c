/*-------------------------------------------------------------------------
 *
 * counters.c
 *	  The live counters behind the apikey.stats view: requests, outcomes,
 *	  cache hits, what was dropped.
 *
 * Locking protocol
 *	  None is needed.  Each backend owns one slot of counters, padded to
 *	  whole cache lines and indexed by its backend number, and is the only
 *	  writer of that slot, so an increment is a plain atomic read and write
 *	  with no read-modify-write cycle and no cache line shared between
 *	  backends.  A process without a backend number (there should be none)
 *	  uses the last slot with atomic adds.  Readers sum all slots with
 *	  atomic 64-bit reads: a total may miss increments still in flight,
 *	  never shows a torn value, and never goes backwards because slots
 *	  outlive the backends that filled them.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "core/counters.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/shmem.h"

typedef union AkCounterSlot
{
	pg_atomic_uint64 value[AK_NUM_COUNTERS];
	char		pad[TYPEALIGN(PG_CACHE_LINE_SIZE,
							  AK_NUM_COUNTERS * sizeof(pg_atomic_uint64))];
} AkCounterSlot;

static AkCounterSlot *ak_counter_slots = NULL;	/* MaxBackends + 1 */
static AkCounterSlot *ak_my_slot = NULL;

static Size
ak_slots_size(void)
{
	return mul_size(MaxBackends + 1, sizeof(AkCounterSlot));
}

/* The slots must start on a cache line boundary: room to align them. */
Size
ak_counters_shmem_size(void)
{
	return add_size(ak_slots_size(), PG_CACHE_LINE_SIZE);
}

/* Caller holds AddinShmemInitLock. */
void
ak_counters_shmem_init(void)
{
	bool		found;
	char	   *raw;

	/* reset in case this is a restart within the postmaster */
	ak_counter_slots = NULL;
	ak_my_slot = NULL;

	raw = ShmemInitStruct("apikey counters", ak_counters_shmem_size(), &found);
	ak_counter_slots = (AkCounterSlot *) TYPEALIGN(PG_CACHE_LINE_SIZE, raw);
	if (!found)
	{
		for (int i = 0; i <= MaxBackends; i++)
			for (int c = 0; c < AK_NUM_COUNTERS; c++)
				pg_atomic_init_u64(&ak_counter_slots[i].value[c], 0);
	}
}

void
ak_count(AkCounter counter)
{
	ak_count_by(counter, 1);
}

/* Adds n to a counter. */
void
ak_count_by(AkCounter counter, uint64 n)
{
	pg_atomic_uint64 *value;

	if (unlikely(ak_my_slot == NULL))
	{
		int			index = AK_MY_BACKEND_INDEX();

		if (ak_counter_slots == NULL)
			return;
		if (index < 0 || index >= MaxBackends)
		{
			pg_atomic_fetch_add_u64(&ak_counter_slots[MaxBackends].value[counter], n);
			return;
		}
		ak_my_slot = &ak_counter_slots[index];
	}

	value = &ak_my_slot->value[counter];
	pg_atomic_write_u64(value, pg_atomic_read_u64(value) + n);
}

uint64
ak_counter_total(AkCounter counter)
{
	uint64		total = 0;

	if (ak_counter_slots == NULL)
		return 0;
	for (int i = 0; i <= MaxBackends; i++)
		total += pg_atomic_read_u64(&ak_counter_slots[i].value[counter]);
	return total;
}
