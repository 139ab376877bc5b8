/*-------------------------------------------------------------------------
 *
 * fn_usage.c
 *	  SQL entry points of latency histograms (usage/latency.c):
 *	  _hist_add(), _hist_count(), latency_quantile().
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "catalog/pg_type_d.h"
#include "usage/latency.h"
#include "utils/array.h"
#include "utils/float.h"

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
