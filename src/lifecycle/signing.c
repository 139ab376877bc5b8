/*-------------------------------------------------------------------------
 *
 * signing.c
 *	  apikey.signing_secret(): a key's signing secret, for its owner or an
 *	  admin, of a key that still works.  Each hand-out is audited
 *	  ("signing_secret_read"): whoever holds the secret can sign requests
 *	  in the key's name.  The secret itself is in the result row only.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "auth/signature.h"
#include "core/json.h"
#include "executor/spi.h"
#include "lifecycle/audit.h"
#include "lifecycle/keys.h"
#include "lifecycle/signing.h"
#include "utils/uuid.h"

/*
 * Writes the current signing secret of key_id into out (room for
 * AK_SIGNING_SECRET_LEN + 1 bytes), after the owner check.
 */
void
ak_key_signing_secret(Datum key_id, char *out)
{
	AkLockedKey key;
	AkJsonObject detail = {0};

	ak_require_signing();
	SPI_connect();
	ak_lock_key(key_id, &key, "read the signing secret of this key");
	if (strcmp(key.status, "active") != 0 && strcmp(key.status, "rotating") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("API key %s has no signing secret", key.display_prefix),
				 errdetail("Its status is \"%s\": requests signed for it are refused.",
						   key.status)));

	ak_json_add_string(&detail, "display_prefix", key.display_prefix);
	ak_audit("signing_secret_read", DatumGetUUIDP(key_id), key.owner,
			 ak_json_finish(&detail));
	SPI_finish();
	ak_signing_secret(DatumGetUUIDP(key_id), 0, out);
}
