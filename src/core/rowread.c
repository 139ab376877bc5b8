/*-------------------------------------------------------------------------
 *
 * rowread.c
 *	  Reading one row of an apikey table through an index: no planner, no
 *	  executor, and no privilege or row-level security check -- the callers
 *	  (verification, quota counters) answer only about what they were given.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "core/rowread.h"
#include "utils/lsyscache.h"

/* The oid of an apikey relation, or an error naming the missing extension. */
Oid
ak_relation_oid(Oid nsp, const char *name)
{
	Oid			relid = get_relname_relid(name, nsp);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("relation \"%s.%s\" does not exist", AK_SCHEMA, name),
				 errhint("Run CREATE EXTENSION apikey in this database, or ALTER EXTENSION apikey UPDATE.")));
	return relid;
}

/* Fetches one tuple by an equality index scan; returns a copy or NULL. */
HeapTuple
ak_fetch_one(Relation rel, Oid indexid, AttrNumber attnum, RegProcedure eqproc,
			 Oid collation, Datum value, Snapshot snapshot)
{
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;

	ScanKeyEntryInitialize(&key, 0, attnum, BTEqualStrategyNumber,
						   InvalidOid, collation, eqproc, value);
	scan = systable_beginscan(rel, indexid, true, snapshot, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		tuple = heap_copytuple(tuple);
	systable_endscan(scan);
	return tuple;
}
