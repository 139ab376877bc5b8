/*-------------------------------------------------------------------------
 *
 * quotastore.c
 *	  A subject's daily and monthly counts (a key's lineage: doc/apikey.md,
 *	  "Quotas") in a quota counter in shared memory, where the quota
 *	  decision is taken under the counter's spinlock; the worker writes the
 *	  counters that changed to apikey.quota_counters, and a counter that is
 *	  not in memory is read back from there.
 *
 * A counter is dirty from a change until the worker collects it, queued
 * while on the dirty list, flushing while its write is not committed,
 * pinned while a transaction may still give units back to it: it is then
 * the only place its count is known, and stays.  Any other counter is
 * clean -- its table row says the same -- and may leave shared memory
 * whenever room is needed, of whatever period: so the counters of keys
 * used once a month never lock other keys out.
 *
 * Reading a counter back is exact: the counter is made first, empty and
 * not loaded, then the row is read with a snapshot taken after that, and
 * the counts are set unless someone set them first.  Whatever was written
 * before the counter's last eviction was committed before that eviction
 * (a counter leaves only when clean), so that snapshot sees it; and from
 * the moment the new counter exists, every debit waits for it to be loaded.
 * Any backend that finds a counter not loaded loads it: loading is
 * idempotent, and a backend that dies loading blocks nobody.
 *
 * On a hot standby no worker writes counts: counters there are never
 * dirty, and are read from the rows the primary wrote.
 *
 * Locking protocol
 *	  The counters are a shash (shmem/shash.h), tranche "apikey quota
 *	  counters", and follow its protocol; a counter's state is its
 *	  spinlock's.  The dirty list is an intrusive list through the counters'
 *	  dirty_next, protected by its own spinlock, taken alone, never while a
 *	  counter's spinlock is held: a backend queues a counter after releasing
 *	  the counter's spinlock.  A counter is on the list iff it is queued, so
 *	  it is there once.  The worker of a database takes the whole list
 *	  under the spinlock, keeps its database's counters, and puts the
 *	  others back in one splice.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "access/xlog.h"
#include "core/guc.h"
#include "limit/quotaread.h"
#include "limit/quotastore.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/shmem.h"

const int	ak_alert_percent[AK_NUM_ALERTS] = {80, 95};

#define AK_QUOTA_PARTITIONS		128
#define AK_QUOTA_UNSEEDED		PG_INT32_MIN	/* a period never counted */

typedef struct AkQuotaCounter
{
	int64		used[AK_NUM_PERIODS];
	int32		period[AK_NUM_PERIODS];
	uint8		alerted[AK_NUM_PERIODS];	/* bit i: ak_alert_percent[i] sent */
	bool		loaded;			/* its counts were read from the table */
	bool		dirty;
	bool		queued;
	bool		flushing;
	int32		pins;
} AkQuotaCounter;

typedef struct AkQuotaCell
{
	AkCellKey	key;			/* kind AK_CELL_QUOTA, the subject, tag: the
								 * database */
	AkShashEntry header;
	dsa_pointer dirty_next;		/* the dirty list's */
	AkQuotaCounter q;
} AkQuotaCell;

typedef struct AkQuotaShared
{
	slock_t		mutex;			/* protects head */
	dsa_pointer head;			/* the dirty list */
} AkQuotaShared;

static void ak_quota_cell_init(void *entry, const void *arg);
static bool ak_quota_cell_retire(void *entry, int64 now_us);

static const AkShashSpec ak_quota_spec = {
	.name = "apikey quota counters",
	.mem_class = AK_MEM_QUOTA,
	.keysize = sizeof(AkCellKey),
	.entrysize = sizeof(AkQuotaCell),
	.header_offset = offsetof(AkQuotaCell, header),
	.partitions = AK_QUOTA_PARTITIONS,
	.max_entries = &ak_max_buckets,
	.init = ak_quota_cell_init,
	.retire = ak_quota_cell_retire,
};

static AkShash ak_quota;
static AkQuotaShared *ak_quota_shared = NULL;


/* ---- shared memory ---- */

void
ak_quota_store_request(void)
{
	ak_shash_request(&ak_quota_spec);
	RequestAddinShmemSpace(sizeof(AkQuotaShared));
}

/* Caller holds AddinShmemInitLock. */
void
ak_quota_store_attach(void)
{
	bool		found;

	ak_shash_attach(&ak_quota, &ak_quota_spec);
	ak_quota_shared = ShmemInitStruct("apikey quota dirty list",
									  sizeof(AkQuotaShared), &found);
	if (!found)
	{
		SpinLockInit(&ak_quota_shared->mutex);
		ak_quota_shared->head = InvalidDsaPointer;
	}
}

static void
ak_quota_cell_init(void *entry, const void *arg)
{
	AkQuotaCell *c = entry;

	memset(&c->q, 0, sizeof(c->q));
	c->dirty_next = InvalidDsaPointer;
}

/* Whether the table says all the counter knows. Caller holds its spinlock. */
static inline bool
ak_quota_clean(const AkQuotaCounter *q)
{
	return !q->dirty && !q->queued && !q->flushing && q->pins == 0;
}

static bool
ak_quota_cell_retire(void *entry, int64 now_us)
{
	AkQuotaCell *c = entry;
	bool		clean;

	ak_shash_lock(&c->header);
	clean = ak_quota_clean(&c->q);
	if (clean)
		ak_shash_retire_locked(&c->header);
	ak_shash_unlock(&c->header);
	return clean;
}

static inline bool
ak_quota_lock_if_holds(AkQuotaCell *c, const AkCellKey *key)
{
	return ak_shash_lock_if_holds(&c->header, c, key, sizeof(AkCellKey));
}

static inline void
ak_quota_unlock(AkQuotaCell *c)
{
	ak_shash_unlock(&c->header);
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
 * Sets a counter's counts from its row (counts NULL: it has none), the
 * alerts they reached already sent.  Caller holds the spinlock.
 */
static inline void
ak_quota_set_loaded(AkQuotaCounter *q, const AkQuotaCounts *counts,
					const int64 *quota)
{
	for (int p = 0; p < AK_NUM_PERIODS; p++)
	{
		q->period[p] = counts ? counts->period[p] : AK_QUOTA_UNSEEDED;
		q->used[p] = counts ? counts->used[p] : 0;
		q->alerted[p] = ak_alerts_reached(q->used[p], quota ? quota[p] : -1);
	}
	q->loaded = true;
}

/*
 * Moves a counter to the request's day and month: a period entered starts
 * at zero; a request from a period already over counts in the current one.
 * Caller holds the spinlock.
 */
static inline void
ak_quota_roll(AkQuotaCounter *q, const AkQuotaRequest *req)
{
	for (int p = 0; p < AK_NUM_PERIODS; p++)
		if (q->period[p] < req->period[p])
		{
			q->used[p] = 0;
			q->alerted[p] = 0;
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

/* Puts a counter on the dirty list.  Caller set its queued flag. */
static void
ak_quota_queue(AkQuotaCell *c)
{
	SpinLockAcquire(&ak_quota_shared->mutex);
	c->dirty_next = ak_quota_shared->head;
	ak_quota_shared->head = c->header.self;
	SpinLockRelease(&ak_quota_shared->mutex);
}

/*
 * The quota decision, under the counter's spinlock: roll, compare, debit.
 * Caller holds the spinlock.
 */
static inline void
ak_quota_decide(AkQuotaCounter *q, const AkQuotaRequest *req, int64 cost,
				bool pin, bool track, AkQuotaOutcome *out)
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
		if (pin)
			q->pins++;
	}
	for (int p = 0; p < AK_NUM_PERIODS; p++)
		out->used[p] = q->used[p];
}

/*
 * The counter of key, made (not loaded) if missing; NULL when there is no
 * room.  Returned unlocked: the caller locks it and checks it still holds
 * the key.
 */
static AkQuotaCell *
ak_quota_find(const AkCellKey *key, bool create, int64 now_us)
{
	uint32		hash = ak_shash_hash(&ak_quota, key);
	void	   *found;

	if (!ak_shash_find(&ak_quota, key, &hash, 1, &found, create, NULL, now_us))
		return NULL;
	ak_shash_release(&ak_quota, hash);
	return found;
}

/*
 * Loads a counter that was made not loaded: reads its row with a snapshot
 * taken now, then sets the counts if nobody did meanwhile.  False when the
 * counter left meanwhile.
 */
static bool
ak_quota_load(AkQuotaCell *c, const AkCellKey *key, const int64 *quota)
{
	AkQuotaCounts counts;
	bool		found = ak_quota_counts_read(key->id, &counts);

	if (!ak_quota_lock_if_holds(c, key))
		return false;
	if (!c->q.loaded)
		ak_quota_set_loaded(&c->q, found ? &counts : NULL, quota);
	ak_quota_unlock(c);
	return true;
}

/*
 * Locks the counter of key, loaded, trying *hint first and refreshing it.
 * False when there is no room for it (nothing locked).
 */
static bool
ak_quota_lock_loaded(const AkCellKey *key, const int64 *quota, bool create,
					 int64 now_us, AkQuotaCell **hint)
{
	for (;;)
	{
		AkQuotaCell *c = *hint;

		if (c == NULL || !ak_quota_lock_if_holds(c, key))
		{
			c = *hint = ak_quota_find(key, create, now_us);
			if (c == NULL)
				return false;
			if (!ak_quota_lock_if_holds(c, key))
				continue;
		}
		if (c->q.loaded)
			return true;
		ak_quota_unlock(c);
		if (!ak_quota_load(c, key, quota))
			*hint = NULL;
	}
}

static void
ak_quota_key(AkCellKey *key, const uint8 *subject)
{
	ak_cell_key(key, AK_CELL_QUOTA, subject, (uint32) MyDatabaseId);
}

/*
 * Debits cost from both quotas of a subject, or from neither; with pin,
 * an admitted debit keeps the counter in memory until
 * ak_quota_counter_unpin (a refund on rollback).  *hint is where the
 * counter was last seen (NULL: not known), tried first and refreshed.
 */
AkDebit
ak_quota_counter_debit(const uint8 *subject, const AkQuotaRequest *req,
					   int64 cost, bool pin, int64 now_us,
					   AkQuotaOutcome *out, void **hint)
{
	AkCellKey	key;
	AkQuotaCell *c;

	memset(out, 0, sizeof(*out));
	ak_quota_key(&key, subject);
	if (!ak_quota_lock_loaded(&key, req->quota, true, now_us, (AkQuotaCell **) hint))
		return AK_DEBIT_NO_ROOM;
	c = *hint;
	ak_quota_decide(&c->q, req, cost, pin, !RecoveryInProgress(), out);
	ak_quota_unlock(c);
	if (out->queue)
		ak_quota_queue(c);
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
 * the same request), and forgets the alerts in uncross, if any, so that
 * they are sent when really crossed.  A counter that has moved on to
 * another period keeps its count; one that left meanwhile is read back.
 */
void
ak_quota_counter_refund(const uint8 *subject, const int32 *period, int64 cost,
						const uint8 *uncross, void **hint)
{
	AkCellKey	key;
	AkQuotaCell *c;
	bool		queue;

	ak_quota_key(&key, subject);
	if (!ak_quota_lock_loaded(&key, NULL, true, ak_now_us(), (AkQuotaCell **) hint))
		return;					/* no room: it was never debited */
	c = *hint;
	queue = ak_quota_give_back(&c->q, period, cost, uncross, !RecoveryInProgress());
	ak_quota_unlock(c);
	if (queue)
		ak_quota_queue(c);
}

/*
 * Ends the pin of a debit (ak_quota_counter_debit with pin), giving refund
 * units back to the given periods first.  No table is read: this runs at
 * transaction end, and the pin kept the counter in memory.
 */
void
ak_quota_counter_unpin(void *hint, const int32 *period, int64 refund)
{
	AkQuotaCell *c = hint;
	bool		queue = false;

	ak_shash_lock(&c->header);
	Assert(c->header.live && c->q.pins > 0);
	if (refund > 0)
		queue = ak_quota_give_back(&c->q, period, refund, NULL, !RecoveryInProgress());
	c->q.pins--;
	ak_shash_unlock(&c->header);
	if (queue)
		ak_quota_queue(c);
}

/* A subject's counts if its counter is in memory and loaded. */
bool
ak_quota_counter_peek(const uint8 *subject, AkQuotaCounts *counts)
{
	AkCellKey	key;
	AkQuotaCell *c;
	bool		known = false;

	ak_quota_key(&key, subject);
	c = ak_quota_find(&key, false, 0);
	if (c != NULL && ak_quota_lock_if_holds(c, &key))
	{
		known = c->q.loaded;
		memcpy(counts->period, c->q.period, sizeof(counts->period));
		memcpy(counts->used, c->q.used, sizeof(counts->used));
		ak_quota_unlock(c);
	}
	return known;
}

int64
ak_quota_counters_count(void)
{
	return ak_shash_count(&ak_quota);
}


/* ---- the worker's side ---- */

/* Takes a queued counter's counts for the worker.  Caller holds nothing. */
static bool
ak_quota_take(AkQuotaCell *c, AkQuotaFlush *item)
{
	bool		taken;

	ak_shash_lock(&c->header);
	taken = c->header.live && c->q.queued;
	if (taken)
	{
		memcpy(item->counts.period, c->q.period, sizeof(item->counts.period));
		memcpy(item->counts.used, c->q.used, sizeof(item->counts.used));
		c->q.queued = false;
		c->q.dirty = false;
		c->q.flushing = true;
	}
	ak_shash_unlock(&c->header);
	if (taken)
	{
		memcpy(item->subject.data, c->key.id, sizeof(pg_uuid_t));
		item->counter = c;
	}
	return taken;
}

/*
 * Takes every counter of database dboid queued since the last call, marks
 * it flushing and returns its counts (palloc'd, in *out).  The other
 * databases' counters go back on the list.
 */
int
ak_quota_counters_collect(Oid dboid, AkQuotaFlush **out)
{
	dsa_pointer dp;
	dsa_pointer others = InvalidDsaPointer;
	AkQuotaCell *last_other = NULL;
	int			size = 64;
	int			n = 0;
	AkQuotaFlush *items = palloc(size * sizeof(AkQuotaFlush));

	SpinLockAcquire(&ak_quota_shared->mutex);
	dp = ak_quota_shared->head;
	ak_quota_shared->head = InvalidDsaPointer;
	SpinLockRelease(&ak_quota_shared->mutex);

	/* the list taken is this worker's: backends push onto a new one */
	while (DsaPointerIsValid(dp))
	{
		AkQuotaCell *c = ak_shash_entry_at(dp);
		dsa_pointer next = c->dirty_next;

		if (c->key.tag != (uint32) dboid)
		{
			c->dirty_next = others;
			others = dp;
			if (last_other == NULL)
				last_other = c;
		}
		else
		{
			if (n == size)
				items = repalloc(items, (size *= 2) * sizeof(AkQuotaFlush));
			if (ak_quota_take(c, &items[n]))
				n++;
		}
		dp = next;
	}
	if (last_other != NULL)
	{
		SpinLockAcquire(&ak_quota_shared->mutex);
		last_other->dirty_next = ak_quota_shared->head;
		ak_quota_shared->head = others;
		SpinLockRelease(&ak_quota_shared->mutex);
	}
	*out = items;
	return n;
}

/* After the worker's write: committed (ok) or to be written again. */
void
ak_quota_counters_flushed(const AkQuotaFlush *items, int n, bool ok)
{
	bool		track = !RecoveryInProgress();

	for (int i = 0; i < n; i++)
	{
		AkQuotaCell *c = items[i].counter;
		bool		queue = false;

		ak_shash_lock(&c->header);
		c->q.flushing = false;
		if (!ok)
			queue = ak_quota_mark_dirty(&c->q, track);
		ak_shash_unlock(&c->header);
		if (queue)
			ak_quota_queue(c);
	}
	if (ok && n > 0)
		ak_shash_note_idle(&ak_quota);
}
