/*-------------------------------------------------------------------------
 *
 * flush_usage.c
 *	  The worker's "flush usage" task, at each checkpoint: what the backends
 *	  counted in the shared usage store (usage/store.c), gathered into one
 *	  row per key and hour, added in C (usage/hourrow.c) to the row
 *	  apikey.usage_hours already has, and written back by one upsert: no
 *	  SQL function runs per row.
 *
 * What the worker took from shared memory stays in its memory until the
 * write commits: a failed task keeps it for the next checkpoint.  Only
 * the worker writes usage_hours (but for the retention purge, which
 * deletes whole hours long past), and it locks the rows it reads.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "catalog/pg_type_d.h"
#include "core/guc.h"
#include "core/spi.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "usage/hourrow.h"
#include "usage/store.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "worker/flush.h"

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

static void
ak_pending_add(AkUsagePending *p, const AkUsageKey *key, const char *path,
			   const AkUsageCounts *c)
{
	AkPendingHour *h;
	AkPendingKey *k;
	bool		found;

	h = hash_search(p->hours, key, HASH_ENTER, &found);
	if (!found)
	{
		memset(&h->counts, 0, sizeof(h->counts));
		strlcpy(h->path, path, sizeof(h->path));
	}
	ak_usage_counts_merge(&h->counts, c);

	k = hash_search(p->keys, &key->key_id, HASH_ENTER, &found);
	if (!found || c->last_used > k->last_used)
		k->last_used = c->last_used;
}

static void
ak_harvest_entry(const AkUsageKey *key, const char *path,
				 const AkUsageCounts *counts, void *arg)
{
	ak_pending_add((AkUsagePending *) arg, key, path, counts);
}

/* Takes what the backends counted in this database into the worker's memory. */
void
ak_usage_harvest(AkUsagePending *p)
{
	ak_usage_store_drain(MyDatabaseId, ak_harvest_entry, p);
}

/* The last use of each key collected: for apikey.keys.last_used_at. */
void
ak_usage_last_used(AkUsagePending *p, AkLastUseWrite *w)
{
	int			n = (int) hash_get_num_entries(p->keys);
	HASH_SEQ_STATUS seq;
	AkPendingKey *k;
	int			i = 0;

	w->ids = palloc(Max(n, 1) * sizeof(pg_uuid_t));
	w->at = palloc(Max(n, 1) * sizeof(TimestampTz));
	w->written = palloc(Max(n, 1) * sizeof(bool));
	hash_seq_init(&seq, p->keys);
	while ((k = hash_seq_search(&seq)) != NULL)
	{
		w->ids[i] = k->key_id;
		w->at[i] = k->last_used;
		i++;
	}
	w->n = i;
}

/* Forgets the last uses written; those skipped stay for the next flush. */
void
ak_usage_last_use_written(AkUsagePending *p, const AkLastUseWrite *w)
{
	for (int i = 0; i < w->n; i++)
		if (w->written[i])
			(void) hash_search(p->keys, &w->ids[i], HASH_REMOVE, NULL);
}

/* Forgets what was written: the keys' last use, the hours, or both. */
void
ak_usage_written(AkUsagePending *p, bool keys, bool hours)
{
	ak_usage_pending_reset(p, hours, keys);
}


/* ---- writing usage_hours ---- */

/* The pending usage as one row per key and hour, sorted (*n of them). */
static AkHourRow *
ak_hour_writes(AkUsagePending *p, int *n)
{
	AkHourRows *rows = ak_hour_rows_create();
	HASH_SEQ_STATUS seq;
	AkPendingHour *h;

	hash_seq_init(&seq, p->hours);
	while ((h = hash_seq_search(&seq)) != NULL)
		ak_hour_rows_add(rows, &h->key, h->path, &h->counts);
	return ak_hour_rows_sorted(rows, n);
}

/*
 * Adds the rows usage_hours already has for these keys and hours, locked
 * (sorted, so that the order is always the same).
 */
static void
ak_add_stored_rows(AkHourRow *w, int n)
{
	static const char *sql =
		"SELECT u.* FROM apikey.usage_hours AS u"
		"  JOIN unnest($1::uuid[], $2::timestamptz[]) AS w(key_id, hour)"
		"    ON u.key_id OPERATOR(pg_catalog.=) w.key_id AND u.hour OPERATOR(pg_catalog.=) w.hour"
		" ORDER BY u.key_id, u.hour FOR UPDATE OF u";
	static const Oid types[] = {UUIDOID, TIMESTAMPTZOID};
	AkColumns	c;
	AkParams	p = {0};
	uint64		found;

	ak_columns_init(&c, types, lengthof(types), n, false);
	for (int i = 0; i < n; i++)
	{
		ak_column_set(&c, 0, i, UUIDPGetDatum(&w[i].key_id));
		ak_column_set(&c, 1, i, TimestampTzGetDatum(w[i].hour));
	}
	ak_columns_params(&c, &p);
	found = ak_spi_exec(sql, &p, SPI_OK_SELECT);
	if (found > 0 && SPI_tuptable->tupdesc->natts != AK_HR_NATTS)
		elog(ERROR, "apikey.usage_hours has %d columns, not %d",
			 SPI_tuptable->tupdesc->natts, AK_HR_NATTS);
	for (uint64 r = 0; r < found; r++)
	{
		Datum		values[AK_HR_NATTS];
		bool		nulls[AK_HR_NATTS];
		AkHourRow	stored;
		AkHourRow  *into;

		heap_deform_tuple(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, values, nulls);
		ak_hour_row_decode(&stored, values, nulls);
		into = bsearch(&stored, w, n, sizeof(AkHourRow), ak_hour_row_cmp);
		if (into != NULL)
			ak_hour_row_add(into, &stored);
	}
}

static const Oid ak_hour_columns[AK_HR_NATTS] = {
	[AK_HR_KEY_ID] = UUIDOID,
	[AK_HR_HOUR] = TIMESTAMPTZOID,
	[AK_HR_REQUESTS] = INT8OID,
	[AK_HR_ALLOWED] = INT8OID,
	[AK_HR_RATE_LIMITED] = INT8OID,
	[AK_HR_QUOTA_EXCEEDED] = INT8OID,
	[AK_HR_DENIED_AUTH] = INT8OID,
	[AK_HR_COST_UNITS] = INT8OID,
	[AK_HR_AVG_MS] = FLOAT8OID,
	[AK_HR_P95_MS] = FLOAT8OID,
	[AK_HR_P99_MS] = FLOAT8OID,
	[AK_HR_ENDPOINTS] = JSONBOID,
	[AK_HR_LATENCY_HIST] = INT8ARRAYOID,
};

#define AK_HIST		CppAsString2(AK_LATENCY_BUCKETS)

/* Writes the added-up rows back, each whole. */
static void
ak_write_hour_rows(AkHourRow *w, int n)
{
	static const char *sql =
		"INSERT INTO apikey.usage_hours AS u"
		"  (key_id, hour, requests, allowed, rate_limited, quota_exceeded,"
		"   denied_auth, cost_units, avg_ms, p95_ms, p99_ms, endpoints, latency_hist)"
		" SELECT d.key_id, d.hour, d.requests, d.allowed, d.rate_limited, d.quota_exceeded,"
		"        d.denied_auth, d.cost_units, d.avg_ms, d.p95_ms, d.p99_ms, d.endpoints,"
		"        CASE WHEN d.timed THEN ($14::int8[])[(d.i OPERATOR(pg_catalog.-) 1)"
		"             OPERATOR(pg_catalog.*) " AK_HIST " OPERATOR(pg_catalog.+) 1"
		"             : d.i OPERATOR(pg_catalog.*) " AK_HIST "] END"
		"   FROM unnest($1::uuid[], $2::timestamptz[], $3::int8[], $4::int8[],"
		"               $5::int8[], $6::int8[], $7::int8[], $8::int8[],"
		"               $9::float8[], $10::float8[], $11::float8[], $12::jsonb[],"
		"               $13::bool[]) WITH ORDINALITY"
		"     AS d(key_id, hour, requests, allowed, rate_limited, quota_exceeded,"
		"          denied_auth, cost_units, avg_ms, p95_ms, p99_ms, endpoints, timed, i)"
		" ON CONFLICT (key_id, hour) DO UPDATE SET"
		"   requests = excluded.requests, allowed = excluded.allowed,"
		"   rate_limited = excluded.rate_limited, quota_exceeded = excluded.quota_exceeded,"
		"   denied_auth = excluded.denied_auth, cost_units = excluded.cost_units,"
		"   avg_ms = excluded.avg_ms, p95_ms = excluded.p95_ms, p99_ms = excluded.p99_ms,"
		"   endpoints = excluded.endpoints, latency_hist = excluded.latency_hist";
	static const Oid bool_type[] = {BOOLOID};
	AkColumns	c;
	AkColumns	timed;
	AkParams	p = {0};
	Datum	   *hist = palloc0(n * AK_LATENCY_BUCKETS * sizeof(Datum));
	Oid			hist_type;

	ak_columns_init(&c, ak_hour_columns, AK_HR_LATENCY_HIST, n, true);
	ak_columns_init(&timed, bool_type, 1, n, false);
	for (int i = 0; i < n; i++)
	{
		Datum		values[AK_HR_NATTS];
		bool		nulls[AK_HR_NATTS];

		ak_hour_row_encode(&w[i], values, nulls);
		for (int col = 0; col < AK_HR_LATENCY_HIST; col++)
			if (!nulls[col])
				ak_column_set(&c, col, i, values[col]);
		ak_column_set(&timed, 0, i, BoolGetDatum(!nulls[AK_HR_LATENCY_HIST]));
		for (int b = 0; b < AK_LATENCY_BUCKETS; b++)
			hist[i * AK_LATENCY_BUCKETS + b] = Int64GetDatum(w[i].hist[b]);
	}
	ak_columns_params(&c, &p);
	ak_columns_params(&timed, &p);
	ak_param(&p, INT8ARRAYOID,
			 ak_array_datum(hist, NULL, n * AK_LATENCY_BUCKETS, INT8OID, &hist_type),
			 false);
	(void) ak_spi_exec(sql, &p, SPI_OK_INSERT);
}

/*
 * Adds the collected usage to usage_hours, in the caller's transaction:
 * the stored rows are read and locked, added to in C, and written back.
 */
void
ak_write_usage(void *arg)
{
	AkUsagePending *p = arg;
	int			n;
	AkHourRow  *w = ak_hour_writes(p, &n);

	if (n == 0)
		return;
	ak_add_stored_rows(w, n);
	ak_write_hour_rows(w, n);
}
