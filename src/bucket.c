/*-------------------------------------------------------------------------
 *
 * bucket.c
 *	  apikey's token buckets: one hash table in shared memory, used by every
 *	  backend, bounded by apikey.max_buckets.
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
 * name, or the abuse detector; concurrency counters live in the same table.
 * Every bucket of an owner hashes to the same partition: the low bits of the
 * hash, which pick the partition, depend on the owner only.
 *
 * Locking protocol
 *	  The table has AK_BUCKET_PARTITIONS partitions, each with an LWLock of
 *	  tranche "apikey buckets".
 *	  - Finding a bucket and reading or changing its state: its partition's
 *		lock in shared mode, then the bucket's spinlock around the few
 *		integer operations that read and write the state (no call, no
 *		allocation, no error inside).
 *	  - Several buckets of one owner debited together: their spinlocks are
 *		all taken, in address order, before any state is read, and released
 *		after every state is written, so that either all are debited or
 *		none.  Address order makes the nesting deadlock-free.
 *	  - Creating a bucket: its partition's lock in exclusive mode.
 *	  - Removing buckets (the sweep): every partition's lock in exclusive
 *		mode, taken in ascending order.  Apart from the sweep, no code path
 *		holds more than one partition lock at a time.
 *	  - A concurrency counter that a backend holds (count > 0) is never
 *		removed, so that backend releases it with the spinlock alone.
 *	  - AkBucketShared.inflight and .futile_sweep_at are atomics.
 *	  The shutdown dump runs in the postmaster alone, without locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>
#include <unistd.h>

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
#define AK_BUCKET_DUMP_MAGIC	0x414b4231	/* "AKB1" */
#define AK_PG_MAJOR				(PG_VERSION_NUM / 100)
#define AK_SWEEP_BACKOFF_US		(100 * 1000)	/* after a sweep freed nothing */

typedef struct AkBucketKey
{
	uint8		kind;			/* AkBucketKind */
	uint8		pad[3];
	uint32		tag;			/* which limit of a key; 0 otherwise */
	uint8		id[AK_BUCKET_ID_LEN];	/* the owner */
} AkBucketKey;

struct AkBucket
{
	AkBucketKey key;			/* hash key, must be first */
	slock_t		mutex;
	int32		rem_den;		/* the L that tat_rem is counted in */
	int64		tat_us;			/* TAT = tat_us + tat_rem / rem_den us */
	int32		tat_rem;
	int32		count;			/* concurrency counters: requests in flight */
	int64		until_us;		/* abuse buckets: cooldown end */
};

typedef struct AkBucketShared
{
	int			max_buckets;
	pg_atomic_uint32 inflight;	/* admitted requests whose transaction runs */
	pg_atomic_uint64 futile_sweep_at;	/* when a sweep last freed nothing */
} AkBucketShared;

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

void
ak_bucket_shmem_request(void)
{
	RequestAddinShmemSpace(add_size(MAXALIGN(sizeof(AkBucketShared)),
									ak_bucket_table_size()));
	RequestNamedLWLockTranche("apikey buckets", AK_BUCKET_PARTITIONS);
}

/* Caller holds AddinShmemInitLock. */
void
ak_bucket_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	ak_bshared = ShmemInitStruct("apikey bucket state", sizeof(AkBucketShared), &found);
	if (!found)
	{
		ak_bshared->max_buckets = ak_max_buckets;
		pg_atomic_init_u32(&ak_bshared->inflight, 0);
		pg_atomic_init_u64(&ak_bshared->futile_sweep_at, 0);
	}
	ak_block = GetNamedLWLockTranche("apikey buckets");

	info.keysize = sizeof(AkBucketKey);
	info.entrysize = sizeof(AkBucket);
	info.hash = ak_bucket_hash;
	info.num_partitions = AK_BUCKET_PARTITIONS;
	ak_btable = ShmemInitHash("apikey buckets", ak_max_buckets, ak_max_buckets,
							  &info,
							  HASH_ELEM | HASH_FUNCTION | HASH_PARTITION | HASH_FIXED_SIZE);

	if (!IsUnderPostmaster)
	{
		if (!found)
			ak_bucket_load();
		on_shmem_exit(ak_bucket_dump, (Datum) 0);
	}
}


/* ---- GCRA ---- */

/* The bucket's TAT in units of 1/L us (L = limit->limit). */
static int128
ak_tat(const AkBucket *b, int64 L)
{
	int128		tat = (int128) b->tat_us * L;

	if (b->tat_rem > 0)
	{
		/* counted in another limit: round up, never down */
		tat += ((int128) b->tat_rem * L + b->rem_den - 1) / b->rem_den;
	}
	return tat;
}

static void
ak_set_tat(AkBucket *b, int128 tat, int64 L)
{
	b->tat_us = (int64) (tat / L);
	b->tat_rem = (int32) (tat % L);
	b->rem_den = (int32) L;
}

static int64
ak_ceil_div(int128 a, int64 b)
{
	return a <= 0 ? 0 : (int64) ((a + b - 1) / b);
}

/*
 * Decides a request of cost on one bucket at now (us): *next is the TAT to
 * store if every bucket admits, and out describes the bucket after the
 * decision.  Pure arithmetic: called under the bucket's spinlock.
 */
static bool
ak_gcra(const AkBucket *b, const AkLimit *limit, int64 cost, int64 now_us,
		int128 *next, AkLimitOutcome *out)
{
	int64		L = limit->limit;
	int128		P = limit->period_us;
	int128		tau = (int128) limit->burst * P;
	int128		now = (int128) now_us * L;
	int128		tat = ak_tat(b, L);
	int128		base = Max(tat, now);
	int128		candidate = base + (int128) cost * P;
	bool		admit = candidate - now <= tau;
	int128		after = admit ? candidate : base;

	*next = after;
	out->remaining = (int64) ((tau - (after - now)) / P);
	out->full_in_us = ak_ceil_div(after - now, L);
	out->retry_in_us = admit ? 0 : ak_ceil_div(candidate - tau - now, L);
	return admit;
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

static void
ak_bucket_init(AkBucket *b)
{
	SpinLockInit(&b->mutex);
	b->rem_den = 1;
	b->tat_us = 0;
	b->tat_rem = 0;
	b->count = 0;
	b->until_us = 0;
}

/*
 * Finds the n buckets keys[] (all in one partition, hash[]), creating the
 * missing ones.  Returns with the partition lock held, in shared mode if
 * all existed and exclusive otherwise, or false -- without the lock --
 * when the table has no room even after a sweep.
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
				ak_bucket_init(found[i]);
		}
		if (!full)
			return true;
		LWLockRelease(lock);
		if (attempt == 0)
			ak_bucket_sweep(now_us);
	}
	return false;
}


/* ---- debit, refund, peek ---- */

/* Fills keys[] and hash[] for the n limits of an owner. */
static void
ak_owner_keys(AkBucketKind kind, const uint8 *owner, const AkLimit *limits,
			  int n, AkBucketKey *keys, uint32 *hash)
{
	for (int i = 0; i < n; i++)
	{
		ak_bucket_key(&keys[i], kind, owner,
					  kind == AK_BK_KEY_LIMIT ? limits[i].tag : 0);
		hash[i] = get_hash_value(ak_btable, &keys[i]);
	}
}

/*
 * Debits cost from every limit of an owner at once, or from none.  out[i]
 * describes limit i after the decision; when it is a rejection, out[i].
 * retry_in_us is how long until limit i alone would admit the request.
 */
AkDebit
ak_bucket_debit(AkBucketKind kind, const uint8 *owner, const AkLimit *limits,
				int n, int64 cost, int64 now_us, AkLimitOutcome *out)
{
	AkBucketKey keys[AK_MAX_LIMITS];
	uint32		hash[AK_MAX_LIMITS];
	AkBucket   *found[AK_MAX_LIMITS];
	AkBucket   *ordered[AK_MAX_LIMITS];
	int128		next[AK_MAX_LIMITS];
	bool		admits[AK_MAX_LIMITS];
	bool		all = true;

	Assert(n >= 1 && n <= AK_MAX_LIMITS);
	ak_owner_keys(kind, owner, limits, n, keys, hash);
	if (!ak_bucket_find(keys, hash, n, found, now_us, true))
		return AK_DEBIT_NO_ROOM;

	memcpy(ordered, found, n * sizeof(AkBucket *));
	ak_sort_by_address(ordered, n);

	for (int i = 0; i < n; i++)
		SpinLockAcquire(&ordered[i]->mutex);
	for (int i = 0; i < n; i++)
		all &= (admits[i] = ak_gcra(found[i], &limits[i], cost, now_us,
									&next[i], &out[i]));
	for (int i = 0; i < n; i++)
	{
		if (all)
			ak_set_tat(found[i], next[i], limits[i].limit);
		else if (admits[i])
		{
			/* not debited after all: describe it as it stays */
			(void) ak_gcra(found[i], &limits[i], 0, now_us, &next[i], &out[i]);
			out[i].retry_in_us = 0;
		}
	}
	for (int i = n - 1; i >= 0; i--)
		SpinLockRelease(&ordered[i]->mutex);
	LWLockRelease(PARTITION_LOCK(hash[0]));

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
		SpinLockAcquire(&found[i]->mutex);
		ak_set_tat(found[i], ak_tat(found[i], L) - (int128) cost * limits[i].period_us, L);
		SpinLockRelease(&found[i]->mutex);
	}
	LWLockRelease(PARTITION_LOCK(hash[0]));
}

/* Describes the limits of an owner without debiting or creating anything. */
void
ak_bucket_peek(AkBucketKind kind, const uint8 *owner, const AkLimit *limits,
			   int n, int64 now_us, AkLimitOutcome *out)
{
	static const AkBucket full = {0};
	AkBucketKey keys[AK_MAX_LIMITS];
	uint32		hash[AK_MAX_LIMITS];
	AkBucket   *found[AK_MAX_LIMITS];

	ak_owner_keys(kind, owner, limits, n, keys, hash);
	(void) ak_bucket_find(keys, hash, n, found, now_us, false);
	for (int i = 0; i < n; i++)
	{
		int128		unused;

		if (found[i] == NULL)
			(void) ak_gcra(&full, &limits[i], 0, now_us, &unused, &out[i]);
		else
		{
			SpinLockAcquire(&found[i]->mutex);
			(void) ak_gcra(found[i], &limits[i], 0, now_us, &unused, &out[i]);
			SpinLockRelease(&found[i]->mutex);
		}
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
	SpinLockAcquire(&b->mutex);
	if (b->count < max)
	{
		b->count++;
		taken = true;
	}
	SpinLockRelease(&b->mutex);
	LWLockRelease(PARTITION_LOCK(hash));
	*slot = b;
	return taken ? AK_DEBIT_OK : AK_DEBIT_REJECTED;
}

/* No partition lock needed: a counter with a holder is never removed. */
void
ak_slot_release(AkBucket *slot)
{
	SpinLockAcquire(&slot->mutex);
	Assert(slot->count > 0);
	slot->count--;
	SpinLockRelease(&slot->mutex);
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
 * prefix): more than threshold-1 in a minute starts a cooldown.  The failures
 * are a bucket of threshold tokens refilled over a minute.
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
	int128		next;
	AkLimitOutcome out;

	ak_bucket_key(&key, kind, owner, 0);
	hash = get_hash_value(ak_btable, &key);
	if (!ak_bucket_find(&key, &hash, 1, &b, now_us, true))
		return;					/* no room: better forget than refuse */
	SpinLockAcquire(&b->mutex);
	if (ak_gcra(b, &window, 1, now_us, &next, &out))
		ak_set_tat(b, next, window.limit);
	if (out.remaining < 1)
		b->until_us = now_us + cooldown_us;
	SpinLockRelease(&b->mutex);
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
		SpinLockAcquire(&b->mutex);
		until = b->until_us;
		SpinLockRelease(&b->mutex);
	}
	LWLockRelease(PARTITION_LOCK(hash));
	return until > now_us ? until : 0;
}


/* ---- eviction ---- */

/* Whether a bucket holds no information any more.  Caller holds its spinlock. */
static bool
ak_bucket_idle(const AkBucket *b, int64 now_us)
{
	switch ((AkBucketKind) b->key.kind)
	{
		case AK_BK_CONCURRENCY:
			return b->count == 0;
		case AK_BK_ABUSE_IP:
		case AK_BK_ABUSE_PREFIX:
			return b->until_us <= now_us &&
				(b->tat_us < now_us || (b->tat_us == now_us && b->tat_rem == 0));
		default:
			return b->tat_us < now_us || (b->tat_us == now_us && b->tat_rem == 0);
	}
}

/*
 * Removes every idle bucket.  Holds every partition lock exclusively, so it
 * runs only when a bucket cannot be created (and at most once per
 * AK_SWEEP_BACKOFF_US after a sweep that found nothing), or from the worker.
 */
static void
ak_bucket_sweep(int64 now_us)
{
	HASH_SEQ_STATUS seq;
	AkBucket   *b;
	int			freed = 0;

	if (now_us - (int64) pg_atomic_read_u64(&ak_bshared->futile_sweep_at) < AK_SWEEP_BACKOFF_US)
		return;

	for (int i = 0; i < AK_BUCKET_PARTITIONS; i++)
		LWLockAcquire(&ak_block[i].lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, ak_btable);
	while ((b = hash_seq_search(&seq)) != NULL)
	{
		bool		idle;

		SpinLockAcquire(&b->mutex);
		idle = ak_bucket_idle(b, now_us);
		SpinLockRelease(&b->mutex);
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

/* Whether a bucket is worth keeping across a restart. */
static bool
ak_bucket_persists(const AkBucket *b, int64 now_us)
{
	return b->key.kind != AK_BK_CONCURRENCY && !ak_bucket_idle(b, now_us);
}

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
	(uint32) sizeof(AkBucket), 0};
	int64		now_us = GetCurrentTimestamp();
	int64		count = 0;

	if (code != 0 || ak_btable == NULL)
		return;

	file = AllocateFile(AK_BUCKET_DUMP_FILE ".tmp", PG_BINARY_W);
	if (file == NULL || fwrite(header, sizeof(header), 1, file) != 1)
		goto error;

	hash_seq_init(&seq, ak_btable);
	while ((b = hash_seq_search(&seq)) != NULL)
	{
		if (!ak_bucket_persists(b, now_us))
			continue;
		if (fwrite(b, sizeof(AkBucket), 1, file) != 1)
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
	AkBucket	saved;
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
		header[2] != sizeof(AkBucket) ||
		fseek(file, -(long) (sizeof(count) + sizeof(trailer)), SEEK_END) != 0 ||
		fread(&count, sizeof(count), 1, file) != 1 ||
		fread(trailer, sizeof(trailer), 1, file) != 1 ||
		memcmp(header, trailer, sizeof(header)) != 0 ||
		(records = (ftell(file) - (long) (sizeof(header) + sizeof(count) + sizeof(trailer)))
		 / (long) sizeof(AkBucket)) != count ||
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
		ak_bucket_init(b);
		b->rem_den = Max(saved.rem_den, 1);
		b->tat_us = saved.tat_us;
		b->tat_rem = saved.tat_rem;
		b->until_us = saved.until_us;
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
