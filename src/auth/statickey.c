/*-------------------------------------------------------------------------
 *
 * statickey.c
 *	  The keys the static development keys verify as: apikey.static_key
 *	  (also from the STATIC_API_KEY environment variable) as owner
 *	  apikey.static_key_owner and org apikey.static_key_org, and each key
 *	  of apikey.static_keys_file as its own owner and org.  Every scope, no
 *	  limit, no quota.  They have no row in apikey.keys, so they are never
 *	  counted in usage.
 *
 * With apikey.production on they are refused: each answers REVOKED, and
 * each backend that refuses one says so in the server log, once.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "auth/statickey.h"
#include "catalog/pg_type_d.h"
#include "core/guc.h"
#include "core/secret.h"
#include "core/statickeys.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/* What a static key's identity was built from, to rebuild it on change. */
typedef struct AkStaticSeen
{
	AkKeyInfo  *info;
	char	   *owner;
	char	   *org;
	bool		refused;
} AkStaticSeen;

/* key 0: apikey.static_key; 1 to AK_MAX_STATIC_KEYS: the file's */
static AkStaticSeen ak_static_seen[AK_MAX_STATIC_KEYS + 1];

static bool ak_static_refusal_logged = false;

/* A key with every scope and no limit, the static keys' common part. */
static AkKeyInfo *
ak_static_key_new(int n)
{
	AkKeyInfo  *info = palloc0(sizeof(AkKeyInfo));
	Datum		star = CStringGetTextDatum("*");

	/* ids 00000000-0000-0000-0000-00000000000n: no key has them */
	info->id.data[UUID_LEN - 1] = (uint8) n;
	info->expires_at = DT_NOEND;
	info->display_prefix = n == 0 ? "static" : psprintf("static-%d", n);
	info->name = cstring_to_text(n == 0 ? "static key" : psprintf("static key %d", n));
	info->scopes_array = construct_array(&star, 1, TEXTOID, -1, false, TYPALIGN_INT);
	info->nscopes = 1;
	info->scopes = palloc(sizeof(char *));
	info->scopes[0] = "*";
	info->metadata = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	info->quota[AK_DAY] = -1;
	info->quota[AK_MONTH] = -1;
	info->max_uses = -1;
	info->priority = AK_MAX_PRIORITY;
	return info;
}

static bool
ak_same_text(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/*
 * The identity of static key n, built again when its owner or org changed
 * or apikey.production was switched: a refused key is revoked.
 */
static const AkKeyInfo *
ak_static_key_info(int n)
{
	AkStaticSeen *seen = &ak_static_seen[n];
	const char *owner = n == 0 ? (ak_static_key_owner ? ak_static_key_owner : "")
		: ak_static_file_key_owner(n);
	const char *org = n == 0 ? ak_static_key_org : ak_static_file_key_org(n);
	MemoryContext old;

	if (org != NULL && *org == '\0')
		org = NULL;
	if (seen->info != NULL && seen->refused == ak_production &&
		ak_same_text(seen->owner, owner) && ak_same_text(seen->org, org))
		return seen->info;

	old = MemoryContextSwitchTo(TopMemoryContext);
	if (seen->info == NULL)
		seen->info = ak_static_key_new(n);
	seen->owner = pstrdup(owner);
	seen->org = org ? pstrdup(org) : NULL;
	seen->refused = ak_production;
	seen->info->owner = cstring_to_text(owner);
	seen->info->org = org ? cstring_to_text(org) : NULL;
	/* revoked since 2000-01-01: it answers REVOKED */
	seen->info->revoked_at = ak_production ? 0 : DT_NOEND;
	MemoryContextSwitchTo(old);
	return seen->info;
}

/* The server log learns, once per backend, that a static key was refused. */
static void
ak_static_key_refused(const AkKeyInfo *info)
{
	if (ak_static_refusal_logged)
		return;
	ak_static_refusal_logged = true;
	ereport(WARNING,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("apikey refused the static development key \"%s\": apikey.production is on",
					info->display_prefix),
			 errdetail("It answers REVOKED. Further refusals by this process are not logged."),
			 errhint("Remove static keys from the configuration of a production server."),
			 errhidestmt(true)));
}

/*
 * The key a static development key verifies as, by the digest of the
 * token, or NULL when the token is no static key.
 */
const AkKeyInfo *
ak_static_key_lookup(const uint8 *digest)
{
	int			n;
	const AkKeyInfo *info;

	if (ak_static_key_matches(digest))
		n = 0;
	else if (ak_static_file_key_count() == 0 ||
			 (n = ak_static_file_key_match(digest)) == 0)
		return NULL;
	info = ak_static_key_info(n);
	if (ak_production)
		ak_static_key_refused(info);
	return info;
}
