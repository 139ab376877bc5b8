/*-------------------------------------------------------------------------
 *
 * fn_stats.c
 *	  apikey._stats(), behind the apikey.stats view: the live counters,
 *	  summed over every backend, and the fill of the cell table.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "access/htup_details.h"
#include "auth/keyshare.h"
#include "core/counters.h"
#include "core/util.h"
#include "commands/dbcommands.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "limit/cells.h"
#include "limit/named.h"
#include "limit/quotastore.h"
#include "shmem/area.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(apikey_stats);
PG_FUNCTION_INFO_V1(apikey_bucket_use);

/* The columns after the counters: what fills shared memory. */
#define AK_MEMORY_COLUMNS	8

/* Token buckets of keys: their own limits' and their owners'. */
static int64
ak_key_buckets(void)
{
	return ak_cells_count(AK_CELL_KEY_LIMIT) + ak_cells_count(AK_CELL_OWNER_LIMIT);
}

/* Token buckets of client addresses: address_rate_limit's, anonymous tier's. */
static int64
ak_address_buckets(void)
{
	return ak_cells_count(AK_CELL_IP) + ak_cells_count(AK_CELL_ANON_LIMIT);
}

Datum
apikey_stats(PG_FUNCTION_ARGS)
{
	static const AkCounter columns[] = {
		AK_REQUESTS, AK_VALID, AK_INVALID, AK_RATE_LIMITED, AK_QUOTA_EXCEEDED,
		AK_BLOCKED, AK_OVERLOADED, AK_CACHE_HITS, AK_CACHE_MISSES,
	};
	TupleDesc	desc;
	Datum		values[lengthof(columns) + 3 + AK_MEMORY_COLUMNS + 5];
	bool		nulls[lengthof(columns) + 3 + AK_MEMORY_COLUMNS + 5] = {false};
	int			n = 0;
	int64		in_use = 0;
	int64		capacity = 0;
	AkAreaUsage area;

	AK_REQUIRE_PRELOAD();
	desc = ak_result_tupdesc(fcinfo);
	ak_cells_usage(&in_use, &capacity);
	ak_area_usage(&area);
	for (int i = 0; i < lengthof(columns); i++)
		values[n++] = Int64GetDatum((int64) ak_counter_total(columns[i]));
	values[n++] = Int64GetDatum(in_use);
	values[n++] = Int64GetDatum(capacity);
	values[n++] = Int64GetDatum((int64) ak_counter_total(AK_EVENTS_DROPPED));
	values[n++] = Int64GetDatum(ak_key_buckets());
	values[n++] = Int64GetDatum(ak_address_buckets());
	values[n++] = Int64GetDatum(ak_cells_count(AK_CELL_NAMED));
	values[n++] = Int64GetDatum(ak_cells_count(AK_CELL_CONCURRENCY));
	values[n++] = Int64GetDatum(ak_quota_counters_count());
	values[n++] = Int64GetDatum(ak_cells_count(AK_CELL_ABUSE_IP) +
								ak_cells_count(AK_CELL_ABUSE_PREFIX));
	values[n++] = Int64GetDatum(area.total);
	values[n++] = Int64GetDatum(area.budget);
	values[n++] = Int64GetDatum((int64) ak_counter_total(AK_SHADOW_LIMITED));
	values[n++] = Int64GetDatum((int64) ak_counter_total(AK_ANONYMOUS));
	values[n++] = Int64GetDatum((int64) ak_counter_total(AK_SHARED_KEY_HITS));
	values[n++] = Int64GetDatum((int64) ak_counter_total(AK_SHARED_KEY_MISSES));
	values[n++] = Int64GetDatum(ak_keyshare_count());
	Assert(n == desc->natts);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/* One row of apikey.bucket_use. */
static void
ak_bucket_use_row(Tuplestorestate *store, TupleDesc desc, const char *class,
				  Oid roleid, Oid dboid, int64 buckets)
{
	Datum		values[4];
	bool		nulls[4] = {false};
	char	   *role = OidIsValid(roleid) ? GetUserNameFromId(roleid, true) : NULL;
	char	   *db = OidIsValid(dboid) ? get_database_name(dboid) : NULL;

	values[0] = CStringGetTextDatum(class);
	nulls[1] = role == NULL;
	if (role)
		values[1] = CStringGetDatum(role);
	nulls[2] = db == NULL;
	if (db)
		values[2] = CStringGetDatum(db);
	values[3] = Int64GetDatum(buckets);
	tuplestore_putvalues(store, desc, values, nulls);
}

typedef struct AkUseRows
{
	Tuplestorestate *store;
	TupleDesc	desc;
} AkUseRows;

static void
ak_bucket_use_named(Oid dboid, Oid roleid, int64 buckets, void *arg)
{
	AkUseRows  *rows = arg;

	ak_bucket_use_row(rows->store, rows->desc, "named", roleid, dboid, buckets);
}

/*
 * apikey._bucket_use() RETURNS SETOF (class, role, database, buckets):
 * the cells of each class; throttle() buckets by role and database (a
 * shared name's role is NULL).
 */
Datum
apikey_bucket_use(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AkUseRows	rows;

	AK_REQUIRE_PRELOAD();
	InitMaterializedSRF(fcinfo, 0);
	rows.store = rsinfo->setResult;
	rows.desc = rsinfo->setDesc;
	ak_bucket_use_row(rows.store, rows.desc, "key", InvalidOid, InvalidOid,
					  ak_key_buckets());
	ak_bucket_use_row(rows.store, rows.desc, "concurrency", InvalidOid, InvalidOid,
					  ak_cells_count(AK_CELL_CONCURRENCY));
	ak_bucket_use_row(rows.store, rows.desc, "address", InvalidOid, InvalidOid,
					  ak_address_buckets());
	ak_bucket_use_row(rows.store, rows.desc, "cooldown", InvalidOid, InvalidOid,
					  ak_cells_count(AK_CELL_ABUSE_IP) + ak_cells_count(AK_CELL_ABUSE_PREFIX));
	ak_bucket_use_row(rows.store, rows.desc, "quota", InvalidOid, InvalidOid,
					  ak_quota_counters_count());
	ak_named_owners(ak_bucket_use_named, &rows);
	return (Datum) 0;
}
