/*-------------------------------------------------------------------------
 *
 * usage.c
 *	  Usage per key and UTC hour: counted in shared memory by check() and
 *	  consume(), with no table write on the request's path, and added to
 *	  apikey.usage_hourly by the worker at every flush.
 *
 * An entry counts one (database, key, hour, endpoint): requests, how they
 * were answered, cost units, and the durations of the allowed requests.
 * It holds only what the worker has not collected yet; the worker adds that
 * to the hour's row (an upsert), so a dashboard is one flush behind at most,
 * and removes entries of finished hours once they are empty.
 *
 * A request's duration runs from check() to the end of its transaction
 * (commit or abort): the request is recorded then.  Durations go into a
 * fixed log-scale histogram of AK_LATENCY_BUCKETS counts: bucket i < 39
 * counts durations under 32 us * 2^(i/2) (so from 32 us to 16.8 s, each
 * bucket 41% wider than the one before it), bucket 39 the longer ones.
 * Histograms add up exactly across flushes, backends and hours, which is
 * what lets usage_hourly and the daily and monthly views report p95 and
 * p99 of any span (within the 41% of a bucket, interpolated).
 *
 * The endpoint is request.path, as PostgREST sets it, cut to
 * AK_USAGE_PATH_LEN - 1 bytes; usage_hourly keeps the AK_MAX_ENDPOINTS - 1
 * busiest endpoints of an hour and counts the others as "(other)".
 *
 * Locking protocol
 *	  The table has AK_USAGE_PARTITIONS partitions, each with an LWLock of
 *	  tranche "apikey usage"; each entry has a spinlock initialized once for
 *	  the life of the shared memory (ak_shmem_hash_prepare).
 *	  - An entry's counts are read and written only under its spinlock: a
 *		backend adds a few integers, the worker copies and zeroes them.
 *	  - Finding an entry: its partition's lock in shared mode; creating
 *		one: in exclusive mode, set up and marked live under its spinlock.
 *	  - Hints: a backend remembers where entries were (ak_usage_hints) and
 *		goes there directly, trusting an entry only if, under its spinlock,
 *		it is live and holds the expected key -- as in bucket.c.
 *	  - The worker's harvest: every partition lock in shared mode, in
 *		ascending order.  Removal of finished hours: every partition lock in
 *		exclusive mode, in ascending order; an entry is marked not live
 *		under its spinlock before it leaves the table.
 *	  - The count of records lost to a full table is an AkCounter.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type_d.h"
#include "common/hashfn.h"
#include "common/int.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "port/pg_bitutils.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "apikey.h"

#define AK_USAGE_PARTITIONS		16	/* a power of 2 */
#define AK_USAGE_PATH_LEN		64
#define AK_MAX_ENDPOINTS		32	/* per key and hour, "(other)" included */
#define AK_USAGE_PENDING_MAX	8	/* requests of one transaction */
#define AK_USAGE_HINTS			64	/* a power of 2 */
#define AK_LATENCY_FIRST_US		32

/* GUCs */
bool		ak_track_usage = true;
int			ak_max_usage_entries = 20000;

typedef struct AkUsageKey
{
	pg_uuid_t	key_id;
	int64		hour;			/* hours since 2000-01-01 00:00 UTC */
	Oid			dboid;
	uint32		path_hash;		/* 0: no endpoint */
} AkUsageKey;

typedef struct AkUsageCounts
{
	int64		requests;
	int64		allowed;
	int64		rate_limited;
	int64		quota_exceeded;
	int64		denied_auth;
	int64		cost_units;
	int64		latency_us;		/* the sum of the durations counted below */
	TimestampTz last_used;
	uint32		latency[AK_LATENCY_BUCKETS];
} AkUsageCounts;

typedef struct AkUsage
{
	AkUsageKey	key;			/* hash key, must be first */
	AkSharedEntry e;
	AkUsageCounts pending;		/* not collected by the worker yet */
	char		path[AK_USAGE_PATH_LEN];
} AkUsage;

/* A request of this transaction, recorded when it ends. */
typedef struct AkUsageRecord
{
	AkUsageKey	key;
	AkUsageOutcome outcome;
	int64		requests;		/* 1 for check(), 0 for consume() */
	int64		cost;
	TimestampTz start;			/* -1: no duration */
	char		path[AK_USAGE_PATH_LEN];
} AkUsageRecord;

static HTAB *ak_usage_table = NULL;
static LWLockPadded *ak_usage_locks = NULL;

static AkUsageRecord ak_usage_open[AK_USAGE_PENDING_MAX];
static int	ak_usage_nopen = 0;
static bool ak_usage_callback = false;

static struct
{
	AkUsageKey	key;
	AkUsage    *entry;
}			ak_usage_hints[AK_USAGE_HINTS];

#define USAGE_LOCK(hash) (&ak_usage_locks[(hash) % AK_USAGE_PARTITIONS].lock)


/* ---- shared memory ---- */

void
ak_usage_shmem_request(void)
{
	RequestAddinShmemSpace(hash_estimate_size(ak_max_usage_entries, sizeof(AkUsage)));
	RequestNamedLWLockTranche("apikey usage", AK_USAGE_PARTITIONS);
}

/* Caller holds AddinShmemInitLock. */
void
ak_usage_shmem_startup(void)
{
	HASHCTL		info;

	ak_usage_locks = GetNamedLWLockTranche("apikey usage");
	info.keysize = sizeof(AkUsageKey);
	info.entrysize = sizeof(AkUsage);
	info.num_partitions = AK_USAGE_PARTITIONS;
	ak_usage_table = ShmemInitHash("apikey usage", ak_max_usage_entries,
								   ak_max_usage_entries, &info,
								   HASH_ELEM | HASH_BLOBS | HASH_PARTITION | HASH_FIXED_SIZE);
	if (!IsUnderPostmaster)
		ak_shmem_hash_prepare(ak_usage_table, sizeof(AkUsageKey),
							  offsetof(AkUsage, e));
}


/* ---- durations ---- */

/* The histogram bucket of a duration (see the top of the file). */
static inline int
ak_latency_bucket(int64 us)
{
	uint64		v = (uint64) Min(Max(us, 0), PG_INT32_MAX);
	uint64		x;

	if (v < AK_LATENCY_FIRST_US)
		return 0;
	x = (v * v) / (AK_LATENCY_FIRST_US * AK_LATENCY_FIRST_US);
	return Min(pg_leftmost_one_pos64(x) + 1, AK_LATENCY_BUCKETS - 1);
}

/* The upper bound of bucket i, in microseconds. */
static double
ak_latency_bound(int i)
{
	return AK_LATENCY_FIRST_US * pow(2.0, i / 2.0);
}

/*
 * The q-quantile of a histogram, in milliseconds, interpolated linearly
 * within its bucket; -1 for an empty histogram.
 */
static double
ak_latency_quantile(const int64 *counts, double q)
{
	int64		total = 0;
	double		rank;
	int64		below = 0;

	for (int i = 0; i < AK_LATENCY_BUCKETS; i++)
		total += counts[i];
	if (total == 0)
		return -1;
	rank = Max(q * total, 1.0);
	for (int i = 0; i < AK_LATENCY_BUCKETS; i++)
	{
		double		lower = i == 0 ? 0 : ak_latency_bound(i - 1);
		double		value;

		if (counts[i] == 0 || below + counts[i] < rank)
		{
			below += counts[i];
			continue;
		}
		if (i == AK_LATENCY_BUCKETS - 1)
			value = lower;
		else
			value = lower + (rank - below) / counts[i] * (ak_latency_bound(i) - lower);
		return rint(value) / 1000.0;
	}
	return ak_latency_bound(AK_LATENCY_BUCKETS - 2) / 1000.0;	/* not reached */
}


/* ---- recording ---- */

static inline int64
ak_hour_of(TimestampTz t)
{
	return t / USECS_PER_HOUR - (t % USECS_PER_HOUR < 0);
}

/* Adds a record to counts.  Caller holds the entry's spinlock. */
static inline void
ak_usage_count(AkUsageCounts *c, const AkUsageRecord *r, int bucket,
			   int64 duration_us, TimestampTz now)
{
	c->requests += r->requests;
	switch (r->outcome)
	{
		case AK_USAGE_ALLOWED:
			c->allowed += r->requests;
			break;
		case AK_USAGE_RATE_LIMITED:
			c->rate_limited += r->requests;
			break;
		case AK_USAGE_QUOTA_EXCEEDED:
			c->quota_exceeded += r->requests;
			break;
		case AK_USAGE_DENIED_AUTH:
			c->denied_auth += r->requests;
			break;
	}
	c->cost_units += r->cost;
	if (bucket >= 0)
	{
		c->latency[bucket]++;
		c->latency_us += duration_us;
	}
	if (now > c->last_used)
		c->last_used = now;
}

/* Counts r into e if e holds its key; false (nothing done) otherwise. */
static bool
ak_usage_count_into(AkUsage *e, const AkUsageRecord *r, int bucket,
					int64 duration_us, TimestampTz now)
{
	bool		held;

	SpinLockAcquire(&e->e.mutex);
	held = e->e.live && memcmp(&e->key, &r->key, sizeof(AkUsageKey)) == 0;
	if (held)
		ak_usage_count(&e->pending, r, bucket, duration_us, now);
	SpinLockRelease(&e->e.mutex);
	return held;
}

/* Finds or creates the entry of r, with its partition lock held; or NULL. */
static AkUsage *
ak_usage_entry(const AkUsageRecord *r, uint32 hash, LWLockMode *mode)
{
	LWLock	   *lock = USAGE_LOCK(hash);
	AkUsage    *e;
	bool		found;

	*mode = LW_SHARED;
	LWLockAcquire(lock, LW_SHARED);
	e = hash_search_with_hash_value(ak_usage_table, &r->key, hash, HASH_FIND, NULL);
	if (e != NULL)
		return e;
	LWLockRelease(lock);

	*mode = LW_EXCLUSIVE;
	LWLockAcquire(lock, LW_EXCLUSIVE);
	e = hash_search_with_hash_value(ak_usage_table, &r->key, hash,
									HASH_ENTER_NULL, &found);
	if (e != NULL && !found)
	{
		SpinLockAcquire(&e->e.mutex);
		memset(&e->pending, 0, sizeof(e->pending));
		memcpy(e->path, r->path, sizeof(e->path));
		e->e.live = true;
		SpinLockRelease(&e->e.mutex);
	}
	if (e == NULL)
		LWLockRelease(lock);
	return e;
}

/* Adds one record to shared memory; duration_us < 0: none. */
static void
ak_usage_add(const AkUsageRecord *r, int64 duration_us, TimestampTz now)
{
	uint32		hash = get_hash_value(ak_usage_table, &r->key);
	int			slot = hash & (AK_USAGE_HINTS - 1);
	int			bucket = duration_us >= 0 && r->outcome == AK_USAGE_ALLOWED
		? ak_latency_bucket(duration_us) : -1;
	AkUsage    *e = ak_usage_hints[slot].entry;
	LWLockMode	mode;

	if (e != NULL &&
		memcmp(&ak_usage_hints[slot].key, &r->key, sizeof(AkUsageKey)) == 0 &&
		ak_usage_count_into(e, r, bucket, duration_us, now))
		return;

	e = ak_usage_entry(r, hash, &mode);
	if (e == NULL)
	{
		ak_count(AK_USAGE_DROPPED);
		return;
	}
	(void) ak_usage_count_into(e, r, bucket, duration_us, now);
	LWLockRelease(USAGE_LOCK(hash));
	ak_usage_hints[slot].key = r->key;
	ak_usage_hints[slot].entry = e;
}

static void
ak_usage_close_all(void)
{
	TimestampTz now = GetCurrentTimestamp();

	for (int i = 0; i < ak_usage_nopen; i++)
		ak_usage_add(&ak_usage_open[i], now - ak_usage_open[i].start, now);
	ak_usage_nopen = 0;
}

static void
ak_usage_xact_callback(XactEvent event, void *arg)
{
	if (ak_xact_ends(event) && ak_usage_nopen > 0)
		ak_usage_close_all();
}

/* Whether usage is recorded here: not on a standby, where nobody flushes it. */
static bool
ak_usage_enabled(void)
{
	return ak_track_usage && !RecoveryInProgress();
}

static void
ak_usage_fill(AkUsageRecord *r, const pg_uuid_t *key_id, TimestampTz now)
{
	memset(&r->key, 0, sizeof(r->key));
	r->key.key_id = *key_id;
	r->key.hour = ak_hour_of(now);
	r->key.dboid = MyDatabaseId;
	r->path[0] = '\0';
}

/*
 * check(): one request of a key, recorded when its transaction ends, with
 * its duration, under request.path when PostgREST set it.
 */
void
ak_usage_request(const pg_uuid_t *key_id, AkUsageOutcome outcome, int64 cost)
{
	AkUsageRecord *r;
	const char *path;

	if (!ak_usage_enabled())
		return;
	if (!ak_usage_callback)
	{
		RegisterXactCallback(ak_usage_xact_callback, NULL);
		ak_usage_callback = true;
	}
	if (ak_usage_nopen == AK_USAGE_PENDING_MAX)
		ak_usage_close_all();	/* a transaction of many requests */

	r = &ak_usage_open[ak_usage_nopen];
	r->start = GetCurrentTimestamp();
	ak_usage_fill(r, key_id, r->start);
	r->outcome = outcome;
	r->requests = 1;
	r->cost = outcome == AK_USAGE_ALLOWED ? cost : 0;

	path = GetConfigOption("request.path", true, false);
	if (path != NULL && path[0] != '\0')
	{
		int			len = pg_mbcliplen(path, strlen(path), AK_USAGE_PATH_LEN - 1);

		memcpy(r->path, path, len);
		r->path[len] = '\0';
		r->key.path_hash = hash_bytes((const unsigned char *) r->path, len) | 1;
	}
	ak_usage_nopen++;
}

/*
 * consume(): cost units debited from a key at a time, recorded now;
 * negative for units refunded on rollback, billed to the same hour.
 */
void
ak_usage_charge(const pg_uuid_t *key_id, int64 cost, TimestampTz at)
{
	AkUsageRecord r;

	if (cost == 0 || !ak_usage_enabled())
		return;
	ak_usage_fill(&r, key_id, at);
	r.outcome = AK_USAGE_ALLOWED;
	r.requests = 0;
	r.cost = cost;
	ak_usage_add(&r, -1, at);	/* at is also the key's last use */
}


/* ---- the worker's side ---- */

/* What the worker has collected and not written yet. */
struct AkUsagePending
{
	MemoryContext hours_cxt;
	MemoryContext keys_cxt;
	HTAB	   *hours;			/* AkUsageKey -> AkPendingHour */
	HTAB	   *keys;			/* key id -> AkPendingKey */
};

typedef struct AkPendingHour
{
	AkUsageKey	key;
	AkUsageCounts counts;
	char		path[AK_USAGE_PATH_LEN];
} AkPendingHour;

typedef struct AkPendingKey
{
	pg_uuid_t	key_id;
	TimestampTz last_used;
} AkPendingKey;

static void
ak_usage_pending_reset(AkUsagePending *p, bool hours, bool keys)
{
	HASHCTL		info;

	if (hours)
	{
		MemoryContextReset(p->hours_cxt);
		info.keysize = sizeof(AkUsageKey);
		info.entrysize = sizeof(AkPendingHour);
		info.hcxt = p->hours_cxt;
		p->hours = hash_create("apikey pending usage", 1024, &info,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	if (keys)
	{
		MemoryContextReset(p->keys_cxt);
		info.keysize = sizeof(pg_uuid_t);
		info.entrysize = sizeof(AkPendingKey);
		info.hcxt = p->keys_cxt;
		p->keys = hash_create("apikey pending last use", 1024, &info,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
}

AkUsagePending *
ak_usage_pending_create(MemoryContext cxt)
{
	AkUsagePending *p = MemoryContextAllocZero(cxt, sizeof(AkUsagePending));

	p->hours_cxt = AllocSetContextCreate(cxt, "apikey pending usage",
										 ALLOCSET_DEFAULT_SIZES);
	p->keys_cxt = AllocSetContextCreate(cxt, "apikey pending last use",
										ALLOCSET_DEFAULT_SIZES);
	ak_usage_pending_reset(p, true, true);
	return p;
}

bool
ak_usage_is_empty(AkUsagePending *p)
{
	return hash_get_num_entries(p->hours) == 0 &&
		hash_get_num_entries(p->keys) == 0;
}

static bool
ak_counts_empty(const AkUsageCounts *c)
{
	return c->requests == 0 && c->cost_units == 0;
}

static void
ak_counts_merge(AkUsageCounts *into, const AkUsageCounts *c)
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

static void
ak_pending_add(AkUsagePending *p, const AkUsage *e, const AkUsageCounts *c)
{
	AkPendingHour *h;
	AkPendingKey *k;
	bool		found;

	h = hash_search(p->hours, &e->key, HASH_ENTER, &found);
	if (!found)
	{
		memset(&h->counts, 0, sizeof(h->counts));
		memcpy(h->path, e->path, sizeof(h->path));
	}
	ak_counts_merge(&h->counts, c);

	k = hash_search(p->keys, &e->key.key_id, HASH_ENTER, &found);
	if (!found || c->last_used > k->last_used)
		k->last_used = c->last_used;
}

/*
 * Moves what every entry of this database has counted into pending, and
 * returns how many entries are of finished hours (ak_usage_forget_finished
 * removes them).  Entries of other databases are emptied and logged: the
 * worker writes to one database only.
 */
int64
ak_usage_harvest(AkUsagePending *p, int64 now_us)
{
	static bool warned = false;
	HASH_SEQ_STATUS seq;
	AkUsage    *e;
	int64		current = ak_hour_of(now_us);
	int64		finished = 0;
	int64		foreign = 0;

	for (int i = 0; i < AK_USAGE_PARTITIONS; i++)
		LWLockAcquire(&ak_usage_locks[i].lock, LW_SHARED);
	hash_seq_init(&seq, ak_usage_table);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		AkUsageCounts c;

		SpinLockAcquire(&e->e.mutex);
		c = e->pending;
		memset(&e->pending, 0, sizeof(e->pending));
		SpinLockRelease(&e->e.mutex);

		if (e->key.hour < current)
			finished++;
		if (ak_counts_empty(&c))
			continue;
		if (e->key.dboid != MyDatabaseId)
			foreign += c.requests;
		else
			ak_pending_add(p, e, &c);
	}
	for (int i = AK_USAGE_PARTITIONS - 1; i >= 0; i--)
		LWLockRelease(&ak_usage_locks[i].lock);

	if (foreign > 0 && !warned)
	{
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("apikey usage of another database is discarded"),
				 errdetail("The apikey worker writes to database \"%s\" only.",
						   ak_worker_database),
				 errhint("Use apikey in one database per server, and set apikey.database to it.")));
		warned = true;
	}
	return finished;
}

/* Removes the empty entries of finished hours from shared memory. */
void
ak_usage_forget_finished(int64 now_us)
{
	HASH_SEQ_STATUS seq;
	AkUsage    *e;
	int64		current = ak_hour_of(now_us);

	for (int i = 0; i < AK_USAGE_PARTITIONS; i++)
		LWLockAcquire(&ak_usage_locks[i].lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, ak_usage_table);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		bool		gone;

		if (e->key.hour >= current)
			continue;
		SpinLockAcquire(&e->e.mutex);
		gone = ak_counts_empty(&e->pending);
		if (gone)
			e->e.live = false;
		SpinLockRelease(&e->e.mutex);
		if (gone)
			hash_search(ak_usage_table, &e->key, HASH_REMOVE, NULL);
	}
	for (int i = AK_USAGE_PARTITIONS - 1; i >= 0; i--)
		LWLockRelease(&ak_usage_locks[i].lock);
}

/* The last use of each key collected: for apikey.keys.last_used_at. */
int
ak_usage_last_used(AkUsagePending *p, pg_uuid_t **ids, TimestampTz **times)
{
	int			n = (int) hash_get_num_entries(p->keys);
	HASH_SEQ_STATUS seq;
	AkPendingKey *k;
	int			i = 0;

	*ids = palloc(Max(n, 1) * sizeof(pg_uuid_t));
	*times = palloc(Max(n, 1) * sizeof(TimestampTz));
	hash_seq_init(&seq, p->keys);
	while ((k = hash_seq_search(&seq)) != NULL)
	{
		(*ids)[i] = k->key_id;
		(*times)[i] = k->last_used;
		i++;
	}
	return i;
}

/* Forgets what was written: the keys' last use, the hours, or both. */
void
ak_usage_written(AkUsagePending *p, bool keys, bool hours)
{
	ak_usage_pending_reset(p, hours, keys);
}


/* ---- writing usage_hourly ---- */

/* One row of usage_hourly being built: a key's hour, all endpoints. */
typedef struct AkHourRow
{
	pg_uuid_t	key_id;
	int64		hour;
	AkUsageCounts counts;
	StringInfoData endpoints;	/* a JSON object */
	int			nendpoints;
} AkHourRow;

static int
ak_pending_hour_cmp(const void *a, const void *b)
{
	const AkPendingHour *x = *(AkPendingHour *const *) a;
	const AkPendingHour *y = *(AkPendingHour *const *) b;
	int			c = memcmp(&x->key.key_id, &y->key.key_id, sizeof(pg_uuid_t));

	if (c != 0)
		return c;
	if (x->key.hour != y->key.hour)
		return x->key.hour < y->key.hour ? -1 : 1;
	/* the busiest endpoints first: they are the ones an hour keeps */
	if (x->counts.requests != y->counts.requests)
		return x->counts.requests > y->counts.requests ? -1 : 1;
	return strcmp(x->path, y->path);
}

static void
ak_endpoint_json(StringInfo buf, const char *path, const AkUsageCounts *c)
{
	appendStringInfoString(buf, buf->len > 1 ? ", " : "");
	escape_json(buf, path);
	appendStringInfo(buf, ": {\"requests\": " INT64_FORMAT ", \"allowed\": " INT64_FORMAT
					 ", \"total_ms\": %.3f}",
					 c->requests, c->allowed, c->latency_us / 1000.0);
}

static bool
ak_same_hour_row(const AkPendingHour *a, const AkPendingHour *b)
{
	return a->key.hour == b->key.hour &&
		memcmp(&a->key.key_id, &b->key.key_id, sizeof(pg_uuid_t)) == 0;
}

/*
 * Groups the collected entries into rows of (key, hour): their counts
 * summed, their endpoints in a JSON object, the busiest first and the rest
 * as "(other)".
 */
static int
ak_hour_rows(AkUsagePending *p, AkHourRow **out)
{
	int			n = (int) hash_get_num_entries(p->hours);
	AkPendingHour **sorted = palloc(Max(n, 1) * sizeof(AkPendingHour *));
	AkHourRow  *rows = palloc0(Max(n, 1) * sizeof(AkHourRow));
	HASH_SEQ_STATUS seq;
	AkPendingHour *h;
	int			nrows = 0;
	int			i = 0;

	hash_seq_init(&seq, p->hours);
	while ((h = hash_seq_search(&seq)) != NULL)
		sorted[i++] = h;
	qsort(sorted, n, sizeof(AkPendingHour *), ak_pending_hour_cmp);

	for (int first = 0, next; first < n; first = next)
	{
		AkHourRow  *row = &rows[nrows++];
		AkUsageCounts other;

		memset(&other, 0, sizeof(other));
		row->key_id = sorted[first]->key.key_id;
		row->hour = sorted[first]->key.hour;
		initStringInfo(&row->endpoints);
		appendStringInfoChar(&row->endpoints, '{');
		for (next = first; next < n && ak_same_hour_row(sorted[next], sorted[first]); next++)
		{
			h = sorted[next];
			ak_counts_merge(&row->counts, &h->counts);
			if (h->key.path_hash == 0)
				continue;
			if (row->nendpoints++ < AK_MAX_ENDPOINTS - 1)
				ak_endpoint_json(&row->endpoints, h->path, &h->counts);
			else
				ak_counts_merge(&other, &h->counts);
		}
		if (!ak_counts_empty(&other))
			ak_endpoint_json(&row->endpoints, "(other)", &other);
		appendStringInfoChar(&row->endpoints, '}');
	}
	*out = rows;
	return nrows;
}

/*
 * Adds the collected usage to usage_hourly, in the caller's transaction:
 * one upsert for every row.  avg_ms, p95_ms and p99_ms are computed again
 * from the sum of the stored and the new histograms.
 */
void
ak_usage_write(AkUsagePending *p)
{
	static const char *sql =
		"INSERT INTO apikey.usage_hourly AS u"
		"  (key_id, hour, requests, allowed, rate_limited, quota_exceeded,"
		"   denied_auth, cost_units, avg_ms, p95_ms, p99_ms, endpoints, latency_hist)"
		" SELECT d.key_id, d.hour, d.requests, d.allowed, d.rate_limited,"
		"   d.quota_exceeded, d.denied_auth, d.cost_units,"
		"   d.latency_ms OPERATOR(pg_catalog./) NULLIF(apikey._hist_count(h.hist), 0),"
		"   apikey.latency_quantile(h.hist, 0.95), apikey.latency_quantile(h.hist, 0.99),"
		"   d.endpoints, h.hist"
		" FROM unnest($1::uuid[], $2::timestamptz[], $3::int8[], $4::int8[],"
		"             $5::int8[], $6::int8[], $7::int8[], $8::int8[],"
		"             $9::float8[], $10::jsonb[]) WITH ORDINALITY"
		"   AS d(key_id, hour, requests, allowed, rate_limited, quota_exceeded,"
		"        denied_auth, cost_units, latency_ms, endpoints, i),"
		"   LATERAL (SELECT ($11::int8[])[(d.i OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog.*) 40 OPERATOR(pg_catalog.+) 1"
		"                                 : d.i OPERATOR(pg_catalog.*) 40] AS hist) AS h"
		" ON CONFLICT (key_id, hour) DO UPDATE SET"
		"   requests = u.requests OPERATOR(pg_catalog.+) excluded.requests,"
		"   allowed = u.allowed OPERATOR(pg_catalog.+) excluded.allowed,"
		"   rate_limited = u.rate_limited OPERATOR(pg_catalog.+) excluded.rate_limited,"
		"   quota_exceeded = u.quota_exceeded OPERATOR(pg_catalog.+) excluded.quota_exceeded,"
		"   denied_auth = u.denied_auth OPERATOR(pg_catalog.+) excluded.denied_auth,"
		"   cost_units = u.cost_units OPERATOR(pg_catalog.+) excluded.cost_units,"
		"   avg_ms = apikey._avg_add(u.avg_ms, u.latency_hist, excluded.avg_ms, excluded.latency_hist),"
		"   p95_ms = apikey.latency_quantile(apikey._hist_add(u.latency_hist, excluded.latency_hist), 0.95),"
		"   p99_ms = apikey.latency_quantile(apikey._hist_add(u.latency_hist, excluded.latency_hist), 0.99),"
		"   latency_hist = apikey._hist_add(u.latency_hist, excluded.latency_hist),"
		"   endpoints = CASE WHEN excluded.endpoints OPERATOR(pg_catalog.=) '{}' THEN u.endpoints"
		"                    ELSE apikey._endpoints_add(u.endpoints, excluded.endpoints) END";
	static const Oid elemtypes[11] = {
		UUIDOID, TIMESTAMPTZOID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID,
		INT8OID, FLOAT8OID, JSONBOID, INT8OID
	};
	Oid			types[11];
	AkHourRow  *rows;
	int			n = ak_hour_rows(p, &rows);
	Datum	   *cols[11];
	Datum	   *hist;
	Datum		args[11];

	if (n == 0)
		return;
	for (int c = 0; c < 11; c++)
		cols[c] = palloc(n * sizeof(Datum));
	hist = palloc(n * AK_LATENCY_BUCKETS * sizeof(Datum));
	for (int i = 0; i < n; i++)
	{
		AkHourRow  *r = &rows[i];

		cols[0][i] = UUIDPGetDatum(&r->key_id);
		cols[1][i] = TimestampTzGetDatum(r->hour * USECS_PER_HOUR);
		cols[2][i] = Int64GetDatum(r->counts.requests);
		cols[3][i] = Int64GetDatum(r->counts.allowed);
		cols[4][i] = Int64GetDatum(r->counts.rate_limited);
		cols[5][i] = Int64GetDatum(r->counts.quota_exceeded);
		cols[6][i] = Int64GetDatum(r->counts.denied_auth);
		cols[7][i] = Int64GetDatum(r->counts.cost_units);
		cols[8][i] = Float8GetDatum(r->counts.latency_us / 1000.0);
		cols[9][i] = DirectFunctionCall1(jsonb_in, CStringGetDatum(r->endpoints.data));
		for (int b = 0; b < AK_LATENCY_BUCKETS; b++)
			hist[i * AK_LATENCY_BUCKETS + b] = Int64GetDatum(r->counts.latency[b]);
	}
	for (int c = 0; c < 10; c++)
		args[c] = ak_array_datum(cols[c], NULL, n, elemtypes[c], &types[c]);
	args[10] = ak_array_datum(hist, NULL, n * AK_LATENCY_BUCKETS, elemtypes[10], &types[10]);
	(void) ak_worker_execute(sql, 11, types, args, SPI_OK_INSERT);
}


/* ---- SQL: latency histograms ---- */

PG_FUNCTION_INFO_V1(apikey_hist_add);
PG_FUNCTION_INFO_V1(apikey_hist_count);
PG_FUNCTION_INFO_V1(apikey_latency_quantile);

/* A histogram argument, as AK_LATENCY_BUCKETS counts; false if NULL. */
static bool
ak_hist_arg(FunctionCallInfo fcinfo, int argno, int64 *counts)
{
	ArrayType  *a;
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	memset(counts, 0, AK_LATENCY_BUCKETS * sizeof(int64));
	if (PG_ARGISNULL(argno))
		return false;
	a = PG_GETARG_ARRAYTYPE_P(argno);
	deconstruct_array(a, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &n);
	if (ARR_NDIM(a) > 1 || n != AK_LATENCY_BUCKETS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid latency histogram: it must have %d elements",
						AK_LATENCY_BUCKETS)));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i] || DatumGetInt64(elems[i]) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid latency histogram: counts must not be null or negative")));
		counts[i] = DatumGetInt64(elems[i]);
	}
	return true;
}

/* apikey._hist_add(a bigint[], b bigint[]): the sum; NULL counts as empty. */
Datum
apikey_hist_add(PG_FUNCTION_ARGS)
{
	int64		a[AK_LATENCY_BUCKETS];
	int64		b[AK_LATENCY_BUCKETS];
	Datum		sum[AK_LATENCY_BUCKETS];
	bool		any;

	AK_REQUIRE_PRELOAD();
	any = ak_hist_arg(fcinfo, 0, a);
	any |= ak_hist_arg(fcinfo, 1, b);
	if (!any)
		PG_RETURN_NULL();
	for (int i = 0; i < AK_LATENCY_BUCKETS; i++)
	{
		int64		n;

		if (pg_add_s64_overflow(a[i], b[i], &n))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("latency histogram count out of range")));
		sum[i] = Int64GetDatum(n);
	}
	PG_RETURN_ARRAYTYPE_P(construct_array(sum, AK_LATENCY_BUCKETS, INT8OID,
										  sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* apikey._hist_count(h bigint[]): how many durations; 0 for NULL. */
Datum
apikey_hist_count(PG_FUNCTION_ARGS)
{
	int64		h[AK_LATENCY_BUCKETS];
	int64		total = 0;

	AK_REQUIRE_PRELOAD();
	(void) ak_hist_arg(fcinfo, 0, h);
	for (int i = 0; i < AK_LATENCY_BUCKETS; i++)
		total += h[i];
	PG_RETURN_INT64(total);
}

/* apikey.latency_quantile(h bigint[], q float8): milliseconds, or NULL. */
Datum
apikey_latency_quantile(PG_FUNCTION_ARGS)
{
	int64		h[AK_LATENCY_BUCKETS];
	double		q;
	double		ms;

	AK_REQUIRE_PRELOAD();
	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	q = PG_GETARG_FLOAT8(1);
	if (!(q >= 0 && q <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid quantile: it must be between 0 and 1")));
	(void) ak_hist_arg(fcinfo, 0, h);
	ms = ak_latency_quantile(h, q);
	if (ms < 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(ms);
}
