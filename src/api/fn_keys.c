/*-------------------------------------------------------------------------
 *
 * fn_keys.c
 *	  SQL entry points of the key lifecycle: issue, rotate, revoke, update,
 *	  introspect, report_leak (lifecycle/).
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include <sodium.h>

#include "auth/token.h"
#include "core/tokenpath.h"
#include "funcapi.h"
#include "lifecycle/bulk.h"
#include "lifecycle/keys.h"
#include "lifecycle/leak.h"
#include "lifecycle/validate.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(apikey_issue);
PG_FUNCTION_INFO_V1(apikey_rotate);
PG_FUNCTION_INFO_V1(apikey_revoke);
PG_FUNCTION_INFO_V1(apikey_update);
PG_FUNCTION_INFO_V1(apikey_introspect);
PG_FUNCTION_INFO_V1(apikey_report_leak);
PG_FUNCTION_INFO_V1(apikey_issue_bulk);

#define AK_ARG_TEXT(n)		(PG_ARGISNULL(n) ? NULL : PG_GETARG_TEXT_PP(n))
#define AK_ARG_ARRAY(n)		(PG_ARGISNULL(n) ? NULL : PG_GETARG_ARRAYTYPE_P(n))
#define AK_ARG_JSONB(n)		(PG_ARGISNULL(n) ? NULL : PG_GETARG_JSONB_P(n))

static Datum
ak_key_id_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ak_bad_value("key_id", "it must not be null");
	return PG_GETARG_DATUM(argno);
}

/*
 * The one row of issue() and rotate(): (key_id, token, display_prefix
 * [, old_key_expires_at]).  The token is wiped once in the tuplestore.
 */
static void
ak_return_new_key(FunctionCallInfo fcinfo, AkNewKey *key, bool rotated)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, !rotated};

	values[0] = UUIDPGetDatum(&key->id);
	values[1] = CStringGetTextDatum(key->token);
	values[2] = CStringGetTextDatum(key->display_prefix);
	values[3] = TimestampTzGetDatum(key->old_expires_at);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	sodium_memzero(key->token, sizeof(key->token));
}

/*
 * apikey.issue(owner, name, scopes, tier, expires_at, allowed_ips, metadata,
 *				prefix, org, rate_limits, max_uses)
 *	  RETURNS TABLE(key_id uuid, token text, display_prefix text)
 */
Datum
apikey_issue(PG_FUNCTION_ARGS)
{
	AkIssueArgs a;
	AkNewKey	key;
	int64		max_uses;
	bool		has_max_uses;

	AK_REQUIRE_PRELOAD();
	InitMaterializedSRF(fcinfo, 0);
	a.owner = AK_ARG_TEXT(0);
	a.name = AK_ARG_TEXT(1);
	a.scopes = AK_ARG_ARRAY(2);
	a.tier = AK_ARG_TEXT(3);
	a.has_expiry = !PG_ARGISNULL(4);
	a.expires_at = a.has_expiry ? PG_GETARG_TIMESTAMPTZ(4) : 0;
	a.allowed_ips = AK_ARG_ARRAY(5);
	a.metadata = AK_ARG_JSONB(6);
	a.prefix = AK_ARG_TEXT(7);
	a.org = AK_ARG_TEXT(8);
	a.rate_limits = AK_ARG_JSONB(9);
	/* 0.1.0's issue() has ten arguments: until ALTER EXTENSION UPDATE */
	has_max_uses = PG_NARGS() > 10 && !PG_ARGISNULL(10);
	max_uses = has_max_uses ? PG_GETARG_INT64(10) : 0;
	a.max_uses = has_max_uses ? &max_uses : NULL;

	ak_key_issue(&a, &key);
	ak_return_new_key(fcinfo, &key, false);
	return (Datum) 0;
}

/*
 * apikey.rotate(key_id uuid, grace interval)
 *	  RETURNS TABLE(key_id uuid, token text, display_prefix text,
 *					old_key_expires_at timestamptz)
 */
Datum
apikey_rotate(PG_FUNCTION_ARGS)
{
	Datum		key_id;
	AkNewKey	key;

	AK_REQUIRE_PRELOAD();
	InitMaterializedSRF(fcinfo, 0);
	key_id = ak_key_id_arg(fcinfo, 0);
	ak_key_rotate(key_id, PG_ARGISNULL(1) ? NULL : PG_GETARG_INTERVAL_P(1), &key);
	ak_return_new_key(fcinfo, &key, true);
	return (Datum) 0;
}

/* apikey.revoke(key_id uuid, reason text) RETURNS boolean */
Datum
apikey_revoke(PG_FUNCTION_ARGS)
{
	Datum		key_id;

	AK_REQUIRE_PRELOAD();
	key_id = ak_key_id_arg(fcinfo, 0);
	PG_RETURN_BOOL(ak_key_revoke(key_id, AK_ARG_TEXT(1)));
}

/* apikey.update(key_id uuid, changes jsonb) RETURNS apikey.key_list */
Datum
apikey_update(PG_FUNCTION_ARGS)
{
	Datum		key_id;

	AK_REQUIRE_PRELOAD();
	key_id = ak_key_id_arg(fcinfo, 0);
	PG_RETURN_DATUM(ak_key_update(key_id, AK_ARG_JSONB(1)));
}

/* apikey.introspect(display_prefix text) RETURNS jsonb */
Datum
apikey_introspect(PG_FUNCTION_ARGS)
{
	Datum		result;

	AK_REQUIRE_PRELOAD();
	if (!ak_key_introspect(AK_ARG_TEXT(0), &result))
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

/* apikey.report_leak(token text, source text) RETURNS text */
Datum
apikey_report_leak(PG_FUNCTION_ARGS)
{
	const char *outcome;

	AK_REQUIRE_PRELOAD();
	AK_TOKEN_PATH_BEGIN();
	outcome = ak_report_leak(ak_token_arg(fcinfo, 0), AK_ARG_TEXT(1));
	AK_TOKEN_PATH_END();
	PG_RETURN_TEXT_P(cstring_to_text(outcome));
}

/*
 * The result of a function returning tokens in bulk: materialized, like
 * InitMaterializedSRF's, but in memory however large it grows -- a
 * tuplestore past work_mem would write the tokens to a temporary file.
 */
static void
ak_init_token_srf(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext old;
	TupleDesc	desc;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("materialize mode required, but it is not allowed in this context")));
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setDesc = CreateTupleDescCopy(desc);
	rsinfo->setResult = tuplestore_begin_heap((rsinfo->allowedModes & SFRM_Materialize_Random) != 0,
											  false, MAX_KILOBYTES);
	MemoryContextSwitchTo(old);
}

/* ak_keys_issue_bulk()'s emit: one row of issue_bulk() */
static void
ak_emit_new_key(const AkNewKey *key, void *arg)
{
	FunctionCallInfo fcinfo = (FunctionCallInfo) arg;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	values[0] = UUIDPGetDatum(&key->id);
	values[1] = CStringGetTextDatum(key->token);
	values[2] = CStringGetTextDatum(key->display_prefix);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	sodium_memzero(VARDATA(DatumGetPointer(values[1])), strlen(key->token));
}

/*
 * apikey.issue_bulk(specs jsonb)
 *	  RETURNS TABLE(key_id uuid, token text, display_prefix text)
 */
Datum
apikey_issue_bulk(PG_FUNCTION_ARGS)
{
	AK_REQUIRE_PRELOAD();
	ak_init_token_srf(fcinfo);
	ak_keys_issue_bulk(AK_ARG_JSONB(0), ak_emit_new_key, fcinfo);
	return (Datum) 0;
}
