/*-------------------------------------------------------------------------
 *
 * hourrow.c
 *	  Adding up usage: a row of apikey.usage_hours and counts from shared
 *	  memory, or two rows.  Counts saturate at the largest bigint instead
 *	  of wrapping; the latency histograms add bucket by bucket, and avg_ms,
 *	  p95_ms and p99_ms are computed again from the sums; a row keeps its
 *	  AK_MAX_ENDPOINTS - 1 busiest endpoints and folds the others into
 *	  "(other)".  The worker adds what it collected to the stored rows here,
 *	  in C, and the usage_hourly view adds what shared memory has not
 *	  written yet the same way (apikey._usage_merge).
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "catalog/pg_type_d.h"
#include "common/int.h"
#include "lib/stringinfo.h"
#include "usage/hourrow.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/hsearch.h"
#include "utils/uuid.h"

static inline int64
ak_sat_add(int64 a, int64 b)
{
	int64		sum;

	if (pg_add_s64_overflow(a, b, &sum))
		return b > 0 ? PG_INT64_MAX : PG_INT64_MIN;
	return sum;
}

void
ak_hour_row_init(AkHourRow *row, const pg_uuid_t *key_id, TimestampTz hour)
{
	memset(row, 0, sizeof(*row));
	row->key_id = *key_id;
	row->hour = hour;
}

/* The entry of path among the row's endpoints, added if missing. */
static AkEndpointCount *
ak_hour_row_endpoint(AkHourRow *row, const char *path)
{
	AkEndpointCount *e;

	for (int i = 0; i < row->nendpoints; i++)
		if (strcmp(row->endpoints[i].path, path) == 0)
			return &row->endpoints[i];
	if (row->nendpoints == row->endpoints_size)
	{
		row->endpoints_size = Max(2 * row->endpoints_size, 8);
		row->endpoints = row->endpoints == NULL ?
			palloc(row->endpoints_size * sizeof(AkEndpointCount)) :
			repalloc(row->endpoints, row->endpoints_size * sizeof(AkEndpointCount));
	}
	e = &row->endpoints[row->nendpoints++];
	memset(e, 0, sizeof(*e));
	strlcpy(e->path, path, sizeof(e->path));
	return e;
}

static void
ak_endpoint_add(AkHourRow *row, const char *path, int64 requests, int64 allowed,
				double total_ms)
{
	AkEndpointCount *e = ak_hour_row_endpoint(row, path);

	e->requests = ak_sat_add(e->requests, requests);
	e->allowed = ak_sat_add(e->allowed, allowed);
	e->total_ms += total_ms;
}

/* Adds counts from shared memory, of an endpoint (path) or none (NULL, ""). */
void
ak_hour_row_add_counts(AkHourRow *row, const char *path, const AkUsageCounts *c)
{
	row->requests = ak_sat_add(row->requests, c->requests);
	row->allowed = ak_sat_add(row->allowed, c->allowed);
	row->rate_limited = ak_sat_add(row->rate_limited, c->rate_limited);
	row->quota_exceeded = ak_sat_add(row->quota_exceeded, c->quota_exceeded);
	row->denied_auth = ak_sat_add(row->denied_auth, c->denied_auth);
	row->cost_units = ak_sat_add(row->cost_units, c->cost_units);
	row->latency_ms += c->latency_us / 1000.0;
	for (int i = 0; i < AK_LATENCY_BUCKETS; i++)
		row->hist[i] = ak_sat_add(row->hist[i], c->latency[i]);
	if (path != NULL && path[0] != '\0')
		ak_endpoint_add(row, path, c->requests, c->allowed, c->latency_us / 1000.0);
}

/* Adds another row of the same key and hour. */
void
ak_hour_row_add(AkHourRow *row, const AkHourRow *other)
{
	row->requests = ak_sat_add(row->requests, other->requests);
	row->allowed = ak_sat_add(row->allowed, other->allowed);
	row->rate_limited = ak_sat_add(row->rate_limited, other->rate_limited);
	row->quota_exceeded = ak_sat_add(row->quota_exceeded, other->quota_exceeded);
	row->denied_auth = ak_sat_add(row->denied_auth, other->denied_auth);
	row->cost_units = ak_sat_add(row->cost_units, other->cost_units);
	row->latency_ms += other->latency_ms;
	for (int i = 0; i < AK_LATENCY_BUCKETS; i++)
		row->hist[i] = ak_sat_add(row->hist[i], other->hist[i]);
	for (int i = 0; i < other->nendpoints; i++)
		ak_endpoint_add(row, other->endpoints[i].path, other->endpoints[i].requests,
						other->endpoints[i].allowed, other->endpoints[i].total_ms);
}

static int64
ak_hist_count(const int64 *hist)
{
	int64		n = 0;

	for (int i = 0; i < AK_LATENCY_BUCKETS; i++)
		n = ak_sat_add(n, hist[i]);
	return n;
}


/* ---- endpoints as jsonb ---- */

static double
ak_jsonb_number(JsonbContainer *obj, const char *field)
{
	JsonbValue *v = getKeyJsonValueFromContainer(obj, field, strlen(field), NULL);

	if (v == NULL || v->type != jbvNumeric)
		return 0;
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
}

/* Reads {"path": {"requests", "allowed", "total_ms"}, ...} into the row. */
static void
ak_endpoints_decode(AkHourRow *row, Jsonb *jb)
{
	JsonbIterator *it = JsonbIteratorInit(&jb->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	char		path[AK_USAGE_PATH_LEN];

	path[0] = '\0';
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			snprintf(path, sizeof(path), "%.*s", v.val.string.len, v.val.string.val);
		else if (tok == WJB_VALUE && v.type == jbvBinary)
			ak_endpoint_add(row, path,
							(int64) ak_jsonb_number(v.val.binary.data, "requests"),
							(int64) ak_jsonb_number(v.val.binary.data, "allowed"),
							ak_jsonb_number(v.val.binary.data, "total_ms"));
	}
}

/* The busiest first, "(other)" last. */
static int
ak_endpoint_cmp(const void *a, const void *b)
{
	const AkEndpointCount *x = a;
	const AkEndpointCount *y = b;
	bool		xo = strcmp(x->path, AK_OTHER_ENDPOINT) == 0;
	bool		yo = strcmp(y->path, AK_OTHER_ENDPOINT) == 0;

	if (xo != yo)
		return xo ? 1 : -1;
	if (x->requests != y->requests)
		return x->requests > y->requests ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* Keeps the busiest AK_MAX_ENDPOINTS - 1 endpoints, the rest in "(other)". */
static void
ak_endpoints_fold(AkHourRow *row)
{
	AkEndpointCount other;
	int			kept = AK_MAX_ENDPOINTS - 1;

	qsort(row->endpoints, row->nendpoints, sizeof(AkEndpointCount), ak_endpoint_cmp);
	if (row->nendpoints <= AK_MAX_ENDPOINTS &&
		(row->nendpoints < AK_MAX_ENDPOINTS ||
		 strcmp(row->endpoints[AK_MAX_ENDPOINTS - 1].path, AK_OTHER_ENDPOINT) == 0))
		return;
	memset(&other, 0, sizeof(other));
	for (int i = kept; i < row->nendpoints; i++)
	{
		other.requests = ak_sat_add(other.requests, row->endpoints[i].requests);
		other.allowed = ak_sat_add(other.allowed, row->endpoints[i].allowed);
		other.total_ms += row->endpoints[i].total_ms;
	}
	row->nendpoints = kept;
	ak_endpoint_add(row, AK_OTHER_ENDPOINT, other.requests, other.allowed, other.total_ms);
}

static Datum
ak_endpoints_encode(AkHourRow *row)
{
	StringInfoData buf;

	ak_endpoints_fold(row);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < row->nendpoints; i++)
	{
		const AkEndpointCount *e = &row->endpoints[i];

		appendStringInfoString(&buf, i > 0 ? ", " : "");
		escape_json(&buf, e->path);
		appendStringInfo(&buf, ": {\"requests\": " INT64_FORMAT ", \"allowed\": " INT64_FORMAT
						 ", \"total_ms\": %.3f}", e->requests, e->allowed, e->total_ms);
	}
	appendStringInfoChar(&buf, '}');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}


/* ---- the row as Datums ---- */

static void
ak_hist_decode(AkHourRow *row, ArrayType *a)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	deconstruct_array(a, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &n);
	for (int i = 0; i < Min(n, AK_LATENCY_BUCKETS); i++)
		if (!nulls[i])
			row->hist[i] = DatumGetInt64(elems[i]);
}

static Datum
ak_hist_encode(const AkHourRow *row)
{
	Datum		elems[AK_LATENCY_BUCKETS];

	for (int i = 0; i < AK_LATENCY_BUCKETS; i++)
		elems[i] = Int64GetDatum(row->hist[i]);
	return PointerGetDatum(construct_array(elems, AK_LATENCY_BUCKETS, INT8OID,
										   sizeof(int64), FLOAT8PASSBYVAL,
										   TYPALIGN_DOUBLE));
}

static int64
ak_int8_column(const Datum *values, const bool *nulls, int col)
{
	return nulls[col] ? 0 : DatumGetInt64(values[col]);
}

/* Reads a row of usage_hours (AK_HR_NATTS columns) into row. */
void
ak_hour_row_decode(AkHourRow *row, const Datum *values, const bool *nulls)
{
	ak_hour_row_init(row, DatumGetUUIDP(values[AK_HR_KEY_ID]),
					 DatumGetTimestampTz(values[AK_HR_HOUR]));
	row->requests = ak_int8_column(values, nulls, AK_HR_REQUESTS);
	row->allowed = ak_int8_column(values, nulls, AK_HR_ALLOWED);
	row->rate_limited = ak_int8_column(values, nulls, AK_HR_RATE_LIMITED);
	row->quota_exceeded = ak_int8_column(values, nulls, AK_HR_QUOTA_EXCEEDED);
	row->denied_auth = ak_int8_column(values, nulls, AK_HR_DENIED_AUTH);
	row->cost_units = ak_int8_column(values, nulls, AK_HR_COST_UNITS);
	if (!nulls[AK_HR_LATENCY_HIST])
		ak_hist_decode(row, DatumGetArrayTypeP(values[AK_HR_LATENCY_HIST]));
	if (!nulls[AK_HR_AVG_MS])
		row->latency_ms = DatumGetFloat8(values[AK_HR_AVG_MS]) * ak_hist_count(row->hist);
	if (!nulls[AK_HR_ENDPOINTS])
		ak_endpoints_decode(row, DatumGetJsonbP(values[AK_HR_ENDPOINTS]));
}

static void
ak_set_ms(Datum *values, bool *nulls, int col, double ms)
{
	nulls[col] = ms < 0;
	values[col] = Float8GetDatum(ms);
}

/* The row as the AK_HR_NATTS columns of usage_hours (endpoints folded). */
void
ak_hour_row_encode(AkHourRow *row, Datum *values, bool *nulls)
{
	int64		timed = ak_hist_count(row->hist);
	pg_uuid_t  *id = palloc(sizeof(pg_uuid_t));

	memset(nulls, false, AK_HR_NATTS * sizeof(bool));
	*id = row->key_id;
	values[AK_HR_KEY_ID] = UUIDPGetDatum(id);
	values[AK_HR_HOUR] = TimestampTzGetDatum(row->hour);
	values[AK_HR_REQUESTS] = Int64GetDatum(row->requests);
	values[AK_HR_ALLOWED] = Int64GetDatum(row->allowed);
	values[AK_HR_RATE_LIMITED] = Int64GetDatum(row->rate_limited);
	values[AK_HR_QUOTA_EXCEEDED] = Int64GetDatum(row->quota_exceeded);
	values[AK_HR_DENIED_AUTH] = Int64GetDatum(row->denied_auth);
	values[AK_HR_COST_UNITS] = Int64GetDatum(row->cost_units);
	ak_set_ms(values, nulls, AK_HR_AVG_MS, timed > 0 ? row->latency_ms / timed : -1);
	ak_set_ms(values, nulls, AK_HR_P95_MS, ak_latency_quantile(row->hist, 0.95));
	ak_set_ms(values, nulls, AK_HR_P99_MS, ak_latency_quantile(row->hist, 0.99));
	values[AK_HR_ENDPOINTS] = ak_endpoints_encode(row);
	values[AK_HR_LATENCY_HIST] = ak_hist_encode(row);
	nulls[AK_HR_LATENCY_HIST] = timed == 0;
}


/* ---- rows built from the counts of shared memory ---- */

struct AkHourRows
{
	HTAB	   *rows;			/* (key id, hour) -> AkHourRow */
};

typedef struct AkHourRowKey
{
	pg_uuid_t	key_id;
	int64		hour;			/* ak_hour_of */
} AkHourRowKey;

typedef struct AkHourRowEntry
{
	AkHourRowKey key;
	AkHourRow	row;
} AkHourRowEntry;

AkHourRows *
ak_hour_rows_create(void)
{
	AkHourRows *rows = palloc(sizeof(AkHourRows));
	HASHCTL		info;

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(AkHourRowKey);
	info.entrysize = sizeof(AkHourRowEntry);
	info.hcxt = CurrentMemoryContext;
	rows->rows = hash_create("apikey usage rows", 1024, &info,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	return rows;
}

/* Adds the counts of one entry (a key's hour, an endpoint or none). */
void
ak_hour_rows_add(AkHourRows *rows, const AkUsageKey *key, const char *path,
				 const AkUsageCounts *counts)
{
	AkHourRowKey k;
	AkHourRowEntry *e;
	bool		found;

	memset(&k, 0, sizeof(k));
	k.key_id = key->key_id;
	k.hour = key->hour;
	e = hash_search(rows->rows, &k, HASH_ENTER, &found);
	if (!found)
		ak_hour_row_init(&e->row, &key->key_id, key->hour * USECS_PER_HOUR);
	ak_hour_row_add_counts(&e->row, key->path_hash ? path : NULL, counts);
}

int
ak_hour_row_cmp(const void *a, const void *b)
{
	const AkHourRow *x = a;
	const AkHourRow *y = b;
	int			c = memcmp(&x->key_id, &y->key_id, sizeof(pg_uuid_t));

	if (c != 0)
		return c;
	return x->hour < y->hour ? -1 : x->hour > y->hour;
}

/* The rows, sorted by key and hour (palloc'd, *n of them). */
AkHourRow *
ak_hour_rows_sorted(AkHourRows *rows, int *n)
{
	HASH_SEQ_STATUS seq;
	AkHourRowEntry *e;
	AkHourRow  *out;
	int			i = 0;

	*n = (int) hash_get_num_entries(rows->rows);
	out = palloc(Max(*n, 1) * sizeof(AkHourRow));
	hash_seq_init(&seq, rows->rows);
	while ((e = hash_seq_search(&seq)) != NULL)
		out[i++] = e->row;
	qsort(out, *n, sizeof(AkHourRow), ak_hour_row_cmp);
	return out;
}

static void
ak_hour_rows_add_fn(const AkUsageKey *key, const char *path,
					const AkUsageCounts *counts, void *arg)
{
	ak_hour_rows_add((AkHourRows *) arg, key, path, counts);
}

/* What shared memory holds for database dboid and has not written, as rows. */
AkHourRow *
ak_hour_rows_live(Oid dboid, int *n)
{
	AkHourRows *rows = ak_hour_rows_create();

	ak_usage_store_peek(dboid, ak_hour_rows_add_fn, rows);
	return ak_hour_rows_sorted(rows, n);
}
