/*-------------------------------------------------------------------------
 *
 * cells.h
 *	  The shared table of apikey's limiter state: token buckets, concurrency
 *	  counters, abuse cooldowns and quota counters, each a cell (cells.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_CELLS_H
#define AK_CELLS_H

#include "core/clock.h"
#include "core/subject.h"
#include "limit/gcra.h"
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
	AK_CELL_OWNER_LIMIT,		/* a token bucket per limit of an owner */
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

/* Alert thresholds, in percent of a quota: each announced once per period. */
#define AK_NUM_ALERTS		2

/*
 * A key's quota counts for the current day and month.  dirty: changed
 * since the worker last collected it; queued: in the dirty list; flushing:
 * collected, its write not yet committed.  A counter is idle (removable)
 * only when none of these holds and both its periods are over: until then
 * it is the only place its count is known.
 */
typedef struct AkQuotaCounter
{
	int64		used[AK_NUM_PERIODS];
	int32		period[AK_NUM_PERIODS];
	uint8		alerted[AK_NUM_PERIODS];	/* bit i: ak_alert_percent[i] sent */
	bool		dirty;
	bool		queued;
	bool		flushing;
} AkQuotaCounter;

#define AK_QUOTA_UNSEEDED	PG_INT32_MIN	/* a new counter's periods */

typedef union AkCellState
{
	AkGcra		gcra;			/* buckets and cooldowns */
	AkQuotaCounter quota;		/* AK_CELL_QUOTA */
} AkCellState;

typedef struct AkCell
{
	AkCellKey	key;			/* hash key, must be first */
	AkShashEntry header;		/* spinlock and live flag */
	int32		count;			/* concurrency counters: requests in flight */
	AkCellState u;
} AkCell;

/* The outcome of a debit. */
typedef enum AkDebit
{
	AK_DEBIT_OK,
	AK_DEBIT_REJECTED,
	AK_DEBIT_NO_ROOM			/* the table is full */
} AkDebit;

extern AkShash ak_cells;

extern void ak_cells_request(void);
extern bool ak_cells_attach(void);
extern void ak_cell_key(AkCellKey *key, AkCellKind kind, const uint8 *id, uint32 tag);
extern bool ak_cells_find(const AkCellKey *keys, const uint32 *hash, int n,
						  AkCell **found, int64 now_us, bool create);
extern void ak_cells_release(uint32 hash);
extern void ak_cells_usage(int64 *in_use, int64 *capacity);

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
 * Whether a cell holds no information any more.  Caller holds its
 * spinlock; period is the current day and month (ak_periods_at).
 */
static inline bool
ak_cell_idle(const AkCell *cell, int64 now_us, const int32 *period)
{
	const AkQuotaCounter *q = &cell->u.quota;

	switch ((AkCellKind) cell->key.kind)
	{
		case AK_CELL_CONCURRENCY:
			return cell->count == 0;
		case AK_CELL_ABUSE_IP:
		case AK_CELL_ABUSE_PREFIX:
			return ak_gcra_full(&cell->u.gcra, now_us) && cell->u.gcra.until_us <= now_us;
		case AK_CELL_QUOTA:
			return !q->dirty && !q->queued && !q->flushing &&
				q->period[AK_DAY] < period[AK_DAY] &&
				q->period[AK_MONTH] < period[AK_MONTH];
		default:
			return ak_gcra_full(&cell->u.gcra, now_us);
	}
}

#endif							/* AK_CELLS_H */
