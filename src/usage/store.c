/*-------------------------------------------------------------------------
 *
 * store.c
 *	  Usage per key and UTC hour in shared memory: counted by the requests'
 *	  backends with no table write on their path, written by the worker of
 *	  the database into apikey.usage_hours at every checkpoint
 *	  (apikey.usage_flush_interval, the end of an hour, or when room runs
 *	  short), and read live, before that, by the usage_hourly view.
 *
 * An entry counts one (database, key, hour, endpoint): requests, how they
 * were answered, cost units, and the durations of the allowed requests --
 * only what the worker has not written yet.  An entry with nothing to
 * write is clean, and may be reused for another when room is needed.  A
 * key's hour has at most AK_MAX_ENDPOINTS - 1 endpoint entries; the
 * requests of other endpoints count in "(other)", so no key can fill the
 * store with made-up paths.  The entry of a key's hour without endpoint is
 * its head, which counts its endpoint entries.
 *
 * Nothing is dropped: a backend that finds no room keeps the counts in its
 * own memory (an overflow table), asks the workers for a checkpoint, and
 * moves them into shared memory as soon as a checkpoint has made room --
 * at its next request, at transaction end, or, at the latest, as it exits,
 * when it waits for room for a while.  Only if the server gives none in
 * that time is a record lost, and counted in AK_USAGE_DROPPED, which the
 * worker reports.
 *
 * Locking protocol
 *	  The table is a shash (shmem/shash.h) of AK_USAGE_PARTITIONS
 *	  partitions, tranche "apikey usage", and follows its protocol: an
 *	  entry's counts and its count of endpoints are read and written under
 *	  its spinlock -- a backend adds a few integers, the worker copies and
 *	  zeroes them; a backend remembers where its entries were
 *	  (ak_usage_hints) and goes there directly.  The request for a
 *	  checkpoint is an atomic timestamp.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "common/hashfn.h"
#include "core/clock.h"
#include "core/counters.h"
#include "core/guc.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "shmem/shash.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "usage/hourrow.h"
#include "usage/store.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define AK_USAGE_PARTITIONS		64	/* a power of 2 */
#define AK_USAGE_HINTS			64	/* a power of 2 */
#define AK_OVERFLOW_RETRY_US	(100 * 1000)
#define AK_EXIT_WAIT_MS			10000	/* for room, at backend exit */

typedef struct AkUsage
{
	AkUsageKey	key;			/* hash key, must be first */
	AkShashEntry header;
	AkUsageCounts pending;		/* not written by the worker yet */
	int32		endpoints;		/* the head of a key's hour: its endpoint
								 * entries */
	char		path[AK_USAGE_PATH_LEN];
} AkUsage;

typedef struct AkUsageShared
{
	pg_atomic_uint64 checkpoint_wanted; /* when a backend last found no room */
} AkUsageShared;

static void ak_usage_init(void *entry, const void *arg);
static bool ak_usage_retire(void *entry, int64 now_us);

static const AkShashSpec ak_usage_spec = {
	.name = "apikey usage",
	.mem_class = AK_MEM_USAGE,
	.keysize = sizeof(AkUsageKey),
	.entrysize = sizeof(AkUsage),
	.header_offset = offsetof(AkUsage, header),
	.partitions = AK_USAGE_PARTITIONS,
	.hash = NULL,
	.max_entries = &ak_max_usage_entries,
	.init = ak_usage_init,
	.retire = ak_usage_retire,
};

static AkShash ak_usage;
static AkUsageShared *ak_usage_shared = NULL;

/* where this backend last found entries: a hint per key hash */
static struct
{
	AkUsageKey	key;
	AkUsage    *entry;
}			ak_usage_hints[AK_USAGE_HINTS];

/* What this backend counted and found no room for. */
typedef struct AkOverflow
{
	AkUsageKey	key;
	char		path[AK_USAGE_PATH_LEN];
	AkUsageCounts counts;
} AkOverflow;

static HTAB *ak_overflow = NULL;
static int64 ak_overflow_tried_at = 0;


/* ---- shared memory ---- */

void
ak_usage_store_request(void)
{
	ak_shash_request(&ak_usage_spec);
	RequestAddinShmemSpace(sizeof(AkUsageShared));
}

/* Caller holds AddinShmemInitLock. */
void
ak_usage_store_attach(void)
{
	bool		found;

	ak_shash_attach(&ak_usage, &ak_usage_spec);
	ak_usage_shared = ShmemInitStruct("apikey usage state", sizeof(AkUsageShared), &found);
	if (!found)
		pg_atomic_init_u64(&ak_usage_shared->checkpoint_wanted, 0);
}

/* A new entry: no counts, and its endpoint's path (arg). */
static void
ak_usage_init(void *entry, const void *arg)
{
	AkUsage    *e = entry;

	memset(&e->pending, 0, sizeof(e->pending));
	e->endpoints = 0;
	strlcpy(e->path, (const char *) arg, sizeof(e->path));
}

bool
ak_usage_counts_empty(const AkUsageCounts *c)
{
	return c->requests == 0 && c->cost_units == 0 && c->last_used == 0;
}

/* An entry with nothing to write can be reused. */
static bool
ak_usage_retire(void *entry, int64 now_us)
{
	AkUsage    *e = entry;
	bool		clean;

	ak_shash_lock(&e->header);
	clean = ak_usage_counts_empty(&e->pending);
	if (clean)
		ak_shash_retire_locked(&e->header);
	ak_shash_unlock(&e->header);
	return clean;
}


/* ---- counting ---- */

static inline uint32
ak_sat_add_u32(uint32 a, uint32 b)
{
	return a > PG_UINT32_MAX - b ? PG_UINT32_MAX : a + b;
}

/* Adds a delta to counts.  Caller holds the entry's spinlock, if any. */
static inline void
ak_usage_count(AkUsageCounts *c, const AkUsageDelta *d)
{
	c->requests += d->requests;
	switch (d->outcome)
	{
		case AK_USAGE_ALLOWED:
			c->allowed += d->requests;
			break;
		case AK_USAGE_RATE_LIMITED:
			c->rate_limited += d->requests;
			break;
		case AK_USAGE_QUOTA_EXCEEDED:
			c->quota_exceeded += d->requests;
			break;
		case AK_USAGE_DENIED_AUTH:
			c->denied_auth += d->requests;
			break;
	}
	c->cost_units += d->cost;
	if (d->latency_bucket >= 0)
	{
		c->latency[d->latency_bucket] = ak_sat_add_u32(c->latency[d->latency_bucket], 1);
		c->latency_us += d->duration_us;
	}
	if (d->at > c->last_used)
		c->last_used = d->at;
}

void
ak_usage_counts_merge(AkUsageCounts *into, const AkUsageCounts *c)
{
	into->requests += c->requests;
	into->allowed += c->allowed;
	into->rate_limited += c->rate_limited;
	into->quota_exceeded += c->quota_exceeded;
	into->denied_auth += c->denied_auth;
	into->cost_units += c->cost_units;
	into->latency_us += c->latency_us;
	into->last_used = Max(into->last_used, c->last_used);
	for (int i = 0; i < AK_LATENCY_BUCKETS; i++)
		into->latency[i] = ak_sat_add_u32(into->latency[i], c->latency[i]);
}

/* Adds counts to e if e holds key; false (nothing done) otherwise. */
static bool
ak_usage_merge_into(AkUsage *e, const AkUsageKey *key, const AkUsageCounts *c)
{
	if (!ak_shash_lock_if_holds(&e->header, e, key, sizeof(AkUsageKey)))
		return false;
	ak_usage_counts_merge(&e->pending, c);
	ak_shash_unlock(&e->header);
	return true;
}

/* The entry of key, made if missing (path for a new one); NULL if no room. */
static AkUsage *
ak_usage_entry(const AkUsageKey *key, const char *path, int64 now_us)
{
	uint32		hash = ak_shash_hash(&ak_usage, key);
	void	   *found;

	if (!ak_shash_find(&ak_usage, key, &hash, 1, &found, true, path, now_us))
		return NULL;
	ak_shash_release(&ak_usage, hash);
	return found;
}

/*
 * Whether a new endpoint entry may be made for the key's hour: its head
 * counts them, up to AK_MAX_ENDPOINTS - 1.  False also when the head finds
 * no room (*room false).
 */
static bool
ak_usage_endpoint_allowed(const AkUsageKey *key, int64 now_us, bool *room)
{
	AkUsageKey	head_key = *key;
	AkUsage    *head;
	bool		allowed = false;

	head_key.path_hash = 0;
	for (;;)
	{
		head = ak_usage_entry(&head_key, "", now_us);
		*room = head != NULL;
		if (head == NULL)
			return false;
		if (ak_shash_lock_if_holds(&head->header, head, &head_key, sizeof(AkUsageKey)))
			break;
	}
	if (head->endpoints < AK_MAX_ENDPOINTS - 1)
	{
		head->endpoints++;
		allowed = true;
	}
	ak_shash_unlock(&head->header);
	return allowed;
}

/*
 * Adds counts to the entry of key (path for a new one): an endpoint
 * beyond the key's hour's share counts in "(other)".  Returns the entry
 * counted into, or NULL when there is no room.
 */
static AkUsage *
ak_usage_store_counts(const AkUsageKey *key, const char *path,
					  const AkUsageCounts *c, int64 now_us)
{
	uint32		hash = ak_shash_hash(&ak_usage, key);
	AkUsageKey	k = *key;
	void	   *found;
	bool		room = true;

	if (k.path_hash != 0)
	{
		if (!ak_shash_find(&ak_usage, &k, &hash, 1, &found, false, NULL, now_us))
			return NULL;
		ak_shash_release(&ak_usage, hash);
		if (found == NULL && !ak_usage_endpoint_allowed(&k, now_us, &room))
		{
			if (!room)
				return NULL;
			path = AK_OTHER_ENDPOINT;
			k.path_hash = hash_bytes((const unsigned char *) path, strlen(path)) | 1;
		}
	}
	for (;;)
	{
		AkUsage    *e = ak_usage_entry(&k, path, now_us);

		if (e == NULL || ak_usage_merge_into(e, &k, c))
			return e;
	}
}


/* ---- the overflow: what found no room ---- */

static void
ak_usage_want_checkpoint(int64 now_us)
{
	pg_atomic_write_u64(&ak_usage_shared->checkpoint_wanted, (uint64) now_us);
}

/* Moves what it can of the overflow into shared memory; true if all. */
static bool
ak_usage_overflow_retry(int64 now_us)
{
	HASH_SEQ_STATUS seq;
	AkOverflow *o;

	ak_overflow_tried_at = now_us;
	hash_seq_init(&seq, ak_overflow);
	while ((o = hash_seq_search(&seq)) != NULL)
	{
		if (ak_usage_store_counts(&o->key, o->path, &o->counts, now_us) == NULL)
		{
			hash_seq_term(&seq);
			ak_usage_want_checkpoint(now_us);
			return false;
		}
		(void) hash_search(ak_overflow, &o->key, HASH_REMOVE, NULL);
	}
	return true;
}

/*
 * At backend exit: the overflow waits a while for room (the workers were
 * asked for a checkpoint); what still finds none is lost, and counted.
 */
static void
ak_usage_overflow_at_exit(int code, Datum arg)
{
	for (int waited = 0; waited < AK_EXIT_WAIT_MS; waited += 50)
	{
		if (ak_usage_overflow_retry(GetCurrentTimestamp()))
			return;
		pg_usleep(50 * 1000L);
	}
	ak_count_by(AK_USAGE_DROPPED, hash_get_num_entries(ak_overflow));
}

static void
ak_usage_overflow_add(const AkUsageKey *key, const char *path,
					  const AkUsageCounts *c, int64 now_us)
{
	AkOverflow *o;
	bool		found;

	if (ak_overflow == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(AkUsageKey);
		ctl.entrysize = sizeof(AkOverflow);
		ctl.hcxt = TopMemoryContext;
		ak_overflow = hash_create("apikey usage overflow", 64, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		before_shmem_exit(ak_usage_overflow_at_exit, (Datum) 0);
	}
	o = hash_search(ak_overflow, key, HASH_ENTER, &found);
	if (!found)
	{
		memset(&o->counts, 0, sizeof(o->counts));
		strlcpy(o->path, path, sizeof(o->path));
	}
	ak_usage_counts_merge(&o->counts, c);
	ak_usage_want_checkpoint(now_us);
}

/* Moves the overflow into shared memory if there may be room now. */
void
ak_usage_store_retry(void)
{
	int64		now_us;

	if (ak_overflow == NULL || hash_get_num_entries(ak_overflow) == 0)
		return;
	now_us = GetCurrentTimestamp();
	if (now_us - ak_overflow_tried_at >= AK_OVERFLOW_RETRY_US)
		(void) ak_usage_overflow_retry(now_us);
}


/* ---- the backends' side ---- */

/*
 * Adds a delta to the entry of key (its endpoint's path given for a new
 * entry); without room, to this backend's overflow.
 */
void
ak_usage_store_add(const AkUsageKey *key, const char *path,
				   const AkUsageDelta *delta)
{
	uint32		hash = ak_shash_hash(&ak_usage, key);
	int			slot = hash & (AK_USAGE_HINTS - 1);
	AkUsageCounts c;
	AkUsage    *e;

	memset(&c, 0, sizeof(c));
	ak_usage_count(&c, delta);
	ak_usage_store_retry();
	if (ak_usage_hints[slot].entry != NULL &&
		memcmp(&ak_usage_hints[slot].key, key, sizeof(AkUsageKey)) == 0 &&
		ak_usage_merge_into(ak_usage_hints[slot].entry, key, &c))
		return;

	e = ak_usage_store_counts(key, path, &c, delta->at);
	if (e == NULL)
	{
		ak_usage_overflow_add(key, path, &c, delta->at);
		return;
	}
	ak_usage_hints[slot].key = *key;
	ak_usage_hints[slot].entry = e;		/* an "(other)" never matches: no hint */
}


/* ---- the worker's side ---- */

/* Whether a checkpoint was asked for since the one at since_us. */
bool
ak_usage_store_checkpoint_wanted(int64 since_us)
{
	return (int64) pg_atomic_read_u64(&ak_usage_shared->checkpoint_wanted) >= since_us;
}

typedef struct AkDrain
{
	Oid			dboid;
	bool		take;			/* zero what is read */
	AkUsageDrainFn fn;
	void	   *arg;
} AkDrain;

static bool
ak_usage_drain_visit(void *entry, void *arg)
{
	AkUsage    *e = entry;
	AkDrain    *drain = arg;
	AkUsageCounts c;

	if (e->key.dboid != drain->dboid)
		return false;
	ak_shash_lock(&e->header);
	c = e->pending;
	if (drain->take)
		memset(&e->pending, 0, sizeof(e->pending));
	ak_shash_unlock(&e->header);
	if (!ak_usage_counts_empty(&c))
		drain->fn(&e->key, e->path, &c, drain->arg);
	return false;
}

/*
 * Takes what every entry of database dboid has counted, handing it to
 * fn(key, path, counts, arg); the entries are clean afterwards.
 */
void
ak_usage_store_drain(Oid dboid, AkUsageDrainFn fn, void *arg)
{
	AkDrain		drain = {dboid, true, fn, arg};

	ak_shash_scan(&ak_usage, LW_SHARED, ak_usage_drain_visit, &drain);
	ak_shash_note_idle(&ak_usage);
}

/* What every entry of database dboid holds, left in place (the live view). */
void
ak_usage_store_peek(Oid dboid, AkUsageDrainFn fn, void *arg)
{
	AkDrain		drain = {dboid, false, fn, arg};

	ak_shash_scan(&ak_usage, LW_SHARED, ak_usage_drain_visit, &drain);
}

int64
ak_usage_store_count(void)
{
	return ak_shash_count(&ak_usage);
}
