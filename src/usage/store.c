/*-------------------------------------------------------------------------
 *
 * store.c
 *	  Usage per key and UTC hour in shared memory: counted by the requests'
 *	  backends with no table write on their path, and drained by the worker
 *	  into apikey.usage_hourly at every flush.
 *
 * An entry counts one (database, key, hour, endpoint): requests, how they
 * were answered, cost units, and the durations of the allowed requests.
 * It holds only what the worker has not collected yet; the worker adds
 * that to the hour's row, so a dashboard is one flush behind at most, and
 * removes entries of finished hours once they are empty.
 *
 * Locking protocol
 *	  The table is a shash (shmem/shash.h) of AK_USAGE_PARTITIONS
 *	  partitions, tranche "apikey usage", and follows its protocol: an
 *	  entry's counts are read and written under its spinlock -- a backend
 *	  adds a few integers, the worker copies and zeroes them; a backend
 *	  remembers where its entries were (ak_usage_hints) and goes there
 *	  directly.  The worker's drain holds every partition lock in shared
 *	  mode; removing finished hours, in exclusive mode.  The count of
 *	  records lost to a full table is an AkCounter.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "core/clock.h"
#include "core/counters.h"
#include "core/guc.h"
#include "shmem/shash.h"
#include "usage/store.h"

#define AK_USAGE_PARTITIONS		16	/* a power of 2 */
#define AK_USAGE_HINTS			64	/* a power of 2 */

typedef struct AkUsage
{
	AkUsageKey	key;			/* hash key, must be first */
	AkShashEntry header;
	AkUsageCounts pending;		/* not collected by the worker yet */
	char		path[AK_USAGE_PATH_LEN];
} AkUsage;

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

/* The table's protocol (shmem/shash.h) for usage entries, with constant sizes. */
static inline void
ak_usage_lock(AkUsage *e)
{
	ak_shash_lock(&e->header);
}

static inline void
ak_usage_unlock(AkUsage *e)
{
	ak_shash_unlock(&e->header);
}

/* where this backend last found entries: a hint per key hash */
static struct
{
	AkUsageKey	key;
	AkUsage    *entry;
}			ak_usage_hints[AK_USAGE_HINTS];


void
ak_usage_store_request(void)
{
	ak_shash_request(&ak_usage_spec);
}

/* Caller holds AddinShmemInitLock. */
void
ak_usage_store_attach(void)
{
	ak_shash_attach(&ak_usage, &ak_usage_spec);
}

/* A new entry: no counts, and its endpoint's path (arg). */
static void
ak_usage_init(void *entry, const void *arg)
{
	AkUsage    *e = entry;

	memset(&e->pending, 0, sizeof(e->pending));
	strlcpy(e->path, (const char *) arg, sizeof(e->path));
}

bool
ak_usage_counts_empty(const AkUsageCounts *c)
{
	return c->requests == 0 && c->cost_units == 0;
}

/* An entry of a finished hour that holds nothing any more. */
static bool
ak_usage_retire(void *entry, int64 now_us)
{
	AkUsage    *e = entry;
	bool		gone;

	if (e->key.hour >= ak_hour_of(now_us))
		return false;
	ak_usage_lock(e);
	gone = ak_usage_counts_empty(&e->pending);
	if (gone)
		ak_shash_retire_locked(&e->header);
	ak_usage_unlock(e);
	return gone;
}

/* Adds a delta to counts.  Caller holds the entry's spinlock. */
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
		c->latency[d->latency_bucket]++;
		c->latency_us += d->duration_us;
	}
	if (d->at > c->last_used)
		c->last_used = d->at;
}

/* Counts delta into e if e holds key; false (nothing done) otherwise. */
static bool
ak_usage_count_into(AkUsage *e, const AkUsageKey *key, const AkUsageDelta *d)
{
	if (!ak_shash_lock_if_holds(&e->header, e, key, sizeof(AkUsageKey)))
		return false;
	ak_usage_count(&e->pending, d);
	ak_usage_unlock(e);
	return true;
}

/*
 * Adds a delta to the entry of key (its endpoint's path given for a new
 * entry).  A full table drops it, counted in AK_USAGE_DROPPED.
 */
void
ak_usage_store_add(const AkUsageKey *key, const char *path,
				   const AkUsageDelta *delta)
{
	uint32		hash = ak_shash_hash(&ak_usage, key);
	int			slot = hash & (AK_USAGE_HINTS - 1);
	void	   *found;

	if (ak_usage_hints[slot].entry != NULL &&
		memcmp(&ak_usage_hints[slot].key, key, sizeof(AkUsageKey)) == 0 &&
		ak_usage_count_into(ak_usage_hints[slot].entry, key, delta))
		return;

	if (!ak_shash_find(&ak_usage, key, &hash, 1, &found, true, path, delta->at))
	{
		ak_count(AK_USAGE_DROPPED);
		return;
	}
	(void) ak_usage_count_into(found, key, delta);
	ak_shash_release(&ak_usage, hash);
	ak_usage_hints[slot].key = *key;
	ak_usage_hints[slot].entry = found;
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
		into->latency[i] += c->latency[i];
}


/* ---- the worker's side ---- */

typedef struct AkDrain
{
	Oid			dboid;
	int64		current_hour;
	int64		finished;
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
	ak_usage_lock(e);
	c = e->pending;
	memset(&e->pending, 0, sizeof(e->pending));
	ak_usage_unlock(e);

	if (e->key.hour < drain->current_hour)
		drain->finished++;
	if (!ak_usage_counts_empty(&c))
		drain->fn(&e->key, e->path, &c, drain->arg);
	return false;
}

/*
 * Takes what every entry has counted, handing it to fn(key, path, counts,
 * arg), and returns how many entries are of finished hours
 * (ak_usage_store_forget_finished removes those that stay empty).
 */
int64
ak_usage_store_drain(Oid dboid, int64 now_us, AkUsageDrainFn fn, void *arg)
{
	AkDrain		drain = {dboid, ak_hour_of(now_us), 0, fn, arg};

	ak_shash_scan(&ak_usage, LW_SHARED, ak_usage_drain_visit, &drain);
	return drain.finished;
}

/* Removes the empty entries of finished hours from shared memory. */
void
ak_usage_store_forget_finished(int64 now_us)
{
	(void) ak_shash_sweep(&ak_usage, now_us);
}
