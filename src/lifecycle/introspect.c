/*-------------------------------------------------------------------------
 *
 * introspect.c
 *	  introspect(): everything known about a key, for admins -- no digest,
 *	  the token masked, and its buckets as they are now.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "auth/identity.h"
#include "auth/keycache.h"
#include "catalog/pg_type_d.h"
#include "core/clock.h"
#include "core/spi.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "lifecycle/keys.h"
#include "limit/buckets.h"
#include "utils/builtins.h"
#include "utils/json.h"

/*
 * The live state of a key's buckets, as a JSON array: what check() would
 * report now, without debiting anything.
 */
static char *
ak_live_limits_json(const pg_uuid_t *id)
{
	const AkKeyInfo *key = ak_keycache_lookup_id(id);
	AkLimitOutcome out[AK_MAX_LIMITS];
	StringInfoData buf;
	int64		now_us = ak_now_us();

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	if (key != NULL && key->nlimits > 0)
	{
		ak_bucket_peek(AK_CELL_KEY_LIMIT, (const uint8 *) key->lineage.data,
					   key->limits, key->nlimits, now_us, out);
		for (int i = 0; i < key->nlimits; i++)
		{
			appendStringInfo(&buf, "%s{\"name\": ", i ? ", " : "");
			escape_json(&buf, key->limits[i].name);
			appendStringInfo(&buf, ", \"burst\": " INT64_FORMAT
							 ", \"remaining\": " INT64_FORMAT
							 ", \"full_in_ms\": " INT64_FORMAT "}",
							 key->limits[i].burst, out[i].remaining,
							 (out[i].full_in_us + 999) / 1000);
		}
	}
	appendStringInfoChar(&buf, ']');
	return buf.data;
}

static void
ak_require_admin_to_introspect(void)
{
	if (!ak_caller_is_admin())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to introspect API keys"),
				 errhint("Only members of apikey_admin may introspect keys.")));
}

/*
 * introspect(display_prefix): sets *result to the key's description and
 * returns true, or returns false when no key has this prefix (NULL
 * included).
 */
bool
ak_key_introspect(text *display_prefix, Datum *result)
{
	AkParams	p = {0};
	bool		isnull = true;

	ak_require_admin_to_introspect();
	if (display_prefix == NULL)
		return false;

	SPI_connect();
	ak_param(&p, TEXTOID, PointerGetDatum(display_prefix), false);
	if (ak_spi_exec("SELECT k.id, jsonb_build_object("
					"  'key_id', k.id,"
					"  'display_prefix', k.prefix,"
					"  'masked_token', k.prefix || repeat('*', 30),"
					"  'status', k.status,"
					"  'owner', k.owner, 'org', k.org, 'name', k.name,"
					"  'scopes', k.scopes, 'tier', k.tier,"
					"  'rate_limits', coalesce(k.rate_limits, t.rate_limits),"
					"  'rate_limits_from', CASE WHEN k.rate_limits IS NULL"
					"                      THEN 'tier' ELSE 'key' END,"
					"  'daily_quota', coalesce(k.daily_quota, t.daily_quota),"
					"  'monthly_quota', coalesce(k.monthly_quota, t.monthly_quota),"
					"  'max_concurrency', coalesce(k.max_concurrency, t.max_concurrency),"
					"  'allowed_ips', k.allowed_ips, 'metadata', k.metadata,"
					"  'created_at', k.created_at, 'expires_at', k.expires_at,"
					"  'revoked_at', k.revoked_at, 'revoke_reason', k.revoke_reason,"
					"  'last_used_at', k.last_used_at,"
					"  'rotated_from', k.rotated_from, 'rotated_to', k.rotated_to,"
					"  'lineage', k.lineage,"
					"  'jwt_role', k.jwt_role,"
					"  'disabled_at', k.disabled_at, 'disable_reason', k.disable_reason,"
					"  'max_uses', k.max_uses,"
					"  'priority', coalesce(k.priority, t.priority),"
					"  'usage', jsonb_build_object("
					"    'daily', k.daily_usage, 'day', k.usage_day,"
					"    'monthly', k.monthly_usage, 'month', k.usage_month))"
					" FROM apikey.key_list AS k"
					" JOIN apikey.tiers AS t ON t.name = k.tier"
					" WHERE k.prefix = $1", &p, AK_SPI_ANY) == 1)
	{
		pg_uuid_t  *id = DatumGetUUIDP(ak_spi_value(0, 1, &isnull));
		Datum		live = DirectFunctionCall1(jsonb_in,
											   CStringGetDatum(psprintf("{\"live_limits\": %s}",
																		ak_live_limits_json(id))));

		*result = DirectFunctionCall2(jsonb_concat, ak_spi_value(0, 2, &isnull), live);
		*result = SPI_datumTransfer(*result, false, -1);
	}
	SPI_finish();
	return !isnull;
}
