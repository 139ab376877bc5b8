/*-------------------------------------------------------------------------
 *
 * cells.c
 *	  The shared table of apikey's limiter state, bounded by
 *	  apikey.max_buckets: a cell per token bucket (a key's limit, a client
 *	  address, a throttle() name), per key's concurrency counter, per abuse
 *	  cooldown (address, display prefix) and per key's quota counter.  Each
 *	  kind's operations live in their own file: buckets.c, slots.c,
 *	  abuse.c, quotastore.c; persist.c saves the table across a clean
 *	  restart.
 *
 * Every cell of a subject hashes to the same partition: the low bits of
 * the hash, which pick the partition, depend on kind and subject only, so
 * a key's limits are found, and debited together, under one partition
 * lock.  A cell that holds no information (a full bucket, a free counter,
 * an expired cooldown, a written counter of past periods) is idle and may
 * be removed when room is needed.
 *
 * Locking protocol
 *	  The table is a shash (shmem/shash.h) of AK_CELL_PARTITIONS partitions,
 *	  tranche "apikey buckets", and follows its protocol; a cell's count and
 *	  state (u) are its spinlock's.  Two kinds pin their cells: a
 *	  concurrency counter that a backend holds (count > 0) is never removed,
 *	  so that backend releases it with the spinlock alone; a quota counter
 *	  that is dirty, queued or flushing is never removed, so the worker's
 *	  dirty list only ever points at live counters (quotastore.c).
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "common/hashfn.h"
#include "core/guc.h"
#include "limit/cells.h"

#define AK_CELL_PARTITIONS	128 /* a power of 2 */

static uint32 ak_cell_hash(const void *key, Size keysize);
static void ak_cell_init(void *entry, const void *arg);
static bool ak_cell_retire(void *entry, int64 now_us);

static const AkShashSpec ak_cells_spec = {
	.name = "apikey buckets",
	.keysize = sizeof(AkCellKey),
	.entrysize = sizeof(AkCell),
	.header_offset = offsetof(AkCell, header),
	.partitions = AK_CELL_PARTITIONS,
	.hash = ak_cell_hash,
	.init = ak_cell_init,
	.retire = ak_cell_retire,
	.sweep_when_full = true,
};

AkShash		ak_cells;


/*
 * The partition (the low bits) depends on kind and subject only, so that
 * every cell of a subject is in one partition; the tag varies the high bits.
 */
static uint32
ak_cell_hash(const void *key, Size keysize)
{
	const AkCellKey *k = (const AkCellKey *) key;
	uint32		subject = hash_bytes_extended(k->id, AK_SUBJECT_ID_LEN, k->kind);
	uint32		full = hash_combine(subject, murmurhash32(k->tag));

	return (full & ~(uint32) (AK_CELL_PARTITIONS - 1)) |
		(subject & (AK_CELL_PARTITIONS - 1));
}

void
ak_cell_key(AkCellKey *key, AkCellKind kind, const uint8 *id, uint32 tag)
{
	memset(key, 0, sizeof(*key));
	key->kind = (uint8) kind;
	key->tag = tag;
	memcpy(key->id, id, AK_SUBJECT_ID_LEN);
}

void
ak_cells_request(void)
{
	ak_shash_request(&ak_cells_spec, ak_max_buckets);
}

/* Caller holds AddinShmemInitLock; true if the table was created. */
bool
ak_cells_attach(void)
{
	return ak_shash_attach(&ak_cells, &ak_cells_spec, ak_max_buckets);
}

/* A new cell: a full bucket, a free counter, a quota counter of no period. */
static void
ak_cell_init(void *entry, const void *arg)
{
	AkCell	   *c = entry;

	memset(&c->u, 0, sizeof(c->u));
	if (c->key.kind == AK_CELL_QUOTA)
		for (int p = 0; p < AK_NUM_PERIODS; p++)
			c->u.quota.period[p] = AK_QUOTA_UNSEEDED;
	else
		c->u.gcra.scale = 1;
	c->count = 0;
}

/*
 * Finds the n cells keys[] (all in one partition, hash[]), creating the
 * missing ones if create.  Returns with the partition lock held (release
 * it with ak_cells_release), or false -- without the lock -- when the
 * table has no room even after a sweep.
 */
bool
ak_cells_find(const AkCellKey *keys, const uint32 *hash, int n, AkCell **found,
			  int64 now_us, bool create)
{
	return ak_shash_find(&ak_cells, keys, hash, n, (void **) found, create,
						 NULL, now_us);
}

void
ak_cells_release(uint32 hash)
{
	LWLockRelease(ak_shash_partition_lock(&ak_cells, hash));
}

/* The sweep's test: an idle cell stops being live. */
static bool
ak_cell_retire(void *entry, int64 now_us)
{
	AkCell	   *cell = entry;
	int32		period[AK_NUM_PERIODS];
	bool		idle;

	ak_periods_at(now_us, period);
	ak_cell_lock(cell);
	idle = ak_cell_idle(cell, now_us, period);
	if (idle)
		ak_shash_retire_locked(&cell->header);
	ak_cell_unlock(cell);
	return idle;
}

void
ak_cells_usage(int64 *in_use, int64 *capacity)
{
	*in_use = ak_shash_count(&ak_cells);
	*capacity = ak_shash_capacity(&ak_cells);
}
