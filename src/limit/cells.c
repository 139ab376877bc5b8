/*-------------------------------------------------------------------------
 *
 * cells.c
 *	  The shared tables of apikey's limiter state: a cell per token bucket
 *	  (a key's limit, a client address, a throttle() name), per key's
 *	  concurrency counter and per abuse cooldown (address, display prefix).
 *	  Each class has its own table in its own share of
 *	  apikey.shared_memory_budget (shmem/area.h), so that no class can take
 *	  the room of another: made-up throttle() names or addresses cannot
 *	  crowd out keys' buckets.  Each kind's operations live in their own
 *	  file: buckets.c, slots.c, abuse.c, named.c; persist.c saves the
 *	  tables across a clean restart.
 *
 * Every cell of a subject hashes to the same partition: the low bits of
 * the hash, which pick the partition, depend on kind and subject only, so
 * a key's limits are found, and debited together, under one partition
 * lock.  A cell that holds no information (a full bucket, a free counter,
 * an expired cooldown) is idle and may be reused when room is needed.
 *
 * Locking protocol
 *	  Each table is a shash (shmem/shash.h) whose LWLock tranche is named
 *	  after it, and follows its protocol; a cell's count and state (u) are
 *	  its spinlock's, and so are a named cell's parameters.  A concurrency
 *	  counter that a backend holds (count > 0) is never removed, so that
 *	  backend releases it with the spinlock alone.  The counts of cells per
 *	  kind are atomics, changed when a cell is made and when it is retired.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "common/hashfn.h"
#include "core/guc.h"
#include "limit/cells.h"
#include "port/atomics.h"
#include "storage/shmem.h"

static uint32 ak_cell_hash_fn(const void *key, Size keysize);
static void ak_cell_init(void *entry, const void *arg);
static bool ak_cell_retire(void *entry, int64 now_us);
static void ak_named_cell_init(void *entry, const void *arg);
static bool ak_named_cell_retire(void *entry, int64 now_us);

/* The partitions of the tables: what the hash's low bits pick. */
#define AK_KEY_PARTITIONS		128
#define AK_ADDRESS_PARTITIONS	64
#define AK_NAMED_PARTITIONS		64
#define AK_COOLDOWN_PARTITIONS	16
#define AK_MAX_PARTITIONS		128

#define AK_CELL_SPEC(tname, class, parts) \
	{ \
		.name = tname, \
		.mem_class = class, \
		.keysize = sizeof(AkCellKey), \
		.entrysize = sizeof(AkCell), \
		.header_offset = offsetof(AkCell, header), \
		.partitions = parts, \
		.hash = ak_cell_hash_fn, \
		.max_entries = &ak_max_buckets, \
		.init = ak_cell_init, \
		.retire = ak_cell_retire, \
	}

static const AkShashSpec ak_cell_specs[AK_NUM_CELL_TABLES] = {
	[AK_TABLE_KEY] = AK_CELL_SPEC("apikey key buckets", AK_MEM_KEY, AK_KEY_PARTITIONS),
	[AK_TABLE_ADDRESS] = AK_CELL_SPEC("apikey address buckets", AK_MEM_ADDRESS,
									  AK_ADDRESS_PARTITIONS),
	[AK_TABLE_NAMED] = {
		.name = "apikey named buckets",
		.mem_class = AK_MEM_NAMED,
		.keysize = sizeof(AkCellKey),
		.entrysize = sizeof(AkNamedCell),
		.header_offset = offsetof(AkCell, header),
		.partitions = AK_NAMED_PARTITIONS,
		.hash = ak_cell_hash_fn,
		.max_entries = &ak_max_buckets,
		.init = ak_named_cell_init,
		.retire = ak_named_cell_retire,
	},
	[AK_TABLE_COOLDOWN] = AK_CELL_SPEC("apikey cooldowns", AK_MEM_COOLDOWN,
									   AK_COOLDOWN_PARTITIONS),
};

AkShash		ak_cell_tables[AK_NUM_CELL_TABLES];

/* Cells per kind (AkCellKind indexes it). */
#define AK_NUM_CELL_KINDS	(AK_CELL_ANON_LIMIT + 1)	/* the last kind's + 1 */
static pg_atomic_uint64 *ak_cell_counts = NULL;


/*
 * The partition (the low bits) depends on kind and subject only, so that
 * every cell of a subject is in one partition; the tag varies the high
 * bits.  The low bits are the same for every table's partition count.
 */
static uint32
ak_cell_hash_fn(const void *key, Size keysize)
{
	const AkCellKey *k = (const AkCellKey *) key;
	uint32		subject = hash_bytes_extended(k->id, AK_SUBJECT_ID_LEN, k->kind);
	uint32		full = hash_combine(subject, murmurhash32(k->tag));

	return (full & ~(uint32) (AK_MAX_PARTITIONS - 1)) |
		(subject & (AK_MAX_PARTITIONS - 1));
}

uint32
ak_cell_hash(const AkCellKey *key)
{
	return ak_cell_hash_fn(key, sizeof(AkCellKey));
}

void
ak_cell_key(AkCellKey *key, AkCellKind kind, const uint8 *id, uint32 tag)
{
	memset(key, 0, sizeof(*key));
	key->kind = (uint8) kind;
	key->tag = tag;
	memcpy(key->id, id, AK_SUBJECT_ID_LEN);
}

static Size
ak_cell_counts_size(void)
{
	return mul_size(AK_NUM_CELL_KINDS, sizeof(pg_atomic_uint64));
}

void
ak_cells_request(void)
{
	for (int t = 0; t < AK_NUM_CELL_TABLES; t++)
		ak_shash_request(&ak_cell_specs[t]);
	RequestAddinShmemSpace(ak_cell_counts_size());
}

/* Caller holds AddinShmemInitLock. */
void
ak_cells_attach(void)
{
	bool		found;

	for (int t = 0; t < AK_NUM_CELL_TABLES; t++)
		ak_shash_attach(&ak_cell_tables[t], &ak_cell_specs[t]);
	ak_cell_counts = ShmemInitStruct("apikey cell counts", ak_cell_counts_size(), &found);
	if (!found)
		for (int k = 0; k < AK_NUM_CELL_KINDS; k++)
			pg_atomic_init_u64(&ak_cell_counts[k], 0);
}

/* A new cell: a full bucket, a free counter. */
static void
ak_cell_init(void *entry, const void *arg)
{
	AkCell	   *c = entry;

	memset(&c->u, 0, sizeof(c->u));
	c->u.gcra.scale = 1;
	c->count = 0;
	pg_atomic_fetch_add_u64(&ak_cell_counts[c->key.kind], 1);
}

/* The test of reuse and sweeps: an idle cell stops being live. */
static bool
ak_cell_retire(void *entry, int64 now_us)
{
	AkCell	   *cell = entry;
	bool		idle;

	ak_cell_lock(cell);
	idle = ak_cell_idle(cell, now_us);
	if (idle)
		ak_shash_retire_locked(&cell->header);
	ak_cell_unlock(cell);
	if (idle)
		pg_atomic_fetch_sub_u64(&ak_cell_counts[cell->key.kind], 1);
	return idle;
}

/*
 * A new throttle() bucket, with its owner and parameters (arg, the
 * creator's prototype, whose count it sets to tell the creator that its
 * reservation of a bucket was used: named.c).
 */
static void
ak_named_cell_init(void *entry, const void *arg)
{
	AkNamedCell *n = entry;
	AkNamedCell *proto = (AkNamedCell *) arg;

	ak_cell_init(entry, NULL);
	proto->cell.count = 1;
	n->dboid = proto->dboid;
	n->roleid = proto->roleid;
	n->rate = proto->rate;
	n->period_us = proto->period_us;
	n->burst = proto->burst;
	n->owner = proto->owner;
}

/* A named cell left: its owner has one bucket less. */
static void
ak_named_cell_forget(AkNamedCell *n)
{
	AkNamedOwner *owner = ak_shash_entry_at(n->owner);

	pg_atomic_fetch_sub_u32(&owner->buckets, 1);
}

static bool
ak_named_cell_retire(void *entry, int64 now_us)
{
	if (!ak_cell_retire(entry, now_us))
		return false;
	ak_named_cell_forget(entry);
	return true;
}

/*
 * Finds the n cells keys[] (all of one kind and subject, hash[]), creating
 * the missing ones if create.  Returns with the partition lock held
 * (release it with ak_cells_release), or false -- without the lock -- when
 * the table has no room even for reuse.
 */
bool
ak_cells_find(const AkCellKey *keys, const uint32 *hash, int n, AkCell **found,
			  int64 now_us, bool create)
{
	AkShash    *sh = &ak_cell_tables[ak_cell_table_of(keys[0].kind)];

	return ak_shash_find(sh, keys, hash, n, (void **) found, create, NULL, now_us);
}

/* ak_cells_find creating with init_arg (a named cell's AkNamedCell). */
bool
ak_cells_find_with(const AkCellKey *keys, const uint32 *hash, int n,
				   AkCell **found, int64 now_us, const void *init_arg)
{
	AkShash    *sh = &ak_cell_tables[ak_cell_table_of(keys[0].kind)];

	return ak_shash_find(sh, keys, hash, n, (void **) found, true, init_arg, now_us);
}

void
ak_cells_release(const AkCellKey *key, uint32 hash)
{
	ak_shash_release(&ak_cell_tables[ak_cell_table_of(key->kind)], hash);
}

/* Cells of a kind now. */
int64
ak_cells_count(AkCellKind kind)
{
	return (int64) pg_atomic_read_u64(&ak_cell_counts[kind]);
}

/*
 * Cells of all tables, and what the tables can hold: their classes'
 * guaranteed shares (or apikey.max_buckets each), at their entry sizes.
 */
void
ak_cells_usage(int64 *in_use, int64 *capacity)
{
	AkAreaUsage area;

	ak_area_usage(&area);
	*in_use = 0;
	*capacity = 0;
	for (int t = 0; t < AK_NUM_CELL_TABLES; t++)
	{
		const AkShashSpec *spec = &ak_cell_specs[t];
		int64		fits = ak_area_share(spec->mem_class) /
			(int64) (spec->entrysize + sizeof(dsa_pointer));

		*in_use += ak_shash_count(&ak_cell_tables[t]);
		*capacity += ak_max_buckets > 0 ? Min(fits, ak_max_buckets) : fits;
	}
}

/* Retires every idle cell of a table; returns how many. */
int64
ak_cells_sweep(AkCellTable table, int64 now_us)
{
	return ak_shash_sweep(&ak_cell_tables[table], now_us);
}

typedef struct AkRemoveIf
{
	AkCellTable table;
	AkCellPredicate pred;
	void	   *arg;
	int64		removed;
} AkRemoveIf;

static bool
ak_cells_remove_visit(void *entry, void *arg)
{
	AkCell	   *cell = entry;
	AkRemoveIf *r = arg;
	bool		remove;

	ak_cell_lock(cell);
	remove = cell->header.live && r->pred(cell, r->arg);
	if (remove)
		ak_shash_retire_locked(&cell->header);
	ak_cell_unlock(cell);
	if (!remove)
		return false;
	pg_atomic_fetch_sub_u64(&ak_cell_counts[cell->key.kind], 1);
	if (r->table == AK_TABLE_NAMED)
		ak_named_cell_forget((AkNamedCell *) cell);
	r->removed++;
	return true;
}

/*
 * Removes the cells of a table for which pred(cell, arg) holds, whatever
 * they hold (an administrator's clearing); returns how many.  pred runs
 * under the cell's spinlock: a few comparisons.
 */
int64
ak_cells_remove_if(AkCellTable table, AkCellPredicate pred, void *arg)
{
	AkRemoveIf	r = {table, pred, arg, 0};

	ak_shash_scan(&ak_cell_tables[table], LW_EXCLUSIVE, ak_cells_remove_visit, &r);
	return r.removed;
}

/*
 * Puts back a cell saved at the last shutdown (persist.c), unless it exists
 * already; false when there is no room.
 */
bool
ak_cells_restore(const AkCellKey *key, const AkCellState *state)
{
	uint32		hash = ak_cell_hash(key);
	AkCell	   *cell;

	if (!ak_cells_find(key, &hash, 1, &cell, 0, true))
		return false;
	ak_cell_lock(cell);
	if (cell->u.gcra.tat == 0)
	{
		cell->u = *state;
		cell->u.gcra.scale = Max(cell->u.gcra.scale, 1);
	}
	ak_cell_unlock(cell);
	ak_cells_release(key, hash);
	return true;
}

/* Any cell but a concurrency counter that a request holds. */
static bool
ak_cell_not_held(const AkCell *cell, void *arg)
{
	return !(cell->key.kind == AK_CELL_CONCURRENCY && cell->count > 0);
}

/*
 * Forgets every cell of a table, as a restart without the dump file would,
 * but the concurrency counters requests hold; returns how many.
 */
int64
ak_cells_reset(AkCellTable table)
{
	return ak_cells_remove_if(table, ak_cell_not_held, NULL);
}

/* The table of a class named as apikey.bucket_use names it; -1: none. */
int
ak_cell_table_named(const char *class)
{
	static const char *const names[AK_NUM_CELL_TABLES] = {
		[AK_TABLE_KEY] = "key",
		[AK_TABLE_ADDRESS] = "address",
		[AK_TABLE_NAMED] = "named",
		[AK_TABLE_COOLDOWN] = "cooldown",
	};

	for (int t = 0; t < AK_NUM_CELL_TABLES; t++)
		if (strcmp(class, names[t]) == 0)
			return t;
	return -1;
}
