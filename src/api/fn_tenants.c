/*-------------------------------------------------------------------------
 *
 * fn_tenants.c
 *	  SQL entry points for what tenants and operators manage: owner limits,
 *	  pausing keys, address blocks and abuse cooldowns (lifecycle/,
 *	  limit/cooldowns.c).
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "access/htup_details.h"
#include "auth/identity.h"
#include "core/clock.h"
#include "core/subject.h"
#include "funcapi.h"
#include "lifecycle/blocks.h"
#include "lifecycle/owners.h"
#include "lifecycle/pause.h"
#include "lifecycle/validate.h"
#include "limit/cooldowns.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(apikey_set_owner_limits);
PG_FUNCTION_INFO_V1(apikey_disable);
PG_FUNCTION_INFO_V1(apikey_enable);
PG_FUNCTION_INFO_V1(apikey_block);
PG_FUNCTION_INFO_V1(apikey_unblock);
PG_FUNCTION_INFO_V1(apikey_unblock_key);
PG_FUNCTION_INFO_V1(apikey_cooldowns);
PG_FUNCTION_INFO_V1(apikey_name_subject);

#define AK_ARG_TEXT(n)		(PG_ARGISNULL(n) ? NULL : PG_GETARG_TEXT_PP(n))

static Datum
ak_key_id_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ak_bad_value_detail("key_id", "it must not be null",
							"Give the id of the key, as key_list shows it.");
	return PG_GETARG_DATUM(argno);
}

/* apikey.set_owner_limits(owner text, limits jsonb) RETURNS apikey.owner_limits */
Datum
apikey_set_owner_limits(PG_FUNCTION_ARGS)
{
	Datum		row;

	AK_REQUIRE_PRELOAD();
	if (!ak_set_owner_limits(AK_ARG_TEXT(0), PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1),
							 &row))
		PG_RETURN_NULL();
	PG_RETURN_DATUM(row);
}

/* apikey.disable(key_id uuid, reason text) RETURNS boolean */
Datum
apikey_disable(PG_FUNCTION_ARGS)
{
	AK_REQUIRE_PRELOAD();
	PG_RETURN_BOOL(ak_key_disable(ak_key_id_arg(fcinfo, 0), AK_ARG_TEXT(1)));
}

/* apikey.enable(key_id uuid) RETURNS boolean */
Datum
apikey_enable(PG_FUNCTION_ARGS)
{
	AK_REQUIRE_PRELOAD();
	PG_RETURN_BOOL(ak_key_enable(ak_key_id_arg(fcinfo, 0)));
}

/*
 * apikey.block(addresses cidr, reason text, duration interval, owner text)
 *	  RETURNS apikey.address_blocks
 */
Datum
apikey_block(PG_FUNCTION_ARGS)
{
	AK_REQUIRE_PRELOAD();
	PG_RETURN_DATUM(ak_block(PG_ARGISNULL(0) ? NULL : PG_GETARG_INET_PP(0),
							 AK_ARG_TEXT(1),
							 PG_ARGISNULL(2) ? NULL : PG_GETARG_INTERVAL_P(2),
							 AK_ARG_TEXT(3)));
}

/* apikey.unblock(addresses cidr) RETURNS integer */
Datum
apikey_unblock(PG_FUNCTION_ARGS)
{
	AK_REQUIRE_PRELOAD();
	PG_RETURN_INT32(ak_unblock(PG_ARGISNULL(0) ? NULL : PG_GETARG_INET_PP(0)));
}

/* apikey.unblock_key(display_prefix text) RETURNS boolean */
Datum
apikey_unblock_key(PG_FUNCTION_ARGS)
{
	AK_REQUIRE_PRELOAD();
	PG_RETURN_BOOL(ak_unblock_key(AK_ARG_TEXT(0)));
}

/*
 * apikey._cooldowns() RETURNS SETOF (address cidr, subject bytea,
 * until timestamptz): the abuse cooldowns in force, for admins (none for
 * anyone else).  A display prefix's has no address, and its subject.
 */
Datum
apikey_cooldowns(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AkCooldown *items;
	int			n;

	AK_REQUIRE_PRELOAD();
	InitMaterializedSRF(fcinfo, 0);
	if (!ak_caller_is_admin())
		return (Datum) 0;
	n = ak_cooldowns_list(ak_now_us(), &items);
	for (int i = 0; i < n; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false};
		bytea	   *subject = palloc(VARHDRSZ + AK_SUBJECT_ID_LEN);

		SET_VARSIZE(subject, VARHDRSZ + AK_SUBJECT_ID_LEN);
		memcpy(VARDATA(subject), items[i].subject, AK_SUBJECT_ID_LEN);
		nulls[0] = !items[i].address;
		if (items[i].address)
			values[0] = InetPGetDatum(ak_cooldown_address(&items[i]));
		values[1] = PointerGetDatum(subject);
		values[2] = TimestampTzGetDatum(items[i].until_us);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* apikey._name_subject(name text) RETURNS bytea: BLAKE2b-128 of a name. */
Datum
apikey_name_subject(PG_FUNCTION_ARGS)
{
	text	   *name = PG_GETARG_TEXT_PP(0);
	bytea	   *subject = palloc(VARHDRSZ + AK_SUBJECT_ID_LEN);

	SET_VARSIZE(subject, VARHDRSZ + AK_SUBJECT_ID_LEN);
	ak_name_subject_id(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name),
					   (uint8 *) VARDATA(subject));
	PG_RETURN_BYTEA_P(subject);
}
