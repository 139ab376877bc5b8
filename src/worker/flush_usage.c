/*-------------------------------------------------------------------------
 *
 * flush_usage.c
 *	  The worker's "flush usage" task: what the backends counted in the
 *	  shared usage store (usage/store.c), gathered into one row per key and
 *	  hour -- its endpoints in a JSON object, the busiest AK_MAX_ENDPOINTS
 *	  - 1 kept and the others counted as "(other)" -- and added to
 *	  apikey.usage_hourly by one upsert.
 *
 * What the worker took from shared memory stays in its memory until the
 * write commits: a failed task keeps it for the next flush.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "catalog/pg_type_d.h"
#include "core/guc.h"
#include "core/spi.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "usage/store.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "worker/flush.h"

#define AK_MAX_ENDPOINTS		32	/* per key and hour, "(other)" included */

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

/*
 * Collects what the backends counted in this database since the last
 * harvest; returns how many entries are of finished hours.
 */
int64
ak_usage_harvest(AkUsagePending *p, int64 now_us)
{
	return ak_usage_store_drain(MyDatabaseId, now_us, ak_harvest_entry, p);
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
			ak_usage_counts_merge(&row->counts, &h->counts);
			if (h->key.path_hash == 0)
				continue;
			if (row->nendpoints++ < AK_MAX_ENDPOINTS - 1)
				ak_endpoint_json(&row->endpoints, h->path, &h->counts);
			else
				ak_usage_counts_merge(&other, &h->counts);
		}
		if (!ak_usage_counts_empty(&other))
			ak_endpoint_json(&row->endpoints, "(other)", &other);
		appendStringInfoChar(&row->endpoints, '}');
	}
	*out = rows;
	return nrows;
}

/* The columns of the upsert, $1 to $10; $11 is the histograms, flat. */
enum
{
	U_KEY_ID, U_HOUR, U_REQUESTS, U_ALLOWED, U_RATE_LIMITED, U_QUOTA_EXCEEDED,
	U_DENIED_AUTH, U_COST_UNITS, U_LATENCY_MS, U_ENDPOINTS
};

static const Oid ak_usage_columns[] = {
	[U_KEY_ID] = UUIDOID,
	[U_HOUR] = TIMESTAMPTZOID,
	[U_REQUESTS] = INT8OID,
	[U_ALLOWED] = INT8OID,
	[U_RATE_LIMITED] = INT8OID,
	[U_QUOTA_EXCEEDED] = INT8OID,
	[U_DENIED_AUTH] = INT8OID,
	[U_COST_UNITS] = INT8OID,
	[U_LATENCY_MS] = FLOAT8OID,
	[U_ENDPOINTS] = JSONBOID,
};

#define AK_HIST		CppAsString2(AK_LATENCY_BUCKETS)

static void
ak_usage_row_columns(AkColumns *c, int i, const AkHourRow *r, Datum *hist)
{
	ak_column_set(c, U_KEY_ID, i, UUIDPGetDatum(&r->key_id));
	ak_column_set(c, U_HOUR, i, TimestampTzGetDatum(r->hour * USECS_PER_HOUR));
	ak_column_set(c, U_REQUESTS, i, Int64GetDatum(r->counts.requests));
	ak_column_set(c, U_ALLOWED, i, Int64GetDatum(r->counts.allowed));
	ak_column_set(c, U_RATE_LIMITED, i, Int64GetDatum(r->counts.rate_limited));
	ak_column_set(c, U_QUOTA_EXCEEDED, i, Int64GetDatum(r->counts.quota_exceeded));
	ak_column_set(c, U_DENIED_AUTH, i, Int64GetDatum(r->counts.denied_auth));
	ak_column_set(c, U_COST_UNITS, i, Int64GetDatum(r->counts.cost_units));
	ak_column_set(c, U_LATENCY_MS, i, Float8GetDatum(r->counts.latency_us / 1000.0));
	ak_column_set(c, U_ENDPOINTS, i,
				  DirectFunctionCall1(jsonb_in, CStringGetDatum(r->endpoints.data)));
	for (int b = 0; b < AK_LATENCY_BUCKETS; b++)
		hist[i * AK_LATENCY_BUCKETS + b] = Int64GetDatum(r->counts.latency[b]);
}

/*
 * Adds the collected usage to usage_hourly, in the caller's transaction:
 * one upsert for every row.  avg_ms, p95_ms and p99_ms are computed again
 * from the sum of the stored and the new histograms.
 */
void
ak_write_usage(void *arg)
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
		"   LATERAL (SELECT ($11::int8[])[(d.i OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog.*) " AK_HIST " OPERATOR(pg_catalog.+) 1"
		"                                 : d.i OPERATOR(pg_catalog.*) " AK_HIST "] AS hist) AS h"
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
	AkUsagePending *p = arg;
	AkHourRow  *rows;
	int			n = ak_hour_rows(p, &rows);
	AkColumns	c;
	AkParams	params = {0};
	Datum	   *hist;
	Oid			hist_type;
	Datum		hist_array;

	if (n == 0)
		return;
	ak_columns_init(&c, ak_usage_columns, lengthof(ak_usage_columns), n, false);
	hist = palloc(n * AK_LATENCY_BUCKETS * sizeof(Datum));
	for (int i = 0; i < n; i++)
		ak_usage_row_columns(&c, i, &rows[i], hist);
	ak_columns_params(&c, &params);
	hist_array = ak_array_datum(hist, NULL, n * AK_LATENCY_BUCKETS, INT8OID, &hist_type);
	ak_param(&params, hist_type, hist_array, false);
	(void) ak_spi_exec(sql, &params, SPI_OK_INSERT);
}
