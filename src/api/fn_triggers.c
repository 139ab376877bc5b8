/*-------------------------------------------------------------------------
 *
 * fn_triggers.c
 *	  The extension's trigger functions: cache invalidation of keys, tiers
 *	  and owner limits, the append-only guard of the audit log, and the
 *	  invalidation of the scope map and the address blocks.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "auth/keycache.h"
#include "commands/trigger.h"
#include "core/secret.h"
#include "core/util.h"
#include "lifecycle/audit.h"
#include "limit/named.h"
#include "limit/blocklist.h"
#include "postgrest/scopemap.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(apikey_invalidate_trigger);
PG_FUNCTION_INFO_V1(apikey_audit_guard);
PG_FUNCTION_INFO_V1(apikey_scope_map_changed);
PG_FUNCTION_INFO_V1(apikey_shared_throttles_changed);
PG_FUNCTION_INFO_V1(apikey_blocks_changed);

static TriggerData *
ak_trigger_data(FunctionCallInfo fcinfo, const char *name)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("apikey.%s() must be called as a trigger", name)));
	return (TriggerData *) fcinfo->context;
}

/* Records the change of the key of a row of apikey.keys (its digest). */
static void
ak_note_key_row(Relation rel, HeapTuple tuple)
{
	bool		isnull;
	Datum		d;
	bytea	   *digest;

	d = heap_getattr(tuple, ak_attnum(RelationGetDescr(rel), "key_hash"),
					 RelationGetDescr(rel), &isnull);
	if (isnull)
		return;
	digest = DatumGetByteaPP(d);
	if (VARSIZE_ANY_EXHDR(digest) == AK_DIGEST_LEN)
		ak_keycache_note_change(RelationGetRelid(rel),
								(const uint8 *) VARDATA_ANY(digest));
}

/*
 * apikey._invalidate() trigger.  For each row of apikey.keys it records the
 * digest(s) of the changed key; fired per statement (on apikey.tiers and
 * apikey.owner_limits, or TRUNCATE of apikey.keys) it empties every cache.
 */
Datum
apikey_invalidate_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = ak_trigger_data(fcinfo, "_invalidate");
	Relation	rel = trigdata->tg_relation;

	/* without shared memory no backend can have cached anything */
	if (!ak_preloaded)
		return PointerGetDatum(NULL);

	if (TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		ak_keycache_note_change(RelationGetRelid(rel), NULL);
	else
	{
		ak_note_key_row(rel, trigdata->tg_trigtuple);
		if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
			ak_note_key_row(rel, trigdata->tg_newtuple);
	}
	return PointerGetDatum(NULL);
}

/*
 * apikey._audit_guard() trigger: audit rows are never changed or removed,
 * except by the worker's retention job.
 */
Datum
apikey_audit_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = ak_trigger_data(fcinfo, "_audit_guard");

	if (ak_audit_change_allowed(TRIGGER_FIRED_BY_DELETE(trigdata->tg_event)))
		return PointerGetDatum(trigdata->tg_trigtuple);

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("apikey.audit_log is append-only"),
			 errdetail("Audit rows cannot be updated, deleted or truncated."),
			 errhint("Old rows are purged by the apikey worker after apikey.audit_retention.")));
	PG_RETURN_NULL();			/* keep compiler quiet */
}

/*
 * apikey._scope_map_changed() trigger: every backend re-reads the scope map
 * once the change commits.
 */
Datum
apikey_scope_map_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = ak_trigger_data(fcinfo, "_scope_map_changed");

	ak_scope_map_changed(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}

/*
 * apikey._shared_throttles_changed() trigger: every backend re-reads the
 * shared names once the change commits.
 */
Datum
apikey_shared_throttles_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = ak_trigger_data(fcinfo, "_shared_throttles_changed");

	ak_named_shared_changed(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}

/*
 * apikey._blocks_changed() trigger: every backend reads the address blocks
 * again once the change commits (this one at once).
 */
Datum
apikey_blocks_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = ak_trigger_data(fcinfo, "_blocks_changed");

	if (ak_preloaded)
		ak_blocklist_changed(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}
