/*-------------------------------------------------------------------------
 *
 * pause.c
 *	  disable() and enable(): a key paused -- it answers DISABLED (403) in
 *	  every backend from the first verification after the transaction
 *	  commits -- and resumed, without a new token.  Its owner may pause
 *	  and resume it; a key an admin paused only an admin resumes.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "auth/identity.h"
#include "catalog/pg_type_d.h"
#include "core/json.h"
#include "core/spi.h"
#include "executor/spi.h"
#include "lifecycle/audit.h"
#include "lifecycle/keys.h"
#include "lifecycle/pause.h"
#include "lifecycle/validate.h"
#include "utils/builtins.h"

/* Whether an admin paused the locked key. */
static bool
ak_disabled_by_admin(Datum key_id)
{
	AkParams	p = {0};
	bool		isnull;

	ak_param(&p, UUIDOID, key_id, false);
	ak_spi_exec("SELECT disabled_by_admin FROM apikey.keys WHERE id = $1", &p, AK_SPI_ANY);
	return DatumGetBool(ak_spi_value(0, 1, &isnull));
}

/*
 * disable(key_id, reason): false (and nothing written) when the key is not
 * active or rotating -- already disabled, revoked or expired.
 */
bool
ak_key_disable(Datum key_id, text *reason)
{
	AkLockedKey key;
	AkParams	p = {0};
	AkJsonObject detail = {0};
	bool		disabled = false;

	ak_validate_text(reason, "reason", false);
	SPI_connect();
	ak_lock_key(key_id, &key, "disable this key");
	if (strcmp(key.status, "active") == 0 || strcmp(key.status, "rotating") == 0)
	{
		ak_param(&p, UUIDOID, key_id, false);
		ak_param_ptr(&p, TEXTOID, reason);
		ak_param(&p, BOOLOID, BoolGetDatum(ak_caller_is_admin()), false);
		ak_spi_exec("UPDATE apikey.keys SET disabled_at = now(), disable_reason = $2,"
					"  disabled_by_admin = $3 WHERE id = $1", &p, AK_SPI_ANY);
		ak_json_add_string(&detail, "display_prefix", key.display_prefix);
		ak_json_add_string(&detail, "reason", reason ? text_to_cstring(reason) : NULL);
		ak_audit("disabled", DatumGetUUIDP(key_id), key.owner, ak_json_finish(&detail));
		disabled = true;
	}
	SPI_finish();
	return disabled;
}

/* enable(key_id): false (and nothing written) when the key is not disabled. */
bool
ak_key_enable(Datum key_id)
{
	AkLockedKey key;
	AkParams	p = {0};
	AkJsonObject detail = {0};
	bool		enabled = false;

	SPI_connect();
	ak_lock_key(key_id, &key, "enable this key");
	if (strcmp(key.status, "disabled") == 0)
	{
		if (ak_disabled_by_admin(key_id) && !ak_caller_is_admin())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to enable this key"),
					 errdetail("A member of apikey_admin disabled it; only an admin may enable it.")));
		ak_param(&p, UUIDOID, key_id, false);
		ak_spi_exec("UPDATE apikey.keys SET disabled_at = NULL, disable_reason = NULL,"
					"  disabled_by_admin = false WHERE id = $1", &p, AK_SPI_ANY);
		ak_json_add_string(&detail, "display_prefix", key.display_prefix);
		ak_audit("enabled", DatumGetUUIDP(key_id), key.owner, ak_json_finish(&detail));
		enabled = true;
	}
	SPI_finish();
	return enabled;
}
