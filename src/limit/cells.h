/*-------------------------------------------------------------------------
 *
 * cells.h
 *	  The shared tables of apikey's limiter state: token buckets,
 *	  concurrency counters and abuse cooldowns, each a cell (cells.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_CELLS_H
#define AK_CELLS_H

#include "core/clock.h"
#include "core/subject.h"
#include "limit/gcra.h"
#include "port/atomics.h"
#include "shmem/shash.h"

typedef enum AkCellKind
{
	AK_CELL_KEY_LIMIT = 1,		/* a token bucket per limit of a key */
	AK_CELL_IP,					/* a token bucket per client address */
	AK_CELL_NAMED,				/* a token bucket per throttle() name */
	AK_CELL_CONCURRENCY,		/* requests in flight per key */
	AK_CELL_ABUSE_IP,			/* failed verifications per address */
	AK_CELL_ABUSE_PREFIX,		/* failed verifications per display prefix */
	AK_CELL_QUOTA,				/* a key's daily and monthly counts */
	AK_CELL_OWNER_LIMIT,		/* a token bucket per limit of an owner: its
								 * owner limits, or its certificates' tier */
	AK_CELL_ANON_LIMIT			/* a token bucket per anonymous tier limit
								 * and address */
} AkCellKind;

typedef struct AkCellKey
{
	uint8		kind;			/* AkCellKind */
	uint8		pad[3];
	uint32		tag;			/* which limit of a key; 0 otherwise */
	uint8		id[AK_SUBJECT_ID_LEN];	/* the subject */
} AkCellKey;

typedef union AkCellState
{
	AkGcra		gcra;			/* buckets and cooldowns */
} AkCellState;

typedef struct AkCell
{
	AkCellKey	key;			/* hash key, must be first */
	AkShashEntry header;		/* spinlock and live flag */
	int32		count;			/* concurrency counters: requests in flight */
	AkCellState u;
} AkCell;

/*
 * A role's throttle() buckets in a database (named.c): a role may keep
 * apikey.max_named_buckets_per_role of them live.
 */
typedef struct AkNamedOwnerKey
{
	Oid			dboid;
	Oid			roleid;
} AkNamedOwnerKey;

typedef struct AkNamedOwner
{
	AkNamedOwnerKey key;		/* hash key, must be first */
	AkShashEntry header;
	pg_atomic_uint32 buckets;	/* live named cells it owns */
} AkNamedOwner;

/*
 * A throttle() bucket also remembers whose it is and the parameters it was
 * made with: a call with others is an error while it holds tokens in use.
 */
typedef struct AkNamedCell
{
	AkCell		cell;
	Oid			dboid;
	Oid			roleid;			/* InvalidOid: a name shared by all roles */
	int64		rate;
	int64		period_us;
	int64		burst;
	dsa_pointer owner;			/* the role's count of named buckets */
} AkNamedCell;

/* The outcome of a debit. */
typedef enum AkDebit
{
	AK_DEBIT_OK,
	AK_DEBIT_REJECTED,
	AK_DEBIT_NO_ROOM			/* the table is full */
} AkDebit;

/* The tables of cells, one per class of memory (area.h). */
typedef enum AkCellTable
{
	AK_TABLE_KEY,				/* AK_CELL_KEY_LIMIT, AK_CELL_CONCURRENCY,
								 * AK_CELL_OWNER_LIMIT */
	AK_TABLE_ADDRESS,			/* AK_CELL_IP, AK_CELL_ANON_LIMIT */
	AK_TABLE_NAMED,				/* AK_CELL_NAMED */
	AK_TABLE_COOLDOWN,			/* AK_CELL_ABUSE_IP, AK_CELL_ABUSE_PREFIX */
	AK_NUM_CELL_TABLES
} AkCellTable;

extern AkShash ak_cell_tables[AK_NUM_CELL_TABLES];

extern void ak_cells_request(void);
extern void ak_cells_attach(void);
extern void ak_cell_key(AkCellKey *key, AkCellKind kind, const uint8 *id, uint32 tag);
extern uint32 ak_cell_hash(const AkCellKey *key);
extern bool ak_cells_find(const AkCellKey *keys, const uint32 *hash, int n,
						  AkCell **found, int64 now_us, bool create);
extern bool ak_cells_find_with(const AkCellKey *keys, const uint32 *hash, int n,
							   AkCell **found, int64 now_us, const void *init_arg);
extern void ak_cells_release(const AkCellKey *key, uint32 hash);
extern int64 ak_cells_count(AkCellKind kind);
extern void ak_cells_usage(int64 *in_use, int64 *capacity);
extern int64 ak_cells_sweep(AkCellTable table, int64 now_us);
extern bool ak_cells_restore(const AkCellKey *key, const AkCellState *state);

typedef bool (*AkCellPredicate) (const AkCell *cell, void *arg);
extern int64 ak_cells_remove_if(AkCellTable table, AkCellPredicate pred, void *arg);
extern int64 ak_cells_reset(AkCellTable table);
extern int	ak_cell_table_named(const char *class);

/* The table a kind of cell lives in. */
static inline AkCellTable
ak_cell_table_of(AkCellKind kind)
{
	switch (kind)
	{
		case AK_CELL_IP:
		case AK_CELL_ANON_LIMIT:
			return AK_TABLE_ADDRESS;
		case AK_CELL_NAMED:
			return AK_TABLE_NAMED;
		case AK_CELL_ABUSE_IP:
		case AK_CELL_ABUSE_PREFIX:
			return AK_TABLE_COOLDOWN;
		default:
			return AK_TABLE_KEY;
	}
}

/* The table's protocol (shmem/shash.h) for cells, with constant sizes. */
static inline void
ak_cell_lock(AkCell *c)
{
	ak_shash_lock(&c->header);
}

static inline void
ak_cell_unlock(AkCell *c)
{
	ak_shash_unlock(&c->header);
}

static inline bool
ak_cell_lock_if_holds(AkCell *c, const AkCellKey *key)
{
	return ak_shash_lock_if_holds(&c->header, c, key, sizeof(AkCellKey));
}

static inline bool
ak_cells_lock_all_if_hold(AkCell **cells, int n, const AkCellKey *keys, bool check)
{
	return ak_shash_lock_all_if_hold((void **) cells, n, keys, sizeof(AkCellKey),
									 offsetof(AkCell, header), check);
}

static inline void
ak_cells_unlock_all(AkCell **cells, int n)
{
	ak_shash_unlock_all((void **) cells, n, offsetof(AkCell, header));
}

/*
 * Whether a cell holds no information any more: a full bucket, a free
 * counter, an expired cooldown.  Caller holds its spinlock.
 */
static inline bool
ak_cell_idle(const AkCell *cell, int64 now_us)
{
	switch ((AkCellKind) cell->key.kind)
	{
		case AK_CELL_CONCURRENCY:
			return cell->count == 0;
		case AK_CELL_ABUSE_IP:
		case AK_CELL_ABUSE_PREFIX:
			return ak_gcra_full(&cell->u.gcra, now_us) && cell->u.gcra.until_us <= now_us;
		default:
			return ak_gcra_full(&cell->u.gcra, now_us);
	}
}

#endif							/* AK_CELLS_H */
