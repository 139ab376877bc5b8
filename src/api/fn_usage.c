/*-------------------------------------------------------------------------
 *
 * fn_usage.c
 *	  SQL entry points of latency histograms (usage/latency.c):
 *	  _hist_add(), _hist_count(), latency_quantile(); and the live part of
 *	  the usage_hourly view, _usage_live() and _usage_merge().
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "access/htup_details.h"
#include "auth/identity.h"
#include "auth/keycache.h"
#include "catalog/pg_type_d.h"
#include "core/util.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "usage/hourrow.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"
#include "usage/latency.h"
#include "utils/array.h"
#include "utils/float.h"

PG_FUNCTION_INFO_V1(apikey_hist_add);
PG_FUNCTION_INFO_V1(apikey_hist_count);
PG_FUNCTION_INFO_V1(apikey_latency_quantile);
PG_FUNCTION_INFO_V1(apikey_usage_live);
PG_FUNCTION_INFO_V1(apikey_usage_merge);

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
	if (!ak_latency_add(a, b))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("latency histogram count out of range")));
	for (int i = 0; i < AK_LATENCY_BUCKETS; i++)
		sum[i] = Int64GetDatum(a[i]);
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

/* Whether the caller may see the usage of a key: as on usage_hours. */
static bool
ak_usage_visible(const pg_uuid_t *key_id, bool admin)
{
	const AkKeyInfo *key;

	if (admin)
		return true;
	key = ak_keycache_lookup_id(key_id);
	return key != NULL && ak_key_visible(key);
}

/*
 * apikey._usage_live() RETURNS SETOF apikey.usage_hours: what shared memory
 * holds for this database and the worker has not written yet, one row per
 * key and hour, for the keys the caller may see.
 */
Datum
apikey_usage_live(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		admin;
	AkHourRow  *rows;
	int			n;

	AK_REQUIRE_PRELOAD();
	InitMaterializedSRF(fcinfo, 0);
	admin = ak_caller_is_admin();
	rows = ak_hour_rows_live(MyDatabaseId, &n);
	for (int i = 0; i < n; i++)
	{
		Datum		values[AK_HR_NATTS];
		bool		nulls[AK_HR_NATTS];

		if (!ak_usage_visible(&rows[i].key_id, admin))
			continue;
		ak_hour_row_encode(&rows[i], values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* A row of usage_hours as Datums; false when it is NULL. */
static bool
ak_hour_row_arg(FunctionCallInfo fcinfo, int argno, AkHourRow *row)
{
	HeapTupleHeader t;
	HeapTupleData tuple;
	TupleDesc	desc;
	Datum		values[AK_HR_NATTS];
	bool		nulls[AK_HR_NATTS];

	if (PG_ARGISNULL(argno))
		return false;
	t = PG_GETARG_HEAPTUPLEHEADER(argno);
	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(t), HeapTupleHeaderGetTypMod(t));
	if (desc->natts != AK_HR_NATTS)
		elog(ERROR, "apikey._usage_merge() takes rows of apikey.usage_hours");
	tuple.t_len = HeapTupleHeaderGetDatumLength(t);
	tuple.t_data = t;
	heap_deform_tuple(&tuple, desc, values, nulls);
	ReleaseTupleDesc(desc);
	if (nulls[AK_HR_KEY_ID] || nulls[AK_HR_HOUR])
		return false;
	ak_hour_row_decode(row, values, nulls);
	return true;
}

/*
 * apikey._usage_merge(a apikey.usage_hours, b apikey.usage_hours) RETURNS
 * apikey.usage_hours: the two rows of one key and hour added up, as the
 * worker adds them (either may be NULL).
 */
Datum
apikey_usage_merge(PG_FUNCTION_ARGS)
{
	AkHourRow	a;
	AkHourRow	b;
	bool		has_a;
	bool		has_b;
	Datum		values[AK_HR_NATTS];
	bool		nulls[AK_HR_NATTS];

	AK_REQUIRE_PRELOAD();
	has_a = ak_hour_row_arg(fcinfo, 0, &a);
	has_b = ak_hour_row_arg(fcinfo, 1, &b);
	if (!has_a && !has_b)
		PG_RETURN_NULL();
	if (!has_a)
		a = b;
	else if (has_b)
		ak_hour_row_add(&a, &b);
	ak_hour_row_encode(&a, values, nulls);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(ak_result_tupdesc(fcinfo), values, nulls)));
}
