/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  apikey's shared memory: the hooks that request and attach it, handing
 *	  each part to the file that owns it, and the counters behind the
 *	  apikey.stats view.
 *
 * Locking protocol (counters)
 *	  None is needed.  Each backend owns one slot of counters, padded to
 *	  whole cache lines and indexed by its backend id, and is the only
 *	  writer of that slot, so an increment is a plain atomic read and write
 *	  with no read-modify-write cycle and no cache line shared between
 *	  backends.  A process without a backend id (there should be none) uses
 *	  the last slot with atomic adds.  Readers sum all slots with atomic
 *	  64-bit reads: a total may miss increments still in flight, never
 *	  shows a torn value, and never goes backwards because slots outlive
 *	  the backends that filled them.
 *
 *	  The other parts of shared memory document their own protocol in the
 *	  file that owns them: keycache.c (the invalidation ring), bucket.c (the
 *	  rate-limit buckets and quota counters), usage.c (usage per key and
 *	  hour), events.c (the event queue), worker.c (the worker's state).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "apikey.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"

typedef union AkCounterSlot
{
	pg_atomic_uint64 value[AK_NUM_COUNTERS];
	char		pad[TYPEALIGN(PG_CACHE_LINE_SIZE,
							  AK_NUM_COUNTERS * sizeof(pg_atomic_uint64))];
} AkCounterSlot;

static AkCounterSlot *ak_counter_slots = NULL;	/* MaxBackends + 1 */
static AkCounterSlot *ak_my_slot = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static Size
ak_counters_size(void)
{
	return mul_size(MaxBackends + 1, sizeof(AkCounterSlot));
}

static void
ak_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();

	/* the slots must start on a cache line boundary */
	RequestAddinShmemSpace(add_size(ak_counters_size(), PG_CACHE_LINE_SIZE));
	ak_keycache_shmem_request();
	ak_bucket_shmem_request();
	ak_usage_shmem_request();
	ak_events_shmem_request();
	ak_worker_shmem_request();
}

static void
ak_shmem_startup(void)
{
	bool		found;
	char	   *raw;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	/* reset in case this is a restart within the postmaster */
	ak_counter_slots = NULL;
	ak_my_slot = NULL;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);

	raw = ShmemInitStruct("apikey counters",
						  add_size(ak_counters_size(), PG_CACHE_LINE_SIZE),
						  &found);
	ak_counter_slots = (AkCounterSlot *) TYPEALIGN(PG_CACHE_LINE_SIZE, raw);
	if (!found)
	{
		for (int i = 0; i <= MaxBackends; i++)
			for (int c = 0; c < AK_NUM_COUNTERS; c++)
				pg_atomic_init_u64(&ak_counter_slots[i].value[c], 0);
	}

	ak_keycache_shmem_startup();
	ak_bucket_shmem_startup();
	ak_usage_shmem_startup();
	ak_events_shmem_startup();
	ak_worker_shmem_startup();

	LWLockRelease(AddinShmemInitLock);
}

void
ak_shmem_install_hooks(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = ak_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = ak_shmem_startup;
}

/*
 * Gives every element of a fixed-size shared hash table its AkSharedEntry
 * (at entry_offset), once: each element is drawn from the free lists and
 * given back.  A spinlock is never initialized again after this, which is
 * what lets a backend lock an element it only remembers (a hint) without
 * any partition lock: the element may hold another entry by then, or none,
 * but it is always a valid spinlock.  Caller holds AddinShmemInitLock.
 */
void
ak_shmem_hash_prepare(HTAB *table, Size keysize, Size entry_offset)
{
	char		key[64];
	uint64		n;

	Assert(keysize <= sizeof(key) && keysize >= sizeof(n));
	memset(key, 0, sizeof(key));
	for (n = 0;; n++)
	{
		char	   *element;
		AkSharedEntry *entry;

		memcpy(key, &n, sizeof(n));
		element = hash_search(table, key, HASH_ENTER_NULL, NULL);
		if (element == NULL)
			break;
		entry = (AkSharedEntry *) (element + entry_offset);
		SpinLockInit(&entry->mutex);
		entry->live = false;
	}
	for (uint64 i = 0; i < n; i++)
	{
		memcpy(key, &i, sizeof(i));
		hash_search(table, key, HASH_REMOVE, NULL);
	}
}

void
ak_count(AkCounter counter)
{
	pg_atomic_uint64 *value;

	if (unlikely(ak_my_slot == NULL))
	{
		int			index = AK_MY_BACKEND_INDEX();

		if (ak_counter_slots == NULL)
			return;
		if (index < 0 || index >= MaxBackends)
		{
			pg_atomic_fetch_add_u64(&ak_counter_slots[MaxBackends].value[counter], 1);
			return;
		}
		ak_my_slot = &ak_counter_slots[index];
	}

	value = &ak_my_slot->value[counter];
	pg_atomic_write_u64(value, pg_atomic_read_u64(value) + 1);
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

/*
 * apikey._stats(): the live counters behind the apikey.stats view, summed
 * over every backend's slot.
 */
PG_FUNCTION_INFO_V1(apikey_stats);

Datum
apikey_stats(PG_FUNCTION_ARGS)
{
	static const AkCounter columns[] = {
		AK_REQUESTS, AK_VALID, AK_INVALID, AK_RATE_LIMITED, AK_QUOTA_EXCEEDED,
		AK_BLOCKED, AK_OVERLOADED, AK_CACHE_HITS, AK_CACHE_MISSES,
	};
	TupleDesc	desc;
	Datum		values[12];
	bool		nulls[12] = {false};
	int			n = 0;
	int64		in_use = 0;
	int64		capacity = 0;

	AK_REQUIRE_PRELOAD();
	desc = ak_result_tupdesc(fcinfo);
	ak_bucket_usage(&in_use, &capacity);
	for (int i = 0; i < lengthof(columns); i++)
		values[n++] = Int64GetDatum((int64) ak_counter_total(columns[i]));
	values[n++] = Int64GetDatum(in_use);
	values[n++] = Int64GetDatum(capacity);
	values[n++] = Int64GetDatum((int64) ak_counter_total(AK_EVENTS_DROPPED));
	Assert(n == desc->natts);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
