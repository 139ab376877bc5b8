/*-------------------------------------------------------------------------
 *
 * keys.c
 *	  The key lifecycle (doc/apikey.md, "Functions"): issue, rotate and
 *	  revoke.
 *
 * The SQL functions are SECURITY DEFINER with search_path = pg_catalog,
 * pg_temp: they read and write the tables as the extension's owner, after
 * checking the caller themselves (auth/identity.c).  Every input is
 * validated before the first write, and every change writes its audit row
 * in the same transaction, so a call either does all of its work or none.
 *
 * A token exists in plaintext only in the row these functions return.
 * Cache invalidation is not done here: the triggers on apikey.keys see
 * every change, whoever makes it (auth/keycache.c).
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include <sodium.h>

#include "access/xact.h"
#include "auth/identity.h"
#include "catalog/pg_type_d.h"
#include "core/json.h"
#include "core/limits.h"
#include "core/spi.h"
#include "executor/spi.h"
#include "lifecycle/audit.h"
#include "lifecycle/keys.h"
#include "lifecycle/rights.h"
#include "lifecycle/owners.h"
#include "lifecycle/validate.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

static char *
ak_text_or_null(text *t)
{
	return t ? text_to_cstring(t) : NULL;
}

static char *
ak_timestamptz_text(Datum ts, bool isnull)
{
	return isnull ? NULL : DatumGetCString(DirectFunctionCall1(timestamptz_out, ts));
}

char *
ak_uuid_text(const pg_uuid_t *id)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(id)));
}



/* ---- reading the key a call is about ---- */

/*
 * Locks the key's row for the rest of the transaction and checks that the
 * caller may act on it (lifecycle/rights.c).  Requires an SPI connection.
 */
void
ak_lock_key(Datum key_id, AkLockedKey *key, const char *action)
{
	AkParams	p = {0};
	bool		isnull;
	Datum		d;

	ak_param(&p, UUIDOID, key_id, false);
	if (ak_spi_exec("SELECT owner, prefix,"
					"  apikey._key_status(revoked_at, expires_at, rotated_to, disabled_at),"
					"  scopes, allowed_ips, expires_at"
					" FROM apikey.keys WHERE id = $1 FOR UPDATE", &p, AK_SPI_ANY) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("API key %s does not exist",
						ak_uuid_text(DatumGetUUIDP(key_id)))));

	key->owner = DatumGetTextPCopy(ak_spi_value(0, 1, &isnull));
	key->display_prefix = TextDatumGetCString(ak_spi_value(0, 2, &isnull));
	key->status = TextDatumGetCString(ak_spi_value(0, 3, &isnull));
	d = ak_spi_value(0, 4, &isnull);
	key->scopes = isnull ? NULL : DatumGetArrayTypePCopy(d);
	d = ak_spi_value(0, 5, &isnull);
	key->allowed_ips = isnull ? NULL : DatumGetArrayTypePCopy(d);
	d = ak_spi_value(0, 6, &isnull);
	key->has_expiry = !isnull;
	key->expires_at = isnull ? 0 : DatumGetTimestampTz(d);
	ak_rights_require_owner(key->owner, action);
}


/* Draws a new token into out, and returns its digest. */
bytea *
ak_new_token(const char *prefix, size_t prefix_len, AkNewKey *out)
{
	bytea	   *digest;

	ak_token_generate(prefix, prefix_len, out->token);
	memcpy(out->display_prefix, out->token, prefix_len + 1 + AK_DISPLAY_BODY_LEN);
	out->display_prefix[prefix_len + 1 + AK_DISPLAY_BODY_LEN] = '\0';
	digest = palloc(VARHDRSZ + AK_DIGEST_LEN);
	SET_VARSIZE(digest, VARHDRSZ + AK_DIGEST_LEN);
	ak_digest(out->token, strlen(out->token), (uint8 *) VARDATA(digest));
	return digest;
}

/*
 * Runs an INSERT ... ON CONFLICT (prefix) DO NOTHING RETURNING id whose $1
 * and $2 are the display prefix and digest of a new token, drawing a new
 * token until the display prefix is unique (a 1 in 62^8 event).
 */
static void
ak_insert_new_key(const char *sql, AkParams *p, const char *prefix,
				  size_t prefix_len, AkNewKey *out)
{
	for (int attempt = 0; attempt < 10; attempt++)
	{
		bool		isnull;

		p->values[1] = PointerGetDatum(ak_new_token(prefix, prefix_len, out));
		p->values[0] = CStringGetTextDatum(out->display_prefix);
		if (ak_spi_exec(sql, p, AK_SPI_ANY) == 1)
		{
			memcpy(&out->id, DatumGetUUIDP(ak_spi_value(0, 1, &isnull)),
				   sizeof(pg_uuid_t));
			return;
		}
		sodium_memzero(out->token, sizeof(out->token));
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("could not generate a unique display prefix")));
}

static char *
ak_scopes_json(ArrayType *scopes)
{
	return TextDatumGetCString(DirectFunctionCall1(array_to_json,
												   PointerGetDatum(scopes)));
}

/* ---- issue ---- */

/*
 * Checks issue()'s arguments, in their order, and the caller's rights: all
 * but the tier's existence, which needs SPI (ak_validate_tier).
 */
void
ak_key_validate_issue(const AkIssueArgs *a)
{
	AkKeyBounds bounds;

	ak_validate_text(a->owner, "owner", true);
	ak_validate_text(a->name, "name", false);
	if (a->scopes)
		ak_validate_scopes(a->scopes);
	ak_validate_text(a->tier, "tier", true);
	if (a->has_expiry)
		ak_validate_expires_at(a->expires_at);
	if (a->allowed_ips)
		ak_validate_allowed_ips(a->allowed_ips);
	if (a->metadata)
		ak_validate_metadata(a->metadata);
	ak_validate_prefix(a->prefix);
	ak_validate_text(a->org, "org", false);
	if (a->rate_limits)
		ak_validate_rate_limits(a->rate_limits);
	if (a->max_uses != NULL && *a->max_uses < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid max_uses: it must be at least 1"),
				 errdetail("Use NULL for a key whose uses are not counted.")));

	ak_rights_require_owner(a->owner, "issue a key for this owner");
	if (a->rate_limits != NULL)
		ak_require_admin_for("rate_limits");
	if (strcmp(text_to_cstring(a->tier), AK_SELF_SERVICE_TIER) != 0)
		ak_require_admin_for("tier");
	bounds.scopes = a->scopes;
	bounds.allowed_ips = a->allowed_ips;
	bounds.has_expiry = a->has_expiry;
	bounds.expires_at = a->expires_at;
	ak_rights_require_within(&bounds, "issue a key for this owner");
}

/* The detail of an "issued" audit row, the same for issue() and issue_bulk(). */
char *
ak_key_issued_detail(const AkIssueArgs *a, const AkNewKey *key)
{
	AkJsonObject detail = {0};

	ak_json_add_string(&detail, "display_prefix", key->display_prefix);
	ak_json_add_string(&detail, "name", ak_text_or_null(a->name));
	ak_json_add_string(&detail, "tier", text_to_cstring(a->tier));
	ak_json_add_raw(&detail, "scopes", a->scopes ? ak_scopes_json(a->scopes) : "[]");
	ak_json_add_string(&detail, "expires_at",
					   ak_timestamptz_text(TimestampTzGetDatum(a->expires_at), !a->has_expiry));
	return ak_json_finish(&detail);
}

/*
 * issue(): a new key and its "issued" audit row.  The token is in *out,
 * for the caller to return once.
 */
void
ak_key_issue(const AkIssueArgs *a, AkNewKey *out)
{
	AkParams	p = {0};

	ak_key_validate_issue(a);
	SPI_connect();
	ak_validate_tier(a->tier);
	ak_validate_owner_key_count(a->owner, 1);

	ak_param(&p, TEXTOID, 0, false);	/* display prefix, set per attempt */
	ak_param(&p, BYTEAOID, 0, false);	/* digest, set per attempt */
	ak_param_ptr(&p, TEXTOID, a->owner);
	ak_param_ptr(&p, TEXTOID, a->org);
	ak_param_ptr(&p, TEXTOID, a->name);
	ak_param_ptr(&p, TEXTARRAYOID, a->scopes);
	ak_param_ptr(&p, TEXTOID, a->tier);
	ak_param(&p, TIMESTAMPTZOID, TimestampTzGetDatum(a->expires_at), !a->has_expiry);
	ak_param_ptr(&p, CIDRARRAYOID, a->allowed_ips);
	ak_param_ptr(&p, JSONBOID, a->metadata);
	ak_param_ptr(&p, JSONBOID, a->rate_limits);
	ak_param(&p, INT8OID, a->max_uses ? Int64GetDatum(*a->max_uses) : (Datum) 0,
			 a->max_uses == NULL);
	/* a new key starts its own lineage: its id */
	ak_insert_new_key("INSERT INTO apikey.keys"
					  " (id, lineage, prefix, key_hash, owner, org, name, scopes,"
					  "  tier, expires_at, allowed_ips, metadata, rate_limits, max_uses)"
					  " SELECT g.id, g.id, $1, $2, $3, $4, $5, coalesce($6, '{}'),"
					  "  $7, $8, $9, coalesce($10, '{}'), $11, $12"
					  " FROM (SELECT gen_random_uuid()) AS g(id)"
					  " ON CONFLICT (prefix) DO NOTHING RETURNING id",
					  &p, VARDATA_ANY(a->prefix), VARSIZE_ANY_EXHDR(a->prefix), out);
	ak_audit("issued", &out->id, a->owner, ak_key_issued_detail(a, out));
	SPI_finish();
}


/* ---- rotate ---- */

/*
 * A key's uses are counted under its id: a new key would start from none.
 * Until counts follow a key's rotations, such a key is replaced by issuing
 * a new one, which an admin gives its max_uses.
 */
static void
ak_refuse_rotating_uses(Datum key_id, const char *display_prefix)
{
	AkParams	p = {0};

	ak_param(&p, UUIDOID, key_id, false);
	if (ak_spi_exec("SELECT 1 FROM apikey.keys WHERE id = $1 AND max_uses IS NOT NULL",
					&p, AK_SPI_ANY) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("API key %s cannot be rotated", display_prefix),
				 errdetail("It has max_uses: a rotated key would start counting its uses again."),
				 errhint("Issue a new key with the uses it should have left, then revoke this one.")));
}

/* The old key ends its life: at once, or at the end of the grace. */
static TimestampTz
ak_rotate_old_key(Datum key_id, const pg_uuid_t *new_id, TimestampTz grace_end,
				  bool immediate)
{
	AkParams	p = {0};
	bool		isnull;

	ak_param(&p, UUIDOID, key_id, false);
	ak_param(&p, UUIDOID, UUIDPGetDatum(new_id), false);
	ak_param(&p, BOOLOID, BoolGetDatum(immediate), false);
	ak_param(&p, TIMESTAMPTZOID, TimestampTzGetDatum(grace_end), false);
	ak_spi_exec("UPDATE apikey.keys SET rotated_to = $2,"
				"  revoked_at = CASE WHEN $3 THEN now() ELSE revoked_at END,"
				"  revoke_reason = CASE WHEN $3 THEN 'rotated' ELSE revoke_reason END,"
				"  expires_at = CASE WHEN $3 THEN expires_at"
				"    ELSE least(coalesce(expires_at, 'infinity'), $4) END"
				" WHERE id = $1"
				" RETURNING CASE WHEN $3 THEN revoked_at ELSE expires_at END",
				&p, AK_SPI_ANY);
	return DatumGetTimestampTz(ak_spi_value(0, 1, &isnull));
}

static void
ak_audit_rotated(Datum key_id, const AkLockedKey *old, const AkNewKey *key,
				 const Interval *grace)
{
	AkJsonObject rotated = {0};
	AkJsonObject issued = {0};

	ak_json_add_string(&rotated, "display_prefix", old->display_prefix);
	ak_json_add_string(&rotated, "new_key_id", ak_uuid_text(&key->id));
	ak_json_add_string(&rotated, "new_display_prefix", key->display_prefix);
	ak_json_add_string(&rotated, "grace",
					   DatumGetCString(DirectFunctionCall1(interval_out,
														   IntervalPGetDatum(grace))));
	ak_json_add_string(&rotated, "old_key_expires_at",
					   ak_timestamptz_text(TimestampTzGetDatum(key->old_expires_at), false));
	ak_audit("rotated", DatumGetUUIDP(key_id), old->owner, ak_json_finish(&rotated));

	ak_json_add_string(&issued, "display_prefix", key->display_prefix);
	ak_json_add_string(&issued, "rotated_from", ak_uuid_text(DatumGetUUIDP(key_id)));
	ak_audit("issued", &key->id, old->owner, ak_json_finish(&issued));
}

/*
 * rotate(): a new key with every setting of the old one.  The old key keeps
 * working until out->old_expires_at (its expires_at is brought forward to
 * the end of the grace), after which verify() answers REVOKED even before
 * the worker marks it revoked; a zero grace revokes it at once.
 */
void
ak_key_rotate(Datum key_id, const Interval *grace, AkNewKey *out)
{
	TimestampTz grace_end = ak_grace_end(grace);
	bool		immediate = grace_end == GetCurrentTransactionStartTimestamp();
	AkLockedKey old;
	AkKeyBounds bounds;
	AkParams	p = {0};

	SPI_connect();
	ak_lock_key(key_id, &old, "rotate this key");
	if (strcmp(old.status, "active") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("API key %s cannot be rotated", old.display_prefix),
				 errdetail("Its status is \"%s\"; only active keys can be rotated.",
						   old.status)));
	ak_refuse_rotating_uses(key_id, old.display_prefix);

	/* the new token is the caller's: the key must be within its reach */
	bounds.scopes = old.scopes;
	bounds.allowed_ips = old.allowed_ips;
	bounds.has_expiry = old.has_expiry;
	bounds.expires_at = old.expires_at;
	ak_rights_require_within(&bounds, "rotate this key");

	/*
	 * The new key continues the old one's lineage, and starts from its
	 * quota counts, so that limits and quotas follow the chain.
	 */
	ak_param(&p, TEXTOID, 0, false);
	ak_param(&p, BYTEAOID, 0, false);
	ak_param(&p, UUIDOID, key_id, false);
	ak_insert_new_key("INSERT INTO apikey.keys"
					  " (prefix, key_hash, owner, org, name, scopes, tier,"
					  "  rate_limits, daily_quota, monthly_quota,"
					  "  max_concurrency, allowed_ips, metadata, expires_at,"
					  "  jwt_role, rotated_from, lineage, priority)"
					  " SELECT $1, $2, owner, org, name, scopes, tier,"
					  "  rate_limits, daily_quota, monthly_quota,"
					  "  max_concurrency, allowed_ips, metadata, expires_at,"
					  "  jwt_role, id, lineage, priority"
					  " FROM apikey.keys WHERE id = $3"
					  " ON CONFLICT (prefix) DO NOTHING RETURNING id",
					  &p, old.display_prefix,
					  strlen(old.display_prefix) - 1 - AK_DISPLAY_BODY_LEN, out);
	out->old_expires_at = ak_rotate_old_key(key_id, &out->id, grace_end, immediate);
	ak_audit_rotated(key_id, &old, out, grace);
	SPI_finish();
}


/* ---- revoke ---- */

/*
 * revoke(): false when the key already no longer works (revoked, expired,
 * or past its rotation grace).  A disabled key is revoked for good.
 */
bool
ak_key_revoke(Datum key_id, text *reason)
{
	AkLockedKey key;
	AkParams	p = {0};
	AkJsonObject detail = {0};
	bool		revoked = false;

	ak_validate_text(reason, "reason", false);
	SPI_connect();
	ak_lock_key(key_id, &key, "revoke this key");
	if (strcmp(key.status, "active") == 0 || strcmp(key.status, "rotating") == 0 ||
		strcmp(key.status, "disabled") == 0)
	{
		ak_param(&p, UUIDOID, key_id, false);
		ak_param_ptr(&p, TEXTOID, reason);
		ak_spi_exec("UPDATE apikey.keys SET revoked_at = now(), revoke_reason = $2"
					" WHERE id = $1", &p, AK_SPI_ANY);

		ak_json_add_string(&detail, "display_prefix", key.display_prefix);
		ak_json_add_string(&detail, "reason", ak_text_or_null(reason));
		ak_audit("revoked", DatumGetUUIDP(key_id), key.owner, ak_json_finish(&detail));
		revoked = true;
	}
	SPI_finish();
	return revoked;
}
