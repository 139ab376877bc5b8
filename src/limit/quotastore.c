/*-------------------------------------------------------------------------
 *
 * quotastore.c
 *	  A key's daily and monthly counts, in a quota counter: a cell of the
 *	  shared table (cells.c) that takes the quota decision under its
 *	  spinlock, and the list of counters the worker has to write.
 *
 * A counter that changed is dirty and queued on the dirty list until the
 * worker collects it (then flushing, until its write commits): such a
 * counter is pinned, never removed, so the list only ever points at live
 * counters.  On a hot standby no worker writes counts, so counters there
 * are never marked, and stay evictable once their periods are over.
 *
 * Locking protocol
 *	  A counter's state is its cell's spinlock's (cells.c).  The dirty list
 *	  (AkQuotaDirty) is protected by its own spinlock, taken alone, never
 *	  while a cell's spinlock is held: a backend appends a counter after
 *	  releasing the counter's spinlock.  The worker swaps the halves under
 *	  that spinlock and then reads its half without it: backends only ever
 *	  write to the other one.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "access/xlog.h"
#include "core/guc.h"
#include "limit/quotastore.h"
#include "storage/shmem.h"

const int	ak_alert_percent[AK_NUM_ALERTS] = {80, 95};

/*
 * Quota counters the worker has to write: two halves of max_buckets each.
 * Backends append to the active half; the worker swaps halves and reads
 * the other one at leisure.
 */
typedef struct AkQuotaDirty
{
	slock_t		mutex;
	int			max;
	int			active;
	int			count[2];
	AkCell	   *list[FLEXIBLE_ARRAY_MEMBER];
} AkQuotaDirty;

static AkQuotaDirty *ak_dirty = NULL;


/* ---- shared memory ---- */

Size
ak_quota_dirty_shmem_size(void)
{
	return add_size(offsetof(AkQuotaDirty, list),
					mul_size(2 * sizeof(AkCell *), ak_max_buckets));
}

/* Caller holds AddinShmemInitLock. */
void
ak_quota_dirty_shmem_init(void)
{
	bool		found;

	ak_dirty = ShmemInitStruct("apikey quota dirty list",
							   ak_quota_dirty_shmem_size(), &found);
	if (!found)
	{
		SpinLockInit(&ak_dirty->mutex);
		ak_dirty->max = ak_max_buckets;
		ak_dirty->active = 0;
		ak_dirty->count[0] = ak_dirty->count[1] = 0;
	}
}


/* ---- the decision ---- */

/* The alerts a count has reached: bit i for ak_alert_percent[i]. */
static inline uint8
ak_alerts_reached(int64 used, int64 quota)
{
	uint8		reached = 0;

	if (quota > 0)
		for (int i = 0; i < AK_NUM_ALERTS; i++)
			if ((int128) used * 100 >= (int128) quota * ak_alert_percent[i])
				reached |= (uint8) (1 << i);
	return reached;
}

/*
 * Moves a counter to the request's day and month.  A new counter starts
 * from the key row's counts, when they are of the current periods (the
 * worker wrote them; they are what a restart after a crash has), with the
 * alerts they reached already sent; a counter entering a new period starts
 * at zero.  A request from a period already over counts in the current one.
 * Caller holds the spinlock.
 */
static inline void
ak_quota_roll(AkQuotaCounter *q, const AkQuotaRequest *req)
{
	for (int p = 0; p < AK_NUM_PERIODS; p++)
	{
		if (q->period[p] >= req->period[p])
			continue;
		if (q->period[p] == AK_QUOTA_UNSEEDED &&
			req->seed_period[p] == req->period[p])
		{
			q->used[p] = req->seed_used[p];
			q->alerted[p] = ak_alerts_reached(q->used[p], req->quota[p]);
		}
		else
		{
			q->used[p] = 0;
			q->alerted[p] = 0;
		}
		q->period[p] = req->period[p];
	}
}

/*
 * Marks a counter changed; true if the caller must queue it.  Not on a
 * standby (track false).  Caller holds the spinlock.
 */
static inline bool
ak_quota_mark_dirty(AkQuotaCounter *q, bool track)
{
	bool		queue = !q->queued;

	if (!track)
		return false;
	q->dirty = true;
	q->queued = true;
	return queue;
}

/*
 * Appends a counter to the active half of the dirty list.  A counter is
 * there at most once (its queued flag) and every counter is a cell, so a
 * half never holds more than max_buckets.
 */
static void
ak_quota_queue(AkCell *c)
{
	int			half;

	SpinLockAcquire(&ak_dirty->mutex);
	half = ak_dirty->active;
	if (likely(ak_dirty->count[half] < ak_dirty->max))
		ak_dirty->list[half * ak_dirty->max + ak_dirty->count[half]++] = c;
	SpinLockRelease(&ak_dirty->mutex);
}

/*
 * The quota decision, under the counter's spinlock: roll, compare, debit.
 * Caller holds the spinlock.
 */
static inline void
ak_quota_decide(AkQuotaCounter *q, const AkQuotaRequest *req, int64 cost,
				bool track, AkQuotaOutcome *out)
{
	bool		admit = true;

	ak_quota_roll(q, req);
	for (int p = 0; p < AK_NUM_PERIODS; p++)
	{
		out->refused[p] = req->quota[p] >= 0 && q->used[p] + cost > req->quota[p];
		admit &= !out->refused[p];
	}
	if (admit && cost > 0)
	{
		for (int p = 0; p < AK_NUM_PERIODS; p++)
		{
			uint8		reached;

			q->used[p] += cost;
			reached = ak_alerts_reached(q->used[p], req->quota[p]);
			out->crossed[p] = reached & ~q->alerted[p];
			q->alerted[p] |= reached;
		}
		out->queue = ak_quota_mark_dirty(q, track);
	}
	for (int p = 0; p < AK_NUM_PERIODS; p++)
		out->used[p] = q->used[p];
}

/*
 * Debits cost from both quotas of a subject (a key's lineage), or from neither.
 * *hint is where the counter was last seen (NULL: not known); it is tried
 * first, with no partition lock, and refreshed.
 */
AkDebit
ak_quota_counter_debit(const uint8 *subject, const AkQuotaRequest *req,
					   int64 cost, int64 now_us, AkQuotaOutcome *out,
					   void **hint)
{
	AkCellKey	key;
	bool		track = !RecoveryInProgress();

	memset(out, 0, sizeof(*out));
	ak_cell_key(&key, AK_CELL_QUOTA, subject, 0);
	if (*hint != NULL && ak_cell_lock_if_holds((AkCell *) *hint, &key))
	{
		ak_quota_decide(&((AkCell *) *hint)->u.quota, req, cost, track, out);
		ak_cell_unlock((AkCell *) *hint);
	}
	else
	{
		uint32		hash = ak_shash_hash(&ak_cells, &key);
		AkCell	   *c;

		if (!ak_cells_find(&key, &hash, 1, &c, now_us, true))
			return AK_DEBIT_NO_ROOM;
		ak_cell_lock(c);
		ak_quota_decide(&c->u.quota, req, cost, track, out);
		ak_cell_unlock(c);
		ak_cells_release(hash);
		*hint = c;
	}
	if (out->queue)
		ak_quota_queue(*hint);
	for (int p = 0; p < AK_NUM_PERIODS; p++)
		if (out->refused[p])
			return AK_DEBIT_REJECTED;
	return AK_DEBIT_OK;
}

/*
 * The refund, under the counter's spinlock: the counts of the given
 * periods drop by cost, and the alerts in uncross are forgotten.
 */
static inline bool
ak_quota_give_back(AkQuotaCounter *q, const int32 *period, int64 cost,
				   const uint8 *uncross, bool track)
{
	for (int p = 0; p < AK_NUM_PERIODS; p++)
		if (q->period[p] == period[p])
		{
			q->used[p] = Max(q->used[p] - cost, 0);
			if (uncross)
				q->alerted[p] &= ~uncross[p];
		}
	return ak_quota_mark_dirty(q, track);
}

/*
 * Gives cost back to the counts of the given periods (a refusal later in
 * the same request, or a rollback), and forgets the alerts in uncross, if
 * any, so that they are sent when really crossed.  A counter that has moved
 * on to another period keeps its count; one that is gone was idle.
 */
void
ak_quota_counter_refund(const uint8 *subject, const int32 *period, int64 cost,
						const uint8 *uncross, void **hint)
{
	AkCellKey	key;
	AkCell	   *c = *hint;
	bool		queue = false;
	bool		track = !RecoveryInProgress();

	ak_cell_key(&key, AK_CELL_QUOTA, subject, 0);
	if (c != NULL && ak_cell_lock_if_holds(c, &key))
	{
		queue = ak_quota_give_back(&c->u.quota, period, cost, uncross, track);
		ak_cell_unlock(c);
	}
	else
	{
		uint32		hash = ak_shash_hash(&ak_cells, &key);

		(void) ak_cells_find(&key, &hash, 1, &c, 0, false);
		if (c != NULL && ak_cell_lock_if_holds(c, &key))
		{
			queue = ak_quota_give_back(&c->u.quota, period, cost, uncross, track);
			ak_cell_unlock(c);
		}
		ak_cells_release(hash);
		*hint = c;
	}
	if (queue)
		ak_quota_queue(c);
}


/* ---- the worker's side ---- */

/*
 * Takes every counter queued since the last call, marks it flushing and
 * returns its counts (palloc'd, in *out).
 */
int
ak_quota_counters_collect(AkQuotaFlush **out)
{
	AkCell	  **list;
	int			half;
	int			n;
	int			m = 0;
	AkQuotaFlush *items;

	SpinLockAcquire(&ak_dirty->mutex);
	half = ak_dirty->active;
	ak_dirty->active = 1 - half;
	n = ak_dirty->count[half];
	ak_dirty->count[half] = 0;
	SpinLockRelease(&ak_dirty->mutex);

	/* backends now append to the other half: this one is the worker's */
	list = &ak_dirty->list[half * ak_dirty->max];
	items = palloc(Max(n, 1) * sizeof(AkQuotaFlush));
	for (int i = 0; i < n; i++)
	{
		AkCell	   *c = list[i];
		AkQuotaCounter *q = &c->u.quota;
		AkQuotaFlush *item = &items[m];
		bool		taken;

		ak_cell_lock(c);
		taken = c->header.live && c->key.kind == AK_CELL_QUOTA && q->queued;
		if (taken)
		{
			memcpy(item->period, q->period, sizeof(item->period));
			memcpy(item->used, q->used, sizeof(item->used));
			q->queued = false;
			q->dirty = false;
			q->flushing = true;
		}
		ak_cell_unlock(c);
		if (taken)
		{
			memcpy(&item->lineage, c->key.id, sizeof(pg_uuid_t));
			item->counter = c;
			m++;
		}
	}
	*out = items;
	return m;
}

/* After the worker's write: committed (ok) or to be written again. */
void
ak_quota_counters_flushed(const AkQuotaFlush *items, int n, bool ok)
{
	bool		track = !RecoveryInProgress();

	for (int i = 0; i < n; i++)
	{
		AkCell	   *c = items[i].counter;
		bool		queue = false;

		ak_cell_lock(c);
		c->u.quota.flushing = false;
		if (!ok)
			queue = ak_quota_mark_dirty(&c->u.quota, track);
		ak_cell_unlock(c);
		if (queue)
			ak_quota_queue(c);
	}
}
