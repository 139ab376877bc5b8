/*-------------------------------------------------------------------------
 *
 * anontier.c
 *	  The tier named by apikey.anonymous_tier, whose rate limits requests
 *	  without a key get, per client address (doc/apikey.md, "Public
 *	  endpoints and the anonymous tier").
 *
 * Read from apikey.tiers once and kept, until the setting changes or a
 * change to keys or tiers commits -- the invalidation ring's sequence
 * number moves (keyinval.c) -- or, on a hot standby, a relcache
 * invalidation of apikey.tiers is replayed.  A tier that does not exist is
 * no tier: requests without a key are refused, as without the setting.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "auth/anontier.h"
#include "auth/keyinval.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation_d.h"
#include "core/guc.h"
#include "core/util.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

static AkAnonTier ak_anon;
static char ak_anon_name[NAMEDATALEN * 4];	/* the setting it was read for */
static uint64 ak_anon_ring = 0;
static bool ak_anon_valid = false;
static bool ak_anon_callback = false;
static Oid	ak_anon_tiers_relid = InvalidOid;

static void
ak_anon_inval(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == ak_anon_tiers_relid)
		ak_anon_valid = false;
}

/* Reads the tier's rate limits into ak_anon; false if there is no such tier. */
static bool
ak_anon_read(const char *name)
{
	Oid			nsp = get_namespace_oid(AK_SCHEMA, true);
	Oid			index;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Snapshot	snapshot;
	bool		found = false;

	ak_anon_tiers_relid = OidIsValid(nsp) ? get_relname_relid("tiers", nsp) : InvalidOid;
	index = OidIsValid(nsp) ? get_relname_relid("tiers_pkey", nsp) : InvalidOid;
	if (!OidIsValid(ak_anon_tiers_relid) || !OidIsValid(index))
		return false;

	rel = table_open(ak_anon_tiers_relid, AccessShareLock);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	ScanKeyEntryInitialize(&key, 0, ak_attnum(RelationGetDescr(rel), "name"),
						   BTEqualStrategyNumber, InvalidOid, C_COLLATION_OID,
						   F_TEXTEQ, CStringGetTextDatum(name));
	scan = systable_beginscan(rel, index, true, snapshot, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, ak_attnum(RelationGetDescr(rel), "rate_limits"),
									 RelationGetDescr(rel), &isnull);

		ak_anon.nlimits = isnull ? 0 : ak_limits_parse(DatumGetJsonbP(d), ak_anon.limits,
													   "tier rate_limits");
		found = true;
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	return found;
}

static void
ak_anon_load(void)
{
	uint64		ring = ak_inval_ring_next();
	MemoryContext old;

	if (!ak_anon_callback)
	{
		CacheRegisterRelcacheCallback(ak_anon_inval, (Datum) 0);
		ak_anon_callback = true;
	}
	if (ak_anon.policy_header)
		pfree(ak_anon.policy_header);
	memset(&ak_anon, 0, sizeof(ak_anon));
	strlcpy(ak_anon_name, ak_anonymous_tier_name, sizeof(ak_anon_name));
	if (ak_anon_name[0] != '\0' && ak_anon_read(ak_anon_name))
	{
		ak_anon.enabled = true;
		ak_anon.nenforced = ak_limits_shadow_last(ak_anon.limits, ak_anon.nlimits);
		old = MemoryContextSwitchTo(TopMemoryContext);
		if (ak_anon.nenforced > 0)
			ak_anon.policy_header = ak_limits_policy(ak_anon.limits, ak_anon.nenforced, NULL);
		MemoryContextSwitchTo(old);
	}
	ak_anon_ring = ring;
	ak_anon_valid = true;
}

/* The anonymous tier in force (enabled false: none). */
const AkAnonTier *
ak_anonymous_tier(void)
{
	if (!ak_anon_valid || ak_inval_ring_next() != ak_anon_ring ||
		strcmp(ak_anon_name, ak_anonymous_tier_name) != 0)
		ak_anon_load();
	return &ak_anon;
}
