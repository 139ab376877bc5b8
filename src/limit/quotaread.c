/*-------------------------------------------------------------------------
 *
 * quotaread.c
 *	  A subject's row of apikey.quota_counters: what its counter starts
 *	  from when it comes back into shared memory (quotastore.c).  Read
 *	  through the primary key with a snapshot taken now, whatever the
 *	  caller's isolation level, so that every count committed before the
 *	  counter was made is seen.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "core/clock.h"
#include "core/rowread.h"
#include "core/util.h"
#include "limit/quotaread.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

static const char *const ak_period_columns[AK_NUM_PERIODS] = {"day", "month"};
static const char *const ak_used_columns[AK_NUM_PERIODS] = {"day_used", "month_used"};

/* Decodes a row; a period that is NULL was never counted. */
static void
ak_quota_counts_decode(HeapTuple tuple, Relation rel, AkQuotaCounts *counts)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int p = 0; p < AK_NUM_PERIODS; p++)
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, ak_attnum(desc, ak_period_columns[p]),
									 desc, &isnull);

		counts->period[p] = isnull ? PG_INT32_MIN :
			ak_period_of_date((AkPeriod) p, DatumGetDateADT(d));
		d = heap_getattr(tuple, ak_attnum(desc, ak_used_columns[p]), desc, &isnull);
		counts->used[p] = isnull ? 0 : DatumGetInt64(d);
	}
}

/* Reads subject's counts; false when it has no row. */
bool
ak_quota_counts_read(const uint8 *subject, AkQuotaCounts *counts)
{
	Oid			nsp = get_namespace_oid(AK_SCHEMA, false);
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	Relation	rel = table_open(ak_relation_oid(nsp, "quota_counters"), AccessShareLock);
	pg_uuid_t	id;
	HeapTuple	tuple;
	bool		found;

	memcpy(id.data, subject, sizeof(id.data));
	tuple = ak_fetch_one(rel, ak_relation_oid(nsp, "quota_counters_pkey"),
						 ak_attnum(RelationGetDescr(rel), "subject"), F_UUID_EQ,
						 InvalidOid, UUIDPGetDatum(&id), snapshot);
	found = HeapTupleIsValid(tuple);
	if (found)
	{
		ak_quota_counts_decode(tuple, rel, counts);
		heap_freetuple(tuple);
	}
	table_close(rel, AccessShareLock);
	UnregisterSnapshot(snapshot);
	return found;
}
