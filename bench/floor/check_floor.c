/*-------------------------------------------------------------------------
 *
 * check_floor.c
 *	  The floor of apikey.check()'s interface, for benchmarks.
 *
 * A C function with exactly check()'s signature and result type that does
 * what any implementation must: hash the token, and build a result row
 * with realistic rate-limit headers.  It looks nothing up and limits
 * nothing.  Whatever apikey does, a request pays at least this much; the
 * benchmark reports check() as a ratio of it.
 *
 * It builds its headers object with apikey's own serializer (src/limit/headerset.c,
 * compiled in), the fastest way there is: the floor is then the interface
 * at its cheapest, and the difference to check() only apikey's own work.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "limit/headerset.c"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(check_floor);

static const char *const floor_headers[][2] = {
	{"RateLimit-Policy", "\"default\";q=1000;w=1"},
	{"RateLimit", "\"default\";r=999;t=1"},
	{"X-RateLimit-Limit", "1000"},
	{"X-RateLimit-Remaining", "999"},
	{"X-RateLimit-Reset", "1795324942"},
};

Datum
check_floor(PG_FUNCTION_ARGS)
{
	TupleDesc	desc = (TupleDesc) fcinfo->flinfo->fn_extra;
	unsigned char digest[32] = {0};
	pg_uuid_t  *id = palloc(sizeof(pg_uuid_t));
	AkHeaders	headers;
	Datum		values[12];
	bool		nulls[12] = {false};

	if (desc == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		desc = BlessTupleDesc(desc);
		MemoryContextSwitchTo(old);
		fcinfo->flinfo->fn_extra = desc;
	}

	if (!PG_ARGISNULL(0))
	{
		text	   *token = PG_GETARG_TEXT_PP(0);

		crypto_generichash(digest, sizeof(digest),
						   (const unsigned char *) VARDATA_ANY(token),
						   VARSIZE_ANY_EXHDR(token), NULL, 0);
	}
	memcpy(id->data, digest, sizeof(id->data));

	headers.n = 0;
	for (size_t i = 0; i < lengthof(floor_headers); i++)
		ak_header_add(&headers, floor_headers[i][0], floor_headers[i][1]);

	values[0] = BoolGetDatum(true);
	values[1] = Int32GetDatum(200);
	values[2] = CStringGetTextDatum("OK");
	values[3] = UUIDPGetDatum(id);
	values[4] = CStringGetTextDatum("bench");
	values[5] = PointerGetDatum(construct_empty_array(TEXTOID));
	values[6] = CStringGetTextDatum("free");
	values[7] = Int64GetDatum(1000);
	values[8] = Int64GetDatum(999);
	values[9] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	values[10] = Int64GetDatum(0);
	values[11] = JsonbPGetDatum(ak_headers_jsonb(&headers));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
