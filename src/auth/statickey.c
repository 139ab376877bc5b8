/*-------------------------------------------------------------------------
 *
 * statickey.c
 *	  The key the static development key (apikey.static_key) verifies as:
 *	  every scope, no limit, no quota, owned by apikey.static_key_owner.
 *	  It has no row in apikey.keys, so it is never counted in usage.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "auth/statickey.h"
#include "catalog/pg_type_d.h"
#include "core/guc.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/* The identity the static development key verifies as. */
const AkKeyInfo *
ak_static_key_info(void)
{
	static AkKeyInfo *info = NULL;
	static char *owner_seen = NULL;
	const char *owner = ak_static_key_owner ? ak_static_key_owner : "";
	MemoryContext old;
	Datum		star;

	if (info != NULL && strcmp(owner_seen, owner) == 0)
		return info;

	old = MemoryContextSwitchTo(TopMemoryContext);
	if (info == NULL)
	{
		info = palloc0(sizeof(AkKeyInfo));
		info->expires_at = DT_NOEND;
		info->revoked_at = DT_NOEND;
		info->display_prefix = "static";
		info->name = cstring_to_text("static key");
		star = CStringGetTextDatum("*");
		info->scopes_array = construct_array(&star, 1, TEXTOID, -1, false, TYPALIGN_INT);
		info->nscopes = 1;
		info->scopes = palloc(sizeof(char *));
		info->scopes[0] = "*";
		info->metadata = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
		info->quota[AK_DAY] = -1;
		info->quota[AK_MONTH] = -1;
		info->max_uses = -1;
		info->uses = -1;
		info->priority = AK_MAX_PRIORITY;
	}
	else
	{
		pfree(owner_seen);
		pfree(info->owner);
	}
	owner_seen = pstrdup(owner);
	info->owner = cstring_to_text(owner);
	MemoryContextSwitchTo(old);
	return info;
}
