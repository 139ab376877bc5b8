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
#include "core/counters.h"
#include "core/util.h"
#include "funcapi.h"
#include "limit/cells.h"

PG_FUNCTION_INFO_V1(apikey_stats);

Datum
apikey_stats(PG_FUNCTION_ARGS)
{
	static const AkCounter columns[] = {
		AK_REQUESTS, AK_VALID, AK_INVALID, AK_RATE_LIMITED, AK_QUOTA_EXCEEDED,
		AK_BLOCKED, AK_OVERLOADED, AK_CACHE_HITS, AK_CACHE_MISSES,
	};
	TupleDesc	desc;
	Datum		values[lengthof(columns) + 5];
	bool		nulls[lengthof(columns) + 5] = {false};
	int			n = 0;
	int64		in_use = 0;
	int64		capacity = 0;

	AK_REQUIRE_PRELOAD();
	desc = ak_result_tupdesc(fcinfo);
	ak_cells_usage(&in_use, &capacity);
	for (int i = 0; i < lengthof(columns); i++)
		values[n++] = Int64GetDatum((int64) ak_counter_total(columns[i]));
	values[n++] = Int64GetDatum(in_use);
	values[n++] = Int64GetDatum(capacity);
	values[n++] = Int64GetDatum((int64) ak_counter_total(AK_EVENTS_DROPPED));
	values[n++] = Int64GetDatum((int64) ak_counter_total(AK_SHADOW_LIMITED));
	values[n++] = Int64GetDatum((int64) ak_counter_total(AK_ANONYMOUS));
	Assert(n == desc->natts);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
