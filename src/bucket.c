/*-------------------------------------------------------------------------
 *
 * bucket.c
 *	  apikey's token buckets, quota counters and concurrency counters: one
 *	  hash table in shared memory, used by every backend, bounded by
 *	  apikey.max_buckets.
 *
 * The algorithm is GCRA, the exact form of a token bucket.  A bucket of
 * capacity B (burst) refilling L tokens per period P stores one number, its
 * theoretical arrival time (TAT): the time at which it will be full again.
 * A request of cost c at time t is admitted iff
 *
 *		max(TAT, t) + c*P/L - t <= B*P/L
 *
 * and then TAT becomes max(TAT, t) + c*P/L.  This is a token bucket with
 * continuous (fractional) refill: tokens(t) = (B*P/L - max(0, TAT - t)) / (P/L).
 * Times are counted in units of 1/L microseconds, where P/L is exactly P:
 * the arithmetic is integer (int128) and exact, so a bucket never admits
 * more than B + refill(elapsed), whatever the concurrency.  A TAT in the
 * past means "full": such a bucket holds no information and may be evicted.
 *
 * Buckets are owned by a key (one per limit), a client address, a throttle()
 * name, or the abuse detector; concurrency counters and quota counters (a
 * key's counts for the day and the month, see quota.c) live in the same
 * table.
 * Every bucket of an owner hashes to the same partition: the low bits of the
 * hash, which pick the partition, depend on the owner only.
 *
 * Locking protocol
 *	  The table has AK_BUCKET_PARTITIONS partitions, each with an LWLock of
 *	  tranche "apikey buckets"; each bucket has a spinlock, initialized once
 *	  for the life of the shared memory (ak_shmem_hash_prepare) and never
 *	  again, even when the element is reused for another bucket.
 *	  - A bucket's state (live, count, and the union u) is read and
 *		written only under its spinlock, and the critical section is a few
 *		integer operations: no call, no allocation, no error, no division
 *		but after a change of limit.  What is only reported (tokens left,
 *		seconds until full) is computed after the spinlock is released.
 *	  - Several buckets of one owner debited together: all their spinlocks
 *		are taken, in address order, before any state is read, and released
 *		after every state is written, so that either all are debited or
 *		none.  Address order makes the nesting deadlock-free.
 *	  - Finding a bucket in the table: its partition's lock in shared mode.
 *		Creating one: in exclusive mode; a new bucket is set up, and marked
 *		live, under its spinlock.
 *	  - Removing buckets (the sweep): every partition's lock in exclusive
 *		mode, taken in ascending order; each bucket is marked not live under
 *		its spinlock before it leaves the table.  Apart from the sweep, no
 *		code path holds more than one partition lock at a time.
 *	  - Hints: a backend may remember where its key's buckets are and go
 *		there directly, with no partition lock.  A hint is trusted only if,
 *		under the bucket's spinlock, the bucket is live and has the expected
 *		key; the element's memory stays a bucket for the life of the server
 *		(the table has a fixed size), so a stale hint is always safe to lock.
 *		Creation and removal change "live" under that same spinlock.
 *	  - A concurrency counter that a backend holds (count > 0) is never
 *		removed, so that backend releases it with the spinlock alone.
 *	  - A quota counter that is dirty, queued or flushing is never removed,
 *		so the dirty list only ever points at live counters.
 *	  - The dirty list (AkBucketShared.dirty*) is protected by dirty_mutex,
 *		a spinlock taken alone, never while a bucket's spinlock is held:
 *		a backend appends a counter after releasing its spinlock.  The
 *		worker swaps the halves under dirty_mutex and then reads its half
 *		without it: backends only ever write to the other one.
 *	  - AkBucketShared.inflight and .futile_sweep_at are atomics.
 *	  The shutdown dump runs in the postmaster alone, without locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "access/xlog.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "apikey.h"

#define AK_BUCKET_PARTITIONS	128 /* a power of 2 */
#define AK_BUCKET_DUMP_FILE		"pg_stat/apikey_buckets.stat"
#define AK_BUCKET_DUMP_MAGIC	0x414b4233	/* "AKB3" */
#define AK_PG_MAJOR				(PG_VERSION_NUM / 100)
#define AK_SWEEP_BACKOFF_US		(100 * 1000)	/* after a sweep freed nothing */
#define AK_QUOTA_UNSEEDED		PG_INT32_MIN	/* a new counter's periods */

typedef struct AkBucketKey
{
	uint8		kind;			/* AkBucketKind */
	uint8		pad[3];
	uint32		tag;			/* which limit of a key; 0 otherwise */
	uint8		id[AK_BUCKET_ID_LEN];	/* the owner */
} AkBucketKey;

/* The state of a token bucket (GCRA, above) and of an abuse cooldown. */
typedef struct AkGcra
{
	int128		tat;			/* TAT, in units of 1/scale microseconds */
	int64		scale;			/* the L that tat is counted in */
	int64		until_us;		/* abuse buckets: cooldown end */
} AkGcra;

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

typedef union AkBucketState
{
	AkGcra		gcra;			/* key limits, addresses, names, abuse */
	AkQuotaCounter quota;		/* AK_BK_QUOTA */
} AkBucketState;

struct AkBucket
{
	AkBucketKey key;			/* hash key, must be first */
	AkSharedEntry e;			/* spinlock and live flag */
	int32		count;			/* concurrency counters: requests in flight */
	AkBucketState u;
};

typedef struct AkBucketShared
{
	int			max_buckets;
	pg_atomic_uint32 inflight;	/* admitted requests whose transaction runs */
	pg_atomic_uint64 futile_sweep_at;	/* when a sweep last freed nothing */

	/*
	 * Quota counters the worker has to write: two halves of max_buckets
	 * each.  Backends append to the active half; the worker swaps halves
	 * and reads the other one at leisure.
	 */
	slock_t		dirty_mutex;
	int			dirty_active;
	int			dirty_count[2];
	AkBucket   *dirty[FLEXIBLE_ARRAY_MEMBER];
} AkBucketShared;

/* One limit's decision, taken under its bucket's spinlock. */
typedef struct AkDecisionPoint
{
	int128		now;			/* now, in units of 1/L us */
	int128		base;			/* max(TAT, now) */
	int128		candidate;		/* base + cost * P */
	bool		admit;
} AkDecisionPoint;

/* GUC */
int			ak_max_buckets = 100000;

static AkBucketShared *ak_bshared = NULL;
static HTAB *ak_btable = NULL;
static LWLockPadded *ak_block = NULL;

#define PARTITION_LOCK(hash) (&ak_block[(hash) % AK_BUCKET_PARTITIONS].lock)

static void ak_bucket_dump(int code, Datum arg);
static void ak_bucket_load(void);


/* ---- hashing ---- */

/*
 * The partition (the low bits) depends on kind and owner only, so that every
 * bucket of an owner is in one partition; the tag varies the high bits.
 */
static uint32
ak_bucket_hash(const void *key, Size keysize)
{
	const AkBucketKey *k = (const AkBucketKey *) key;
	uint32		owner = hash_bytes_extended(k->id, AK_BUCKET_ID_LEN, k->kind);
	uint32		full = hash_combine(owner, murmurhash32(k->tag));

	return (full & ~(uint32) (AK_BUCKET_PARTITIONS - 1)) |
		(owner & (AK_BUCKET_PARTITIONS - 1));
}

static void
ak_bucket_key(AkBucketKey *key, AkBucketKind kind, const uint8 *id, uint32 tag)
{
	memset(key, 0, sizeof(*key));
	key->kind = (uint8) kind;
	key->tag = tag;
	memcpy(key->id, id, AK_BUCKET_ID_LEN);
}

/*
 * The tag of a key's limit: a hash of its name (never 0), so that reordering
 * or adding limits keeps each one's state.  limits.c stores it in AkLimit.
 */
uint32
ak_limit_tag(const AkLimit *limit)
{
	return hash_bytes((const unsigned char *) limit->name, strlen(limit->name)) | 1;
}


/* ---- shared memory ---- */

static Size
ak_bucket_table_size(void)
{
	return hash_estimate_size(ak_max_buckets, sizeof(AkBucket));
}

static Size
ak_bucket_shared_size(void)
{
	return add_size(offsetof(AkBucketShared, dirty),
					mul_size(2 * sizeof(AkBucket *), ak_max_buckets));
}

void
ak_bucket_shmem_request(void)
{
	RequestAddinShmemSpace(add_size(ak_bucket_shared_size(),
									ak_bucket_table_size()));
	RequestNamedLWLockTranche("apikey buckets", AK_BUCKET_PARTITIONS);
}

/* Caller holds AddinShmemInitLock. */
void
ak_bucket_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	ak_bshared = ShmemInitStruct("apikey bucket state", ak_bucket_shared_size(), &found);
	if (!found)
	{
		ak_bshared->max_buckets = ak_max_buckets;
		pg_atomic_init_u32(&ak_bshared->inflight, 0);
		pg_atomic_init_u64(&ak_bshared->futile_sweep_at, 0);
		SpinLockInit(&ak_bshared->dirty_mutex);
		ak_bshared->dirty_active = 0;
		ak_bshared->dirty_count[0] = ak_bshared->dirty_count[1] = 0;
	}
	ak_block = GetNamedLWLockTranche("apikey buckets");

	info.keysize = sizeof(AkBucketKey);
	info.entrysize = sizeof(AkBucket);
	info.hash = ak_bucket_hash;
	info.num_partitions = AK_BUCKET_PARTITIONS;
	ak_btable = ShmemInitHash("apikey buckets", ak_max_buckets, ak_max_buckets,
							  &info,
							  HASH_ELEM | HASH_FUNCTION | HASH_PARTITION | HASH_FIXED_SIZE);

	if (!found)
		ak_shmem_hash_prepare(ak_btable, sizeof(AkBucketKey), offsetof(AkBucket, e));
	if (!IsUnderPostmaster)
	{
		if (!found)
			ak_bucket_load();
		on_shmem_exit(ak_bucket_dump, (Datum) 0);
	}
}


/* ---- GCRA ---- */

/* The bucket's TAT in units of 1/L us.  Caller holds its spinlock. */
static inline int128
ak_tat(const AkBucket *b, int64 L)
{
	if (likely(b->u.gcra.scale == L))
		return b->u.gcra.tat;
	/* the limit changed: rescale, rounding up (never gives tokens away) */
	return b->u.gcra.tat <= 0 ? 0 : (b->u.gcra.tat * L + b->u.gcra.scale - 1) / b->u.gcra.scale;
}

/*
 * The decision of one limit, under its bucket's spinlock: a comparison and
 * no division (but after a change of limit).
 */
static inline void
ak_gcra_decide(const AkBucket *b, const AkLimit *limit, int64 cost,
			   int64 now_us, AkDecisionPoint *d)
{
	int128		P = limit->period_us;

	d->now = (int128) now_us * limit->limit;
	d->base = Max(ak_tat(b, limit->limit), d->now);
	d->candidate = d->base + (int128) cost * P;
	d->admit = d->candidate - d->now <= (int128) limit->burst * P;
}

static int64
ak_ceil_div(int128 a, int64 b)
{
	return a <= 0 ? 0 : (int64) ((a + b - 1) / b);
}

/*
 * What a limit looks like after a decision: its state is "after" (the
 * candidate if taken, the base if not).  Computed outside any lock.
 */
static void
ak_gcra_outcome(const AkLimit *limit, const AkDecisionPoint *d, bool taken,
				AkLimitOutcome *out)
{
	int128		P = limit->period_us;
	int128		tau = (int128) limit->burst * P;
	int128		after = taken ? d->candidate : d->base;

	out->remaining = (int64) ((tau - (after - d->now)) / P);
	out->full_in_us = ak_ceil_div(after - d->now, limit->limit);
	out->retry_in_us = d->admit ? 0 : ak_ceil_div(d->candidate - tau - d->now, limit->limit);
}

/* Sorts at most AK_MAX_LIMITS buckets by address: the spinlock order. */
static void
ak_sort_by_address(AkBucket **b, int n)
{
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && (uintptr_t) b[j - 1] > (uintptr_t) b[j]; j--)
		{
			AkBucket   *t = b[j];

			b[j] = b[j - 1];
			b[j - 1] = t;
		}
}


/* ---- finding and creating ---- */

static void ak_bucket_sweep(int64 now_us);

/* Makes a bucket new and full.  Caller holds the partition lock exclusively. */
static void
ak_bucket_setup(AkBucket *b)
{
	SpinLockAcquire(&b->e.mutex);
	memset(&b->u, 0, sizeof(b->u));
	if (b->key.kind == AK_BK_QUOTA)
		for (int p = 0; p < AK_NUM_PERIODS; p++)
			b->u.quota.period[p] = AK_QUOTA_UNSEEDED;
	else
		b->u.gcra.scale = 1;
	b->count = 0;
	b->e.live = true;
	SpinLockRelease(&b->e.mutex);
}

/*
 * Finds the n buckets keys[] (all in one partition, hash[]), creating the
 * missing ones if create.  Returns with the partition lock held, in shared
 * mode if all existed and exclusive otherwise, or false -- without the lock
 * -- when the table has no room even after a sweep.
 */
static bool
ak_bucket_find(const AkBucketKey *keys, const uint32 *hash, int n,
			   AkBucket **found, int64 now_us, bool create)
{
	LWLock	   *lock = PARTITION_LOCK(hash[0]);
	bool		missing = false;

	LWLockAcquire(lock, LW_SHARED);
	for (int i = 0; i < n; i++)
	{
		found[i] = hash_search_with_hash_value(ak_btable, &keys[i], hash[i],
											   HASH_FIND, NULL);
		missing |= (found[i] == NULL);
	}
	if (!missing || !create)
		return true;
	LWLockRelease(lock);

	for (int attempt = 0; attempt < 2; attempt++)
	{
		bool		full = false;

		LWLockAcquire(lock, LW_EXCLUSIVE);
		for (int i = 0; i < n && !full; i++)
		{
			bool		existed;

			found[i] = hash_search_with_hash_value(ak_btable, &keys[i], hash[i],
												   HASH_ENTER_NULL, &existed);
			if (found[i] == NULL)
				full = true;
			else if (!existed)
				ak_bucket_setup(found[i]);
		}
		if (!full)
			return true;
		LWLockRelease(lock);
		if (attempt == 0)
			ak_bucket_sweep(now_us);
	}
	return false;
}

/* Fills keys[] (and hash[], if not NULL) for the n limits of an owner. */
static void
ak_owner_keys(AkBucketKind kind, const uint8 *owner, const AkLimit *limits,
			  int n, AkBucketKey *keys, uint32 *hash)
{
	for (int i = 0; i < n; i++)
	{
		ak_bucket_key(&keys[i], kind, owner,
					  kind == AK_BK_KEY_LIMIT ? limits[i].tag : 0);
		if (hash)
			hash[i] = get_hash_value(ak_btable, &keys[i]);
	}
}


/* ---- debit, refund, peek ---- */

/*
 * The all-or-nothing step of a debit, on buckets found by the caller:
 * takes their spinlocks in address order, and when require_live, gives up
 * (returning false, changing nothing) unless each is live with its key.
 */
static bool
ak_decide_all(AkBucket **found, const AkBucketKey *keys, const AkLimit *limits,
			  int n, int64 cost, int64 now_us, bool require_live,
			  AkDecisionPoint *d, bool *all)
{
	AkBucket   *ordered[AK_MAX_LIMITS];
	bool		valid = true;

	memcpy(ordered, found, n * sizeof(AkBucket *));
	ak_sort_by_address(ordered, n);
	for (int i = 0; i < n; i++)
		SpinLockAcquire(&ordered[i]->e.mutex);

	if (require_live)
		for (int i = 0; i < n; i++)
			valid &= found[i]->e.live &&
				memcmp(&found[i]->key, &keys[i], sizeof(AkBucketKey)) == 0;
	if (valid)
	{
		*all = true;
		for (int i = 0; i < n; i++)
		{
			ak_gcra_decide(found[i], &limits[i], cost, now_us, &d[i]);
			*all &= d[i].admit;
		}
		if (*all)
			for (int i = 0; i < n; i++)
			{
				found[i]->u.gcra.tat = d[i].candidate;
				found[i]->u.gcra.scale = limits[i].limit;
			}
	}

	for (int i = n - 1; i >= 0; i--)
		SpinLockRelease(&ordered[i]->e.mutex);
	return valid;
}

/*
 * Debits cost from every limit of an owner at once, or from none.  out[i]
 * describes limit i after the decision; when it is a rejection, out[i].
 * retry_in_us is how long until limit i alone would admit the request.
 *
 * hints, when not NULL, are the caller's memory of where these buckets are
 * (NULL entries: not known yet): tried first, with no partition lock, and
 * refreshed when they were stale.
 */
AkDebit
ak_bucket_debit(AkBucketKind kind, const uint8 *owner, const AkLimit *limits,
				int n, int64 cost, int64 now_us, AkLimitOutcome *out,
				AkBucket **hints)
{
	AkBucketKey keys[AK_MAX_LIMITS] = {{0}};
	uint32		hash[AK_MAX_LIMITS];
	AkBucket   *found[AK_MAX_LIMITS];
	AkDecisionPoint d[AK_MAX_LIMITS];
	bool		all = false;
	bool		hinted = hints != NULL;

	Assert(n >= 1 && n <= AK_MAX_LIMITS);
	ak_owner_keys(kind, owner, limits, n, keys, NULL);

	for (int i = 0; i < n && hinted; i++)
		hinted = (hints[i] != NULL);
	if (!hinted ||
		!ak_decide_all(hints, keys, limits, n, cost, now_us, true, d, &all))
	{
		for (int i = 0; i < n; i++)
			hash[i] = get_hash_value(ak_btable, &keys[i]);
		if (!ak_bucket_find(keys, hash, n, found, now_us, true))
			return AK_DEBIT_NO_ROOM;
		(void) ak_decide_all(found, keys, limits, n, cost, now_us, false, d, &all);
		LWLockRelease(PARTITION_LOCK(hash[0]));
		if (hints)
			memcpy(hints, found, n * sizeof(AkBucket *));
	}

	for (int i = 0; i < n; i++)
	{
		ak_gcra_outcome(&limits[i], &d[i], all, &out[i]);
		/* refused elsewhere: this limit would have admitted */
		if (!all && d[i].admit)
			out[i].retry_in_us = 0;
	}
	return all ? AK_DEBIT_OK : AK_DEBIT_REJECTED;
}

/*
 * Gives back cost to every limit of an owner, after a later step of the same
 * request refused it.  A bucket that is gone was full: nothing to give back.
 */
void
ak_bucket_refund(AkBucketKind kind, const uint8 *owner, const AkLimit *limits,
				 int n, int64 cost)
{
	AkBucketKey keys[AK_MAX_LIMITS];
	uint32		hash[AK_MAX_LIMITS];
	AkBucket   *found[AK_MAX_LIMITS];

	ak_owner_keys(kind, owner, limits, n, keys, hash);
	(void) ak_bucket_find(keys, hash, n, found, 0, false);
	for (int i = 0; i < n; i++)
	{
		int64		L = limits[i].limit;

		if (found[i] == NULL)
			continue;
		SpinLockAcquire(&found[i]->e.mutex);
		found[i]->u.gcra.tat = ak_tat(found[i], L) - (int128) cost * limits[i].period_us;
		found[i]->u.gcra.scale = L;
		SpinLockRelease(&found[i]->e.mutex);
	}
	LWLockRelease(PARTITION_LOCK(hash[0]));
}

/* Describes the limits of an owner without debiting or creating anything. */
void
ak_bucket_peek(AkBucketKind kind, const uint8 *owner, const AkLimit *limits,
			   int n, int64 now_us, AkLimitOutcome *out)
{
	AkBucketKey keys[AK_MAX_LIMITS];
	uint32		hash[AK_MAX_LIMITS];
	AkBucket   *found[AK_MAX_LIMITS];

	ak_owner_keys(kind, owner, limits, n, keys, hash);
	(void) ak_bucket_find(keys, hash, n, found, now_us, false);
	for (int i = 0; i < n; i++)
	{
		AkDecisionPoint d;
		AkBucket	full = {.u.gcra.scale = 1};

		if (found[i] == NULL)
			ak_gcra_decide(&full, &limits[i], 0, now_us, &d);
		else
		{
			SpinLockAcquire(&found[i]->e.mutex);
			ak_gcra_decide(found[i], &limits[i], 0, now_us, &d);
			SpinLockRelease(&found[i]->e.mutex);
		}
		ak_gcra_outcome(&limits[i], &d, false, &out[i]);
	}
	LWLockRelease(PARTITION_LOCK(hash[0]));
}


/* ---- concurrency counters ---- */

/*
 * Takes one of max slots of an owner into *slot: AK_DEBIT_REJECTED when all
 * are taken, AK_DEBIT_NO_ROOM when the table is full.
 */
AkDebit
ak_slot_acquire(const uint8 *owner, int32 max, AkBucket **slot)
{
	AkBucketKey key;
	uint32		hash;
	AkBucket   *b;
	bool		taken = false;

	ak_bucket_key(&key, AK_BK_CONCURRENCY, owner, 0);
	hash = get_hash_value(ak_btable, &key);
	if (!ak_bucket_find(&key, &hash, 1, &b, ak_now_us(), true))
		return AK_DEBIT_NO_ROOM;
	SpinLockAcquire(&b->e.mutex);
	if (b->count < max)
	{
		b->count++;
		taken = true;
	}
	SpinLockRelease(&b->e.mutex);
	LWLockRelease(PARTITION_LOCK(hash));
	*slot = b;
	return taken ? AK_DEBIT_OK : AK_DEBIT_REJECTED;
}

/* No partition lock needed: a counter with a holder is never removed. */
void
ak_slot_release(AkBucket *slot)
{
	SpinLockAcquire(&slot->e.mutex);
	Assert(slot->count > 0);
	slot->count--;
	SpinLockRelease(&slot->e.mutex);
}

/* The server-wide count of admitted requests in flight, capped at max. */
bool
ak_inflight_acquire(int max)
{
	if (pg_atomic_add_fetch_u32(&ak_bshared->inflight, 1) > (uint32) max)
	{
		pg_atomic_sub_fetch_u32(&ak_bshared->inflight, 1);
		return false;
	}
	return true;
}

void
ak_inflight_release(void)
{
	pg_atomic_sub_fetch_u32(&ak_bshared->inflight, 1);
}


/* ---- abuse ---- */

/*
 * Counts one failed verification of an owner (an address, a display
 * prefix): the threshold-th within a minute starts a cooldown.  The
 * failures are a bucket of threshold tokens refilled over a minute.
 */
void
ak_abuse_record(AkBucketKind kind, const uint8 *owner, int threshold,
				int64 cooldown_us, int64 now_us)
{
	AkLimit		window = {.name = "abuse", .limit = threshold,
	.period_us = 60 * USECS_PER_SEC, .burst = threshold};
	AkBucketKey key;
	uint32		hash;
	AkBucket   *b;
	AkDecisionPoint d;
	int128		after;

	ak_bucket_key(&key, kind, owner, 0);
	hash = get_hash_value(ak_btable, &key);
	if (!ak_bucket_find(&key, &hash, 1, &b, now_us, true))
		return;					/* no room: better forget than refuse */
	SpinLockAcquire(&b->e.mutex);
	ak_gcra_decide(b, &window, 1, now_us, &d);
	after = d.admit ? d.candidate : d.base;
	if (d.admit)
	{
		b->u.gcra.tat = d.candidate;
		b->u.gcra.scale = window.limit;
	}
	/* less than one token left: the threshold-th failure */
	if (after + window.period_us - d.now > (int128) window.burst * window.period_us)
		b->u.gcra.until_us = now_us + cooldown_us;
	SpinLockRelease(&b->e.mutex);
	LWLockRelease(PARTITION_LOCK(hash));
}

/* The end of an owner's cooldown, or 0 when it has none. */
int64
ak_abuse_blocked_until(AkBucketKind kind, const uint8 *owner, int64 now_us)
{
	AkBucketKey key;
	uint32		hash;
	AkBucket   *b;
	int64		until = 0;

	ak_bucket_key(&key, kind, owner, 0);
	hash = get_hash_value(ak_btable, &key);
	(void) ak_bucket_find(&key, &hash, 1, &b, now_us, false);
	if (b != NULL)
	{
		SpinLockAcquire(&b->e.mutex);
		until = b->u.gcra.until_us;
		SpinLockRelease(&b->e.mutex);
	}
	LWLockRelease(PARTITION_LOCK(hash));
	return until > now_us ? until : 0;
}


/* ---- quota counters ---- */

/* Whether b is live and holds key.  Caller holds its spinlock. */
static inline bool
ak_bucket_holds(const AkBucket *b, const AkBucketKey *key)
{
	return b->e.live && memcmp(&b->key, key, sizeof(AkBucketKey)) == 0;
}

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
 * Set by the public entry points before any spinlock is taken: on a hot
 * standby no worker writes counts, so counters are never marked for it
 * and stay evictable once their periods are over.
 */
static bool ak_quota_on_standby = false;

/* Marks a counter changed; true if the caller must queue it. */
static inline bool
ak_quota_mark_dirty(AkQuotaCounter *q)
{
	bool		queue = !q->queued;

	if (ak_quota_on_standby)
		return false;

	q->dirty = true;
	q->queued = true;
	return queue;
}

/*
 * Appends a counter to the active half of the dirty list.  A counter is
 * there at most once (its queued flag) and every counter is a bucket, so a
 * half never holds more than max_buckets.
 */
static void
ak_quota_queue(AkBucket *b)
{
	int			half;

	SpinLockAcquire(&ak_bshared->dirty_mutex);
	half = ak_bshared->dirty_active;
	if (likely(ak_bshared->dirty_count[half] < ak_bshared->max_buckets))
		ak_bshared->dirty[half * ak_bshared->max_buckets +
						  ak_bshared->dirty_count[half]++] = b;
	SpinLockRelease(&ak_bshared->dirty_mutex);
}

/*
 * The quota decision, under the counter's spinlock: roll, compare, debit.
 * With require_live, gives up (returning false) unless b still holds key.
 */
static bool
ak_quota_decide(AkBucket *b, const AkBucketKey *key, const AkQuotaRequest *req,
				int64 cost, bool require_live, AkQuotaOutcome *out)
{
	AkQuotaCounter *q = &b->u.quota;
	bool		admit = true;

	SpinLockAcquire(&b->e.mutex);
	if (require_live && !ak_bucket_holds(b, key))
	{
		SpinLockRelease(&b->e.mutex);
		return false;
	}
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
		out->queue = ak_quota_mark_dirty(q);
	}
	for (int p = 0; p < AK_NUM_PERIODS; p++)
		out->used[p] = q->used[p];
	SpinLockRelease(&b->e.mutex);
	return true;
}

/*
 * Debits cost from both quotas of an owner (a key), or from neither.
 * *hint is where the counter was last seen (NULL: not known); it is tried
 * first, with no partition lock, and refreshed.
 */
AkDebit
ak_quota_counter_debit(const uint8 *owner, const AkQuotaRequest *req,
					   int64 cost, int64 now_us, AkQuotaOutcome *out,
					   AkBucket **hint)
{
	AkBucketKey key;

	ak_quota_on_standby = RecoveryInProgress();
	memset(out, 0, sizeof(*out));
	ak_bucket_key(&key, AK_BK_QUOTA, owner, 0);
	if (*hint == NULL || !ak_quota_decide(*hint, &key, req, cost, true, out))
	{
		uint32		hash = get_hash_value(ak_btable, &key);
		AkBucket   *b;

		if (!ak_bucket_find(&key, &hash, 1, &b, now_us, true))
			return AK_DEBIT_NO_ROOM;
		(void) ak_quota_decide(b, &key, req, cost, false, out);
		LWLockRelease(PARTITION_LOCK(hash));
		*hint = b;
	}
	if (out->queue)
		ak_quota_queue(*hint);
	for (int p = 0; p < AK_NUM_PERIODS; p++)
		if (out->refused[p])
			return AK_DEBIT_REJECTED;
	return AK_DEBIT_OK;
}

/* The refund, under the counter's spinlock; false if b no longer holds key. */
static bool
ak_quota_give_back(AkBucket *b, const AkBucketKey *key, const int32 *period,
				   int64 cost, const uint8 *uncross, bool *queue)
{
	AkQuotaCounter *q = &b->u.quota;
	bool		held;

	SpinLockAcquire(&b->e.mutex);
	held = ak_bucket_holds(b, key);
	if (held)
	{
		for (int p = 0; p < AK_NUM_PERIODS; p++)
			if (q->period[p] == period[p])
			{
				q->used[p] = Max(q->used[p] - cost, 0);
				if (uncross)
					q->alerted[p] &= ~uncross[p];
			}
		*queue = ak_quota_mark_dirty(q);
	}
	SpinLockRelease(&b->e.mutex);
	return held;
}

/*
 * Gives cost back to the counts of the given periods (a refusal later in
 * the same request, or a rollback), and forgets the alerts in uncross, if
 * any, so that they are sent when really crossed.  A counter that has moved
 * on to another period keeps its count; one that is gone was idle.
 */
void
ak_quota_counter_refund(const uint8 *owner, const int32 *period, int64 cost,
						const uint8 *uncross, AkBucket **hint)
{
	AkBucketKey key;
	AkBucket   *b = *hint;
	bool		queue = false;

	ak_quota_on_standby = RecoveryInProgress();

	ak_bucket_key(&key, AK_BK_QUOTA, owner, 0);
	if (b == NULL || !ak_quota_give_back(b, &key, period, cost, uncross, &queue))
	{
		uint32		hash = get_hash_value(ak_btable, &key);

		(void) ak_bucket_find(&key, &hash, 1, &b, 0, false);
		if (b != NULL)
			(void) ak_quota_give_back(b, &key, period, cost, uncross, &queue);
		LWLockRelease(PARTITION_LOCK(hash));
		*hint = b;
	}
	if (queue)
		ak_quota_queue(b);
}

/*
 * The worker's side: takes every counter queued since the last call, marks
 * it flushing and returns its counts (palloc'd, in *out).
 */
int
ak_quota_counters_collect(AkQuotaFlush **out)
{
	AkBucket  **list;
	int			half;
	int			n;
	int			m = 0;
	AkQuotaFlush *items;

	SpinLockAcquire(&ak_bshared->dirty_mutex);
	half = ak_bshared->dirty_active;
	ak_bshared->dirty_active = 1 - half;
	n = ak_bshared->dirty_count[half];
	ak_bshared->dirty_count[half] = 0;
	SpinLockRelease(&ak_bshared->dirty_mutex);

	/* backends now append to the other half: this one is the worker's */
	list = &ak_bshared->dirty[half * ak_bshared->max_buckets];
	items = palloc(Max(n, 1) * sizeof(AkQuotaFlush));
	for (int i = 0; i < n; i++)
	{
		AkBucket   *b = list[i];
		AkQuotaCounter *q = &b->u.quota;
		AkQuotaFlush *item = &items[m];
		bool		taken;

		SpinLockAcquire(&b->e.mutex);
		taken = b->e.live && b->key.kind == AK_BK_QUOTA && q->queued;
		if (taken)
		{
			memcpy(item->period, q->period, sizeof(item->period));
			memcpy(item->used, q->used, sizeof(item->used));
			q->queued = false;
			q->dirty = false;
			q->flushing = true;
		}
		SpinLockRelease(&b->e.mutex);
		if (taken)
		{
			memcpy(&item->key_id, b->key.id, sizeof(pg_uuid_t));
			item->counter = b;
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
	for (int i = 0; i < n; i++)
	{
		AkBucket   *b = items[i].counter;
		bool		queue = false;

		SpinLockAcquire(&b->e.mutex);
		b->u.quota.flushing = false;
		if (!ok)
			queue = ak_quota_mark_dirty(&b->u.quota);
		SpinLockRelease(&b->e.mutex);
		if (queue)
			ak_quota_queue(b);
	}
}


/* ---- eviction ---- */

/*
 * Whether a bucket holds no information any more.  Caller holds its
 * spinlock; period is the current day and month (ak_quota_periods).
 */
static bool
ak_bucket_idle(const AkBucket *b, int64 now_us, const int32 *period)
{
	const AkQuotaCounter *q = &b->u.quota;
	bool		full = b->u.gcra.tat <= (int128) now_us * b->u.gcra.scale;

	switch ((AkBucketKind) b->key.kind)
	{
		case AK_BK_CONCURRENCY:
			return b->count == 0;
		case AK_BK_ABUSE_IP:
		case AK_BK_ABUSE_PREFIX:
			return full && b->u.gcra.until_us <= now_us;
		case AK_BK_QUOTA:
			return !q->dirty && !q->queued && !q->flushing &&
				q->period[AK_DAY] < period[AK_DAY] &&
				q->period[AK_MONTH] < period[AK_MONTH];
		default:
			return full;
	}
}

/*
 * Removes every idle bucket.  Holds every partition lock exclusively, so it
 * runs only when a bucket cannot be created (and at most once per
 * AK_SWEEP_BACKOFF_US after a sweep that found nothing).
 */
static void
ak_bucket_sweep(int64 now_us)
{
	HASH_SEQ_STATUS seq;
	AkBucket   *b;
	int			freed = 0;
	int32		period[AK_NUM_PERIODS];

	if (now_us - (int64) pg_atomic_read_u64(&ak_bshared->futile_sweep_at) < AK_SWEEP_BACKOFF_US)
		return;
	ak_quota_periods(now_us, period);

	for (int i = 0; i < AK_BUCKET_PARTITIONS; i++)
		LWLockAcquire(&ak_block[i].lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, ak_btable);
	while ((b = hash_seq_search(&seq)) != NULL)
	{
		bool		idle;

		SpinLockAcquire(&b->e.mutex);
		idle = ak_bucket_idle(b, now_us, period);
		if (idle)
			b->e.live = false;
		SpinLockRelease(&b->e.mutex);
		if (idle)
		{
			hash_search(ak_btable, &b->key, HASH_REMOVE, NULL);
			freed++;
		}
	}
	for (int i = AK_BUCKET_PARTITIONS - 1; i >= 0; i--)
		LWLockRelease(&ak_block[i].lock);

	if (freed == 0)
		pg_atomic_write_u64(&ak_bshared->futile_sweep_at, (uint64) now_us);
}

void
ak_bucket_usage(int64 *in_use, int64 *capacity)
{
	*in_use = ak_btable ? hash_get_num_entries(ak_btable) : 0;
	*capacity = ak_bshared ? ak_bshared->max_buckets : 0;
}


/* ---- surviving a clean restart ---- */

/* What the dump file keeps of a bucket. */
typedef struct AkSavedBucket
{
	AkBucketKey key;
	AkBucketState state;
} AkSavedBucket;

/*
 * on_shmem_exit callback of the postmaster: writes the buckets that are not
 * full to a file, replaced atomically.  Skipped after a crash (code != 0):
 * then the buckets start full.  Problems are logged, never raised.
 */
static void
ak_bucket_dump(int code, Datum arg)
{
	FILE	   *file;
	HASH_SEQ_STATUS seq;
	AkBucket   *b;
	uint32		header[4] = {AK_BUCKET_DUMP_MAGIC, AK_PG_MAJOR,
	(uint32) sizeof(AkSavedBucket), 0};
	int64		now_us = GetCurrentTimestamp();
	int64		count = 0;
	int32		period[AK_NUM_PERIODS];

	if (code != 0 || ak_btable == NULL)
		return;
	ak_quota_periods(now_us, period);

	file = AllocateFile(AK_BUCKET_DUMP_FILE ".tmp", PG_BINARY_W);
	if (file == NULL || fwrite(header, sizeof(header), 1, file) != 1)
		goto error;

	hash_seq_init(&seq, ak_btable);
	while ((b = hash_seq_search(&seq)) != NULL)
	{
		AkSavedBucket saved;

		/* in-flight counts die with their transactions */
		if (b->key.kind == AK_BK_CONCURRENCY || ak_bucket_idle(b, now_us, period))
			continue;
		memset(&saved, 0, sizeof(saved));
		saved.key = b->key;
		saved.state = b->u;
		if (fwrite(&saved, sizeof(saved), 1, file) != 1)
		{
			hash_seq_term(&seq);
			goto error;
		}
		count++;
	}
	if (fwrite(&count, sizeof(count), 1, file) != 1 ||
		fwrite(header, sizeof(header), 1, file) != 1)
		goto error;
	if (FreeFile(file) != 0)
	{
		file = NULL;
		goto error;
	}
	(void) durable_rename(AK_BUCKET_DUMP_FILE ".tmp", AK_BUCKET_DUMP_FILE, LOG);
	return;

error:
	ereport(LOG,
			(errcode_for_file_access(),
			 errmsg("could not write file \"%s\": %m", AK_BUCKET_DUMP_FILE ".tmp")));
	if (file)
		FreeFile(file);
	unlink(AK_BUCKET_DUMP_FILE ".tmp");
}

/*
 * Reads the buckets saved at the last clean shutdown, then removes the file
 * so that neither a crash nor a base backup can bring stale buckets back.
 * Runs in the postmaster before any backend exists.
 */
static void
ak_bucket_load(void)
{
	FILE	   *file;
	uint32		header[4];
	uint32		trailer[4];
	AkSavedBucket saved;
	int64		count = 0;
	int64		loaded = 0;
	long		records;

	file = AllocateFile(AK_BUCKET_DUMP_FILE, PG_BINARY_R);
	if (file == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", AK_BUCKET_DUMP_FILE)));
		return;
	}

	if (fread(header, sizeof(header), 1, file) != 1 ||
		header[0] != AK_BUCKET_DUMP_MAGIC || header[1] != AK_PG_MAJOR ||
		header[2] != sizeof(AkSavedBucket) ||
		fseek(file, -(long) (sizeof(count) + sizeof(trailer)), SEEK_END) != 0 ||
		fread(&count, sizeof(count), 1, file) != 1 ||
		fread(trailer, sizeof(trailer), 1, file) != 1 ||
		memcmp(header, trailer, sizeof(header)) != 0 ||
		(records = (ftell(file) - (long) (sizeof(header) + sizeof(count) + sizeof(trailer)))
		 / (long) sizeof(AkSavedBucket)) != count ||
		fseek(file, sizeof(header), SEEK_SET) != 0)
	{
		ereport(LOG,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("ignoring invalid data in file \"%s\"", AK_BUCKET_DUMP_FILE)));
		goto done;
	}

	for (int64 i = 0; i < count; i++)
	{
		AkBucket   *b;
		bool		found;

		if (fread(&saved, sizeof(saved), 1, file) != 1)
		{
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", AK_BUCKET_DUMP_FILE)));
			break;
		}
		b = hash_search(ak_btable, &saved.key, HASH_ENTER_NULL, &found);
		if (b == NULL)
			break;				/* apikey.max_buckets was lowered */
		ak_bucket_setup(b);
		b->u = saved.state;
		if (b->key.kind == AK_BK_QUOTA)
		{
			/*
			 * Clean: the stopping worker wrote them to keys, and the next
			 * debit marks them again.  Marked dirty, a standby's counters
			 * (no worker there) would never be evictable.
			 */
			b->u.quota.dirty = b->u.quota.queued = b->u.quota.flushing = false;
		}
		else
			b->u.gcra.scale = Max(b->u.gcra.scale, 1);
		loaded++;
	}
	if (loaded < count)
		ereport(LOG,
				(errmsg("apikey restored " INT64_FORMAT " of " INT64_FORMAT " rate-limit buckets",
						loaded, count),
				 errhint("Raise apikey.max_buckets to keep them all.")));

done:
	FreeFile(file);
	unlink(AK_BUCKET_DUMP_FILE);
}
