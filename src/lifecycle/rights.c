/*-------------------------------------------------------------------------
 *
 * rights.c
 *	  What a caller may do to keys (doc/security.md, "Who may do what"):
 *	  admins anything; anyone else only the keys of the owner it acts for
 *	  (auth/identity.c); and a caller identified by an API key -- one that
 *	  check_request() verified -- no more than that key reaches:
 *	  - it manages keys only if the key has apikey.manage_scope;
 *	  - a key it issues, or a field it sets, has scopes within the key's,
 *		an allowlist within the key's, and an expiry no later than the
 *		key's;
 *	  - a key it rotates (whose new token it receives) is within the key's
 *		reach in the same way.
 *	  So a key can narrow itself, never widen itself, directly or through a
 *	  key it makes.  Every refusal is 42501 with the rule in its detail, and
 *	  comes before anything is written.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "auth/identity.h"
#include "auth/scope.h"
#include "auth/verify.h"
#include "catalog/pg_type_d.h"
#include "core/guc.h"
#include "core/spi.h"
#include "executor/spi.h"
#include "lifecycle/rights.h"
#include "utils/builtins.h"
#include "utils/inet.h"
#include "utils/timestamp.h"

#define AK_WIDEN_RULE	"Keys cannot widen themselves: "

/* The elements of a text[] as C strings, *n of them. */
static char **
ak_scope_strings(ArrayType *scopes, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	char	  **out;

	*n = 0;
	if (scopes == NULL)
		return NULL;
	deconstruct_array(scopes, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
	out = palloc(Max(*n, 1) * sizeof(char *));
	for (int i = 0; i < *n; i++)
		out[i] = nulls[i] ? "" : TextDatumGetCString(elems[i]);
	return out;
}

/*
 * The reach of the key check_request() verified in this transaction, read
 * from its row now, when the caller is limited by one: identified by a key
 * and not an admin.  The static development key (scope "*", no allowlist,
 * no expiry) limits nothing.
 */
bool
ak_rights_acting_key(AkKeyBounds *acting)
{
	pg_uuid_t	id;
	bool		stored;
	MemoryContext caller = CurrentMemoryContext;
	AkParams	p = {0};
	bool		isnull;

	if (!ak_identity_by_key(&id, &stored) || !stored || ak_caller_is_admin())
		return false;

	memset(acting, 0, sizeof(*acting));
	SPI_connect();
	ak_param(&p, UUIDOID, UUIDPGetDatum(&id), false);
	if (ak_spi_exec("SELECT scopes, allowed_ips, expires_at FROM apikey.keys"
					" WHERE id OPERATOR(pg_catalog.=) $1", &p, AK_SPI_ANY) == 1)
	{
		Datum		scopes = ak_spi_value(0, 1, &isnull);
		Datum		ips;
		Datum		expires;

		MemoryContextSwitchTo(caller);
		acting->scopes = isnull ? NULL : DatumGetArrayTypePCopy(scopes);
		ips = ak_spi_value(0, 2, &isnull);
		acting->allowed_ips = isnull ? NULL : DatumGetArrayTypePCopy(ips);
		expires = ak_spi_value(0, 3, &isnull);
		acting->has_expiry = !isnull;
		acting->expires_at = isnull ? 0 : DatumGetTimestampTz(expires);
	}
	else
	{
		/* deleted since it was verified: it reaches nothing */
		MemoryContextSwitchTo(caller);
		acting->scopes = construct_empty_array(TEXTOID);
		acting->allowed_ips = construct_empty_array(CIDROID);
		acting->has_expiry = true;
		acting->expires_at = DT_NOBEGIN;
	}
	SPI_finish();
	return true;
}

static bool
ak_acting_grants(const AkKeyBounds *acting, const char *scope)
{
	int			n;
	char	  **scopes = ak_scope_strings(acting->scopes, &n);

	return ak_scope_granted(scopes, n, scope, strlen(scope));
}

/*
 * Raises 42501 unless the caller may manage keys of owner: an admin, or
 * the owner it acts for -- and then, if identified by a key, only with
 * apikey.manage_scope.  action names the action for the message.
 */
void
ak_rights_require_owner(text *owner, const char *action)
{
	AkKeyBounds acting;

	ak_require_owner_or_admin(owner, action);
	if (!ak_rights_acting_key(&acting))
		return;
	if (!ak_acting_grants(&acting, ak_manage_scope))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s", action),
				 errdetail(AK_WIDEN_RULE "a caller identified by an API key manages keys only if that key has scope \"%s\" (apikey.manage_scope).",
						   ak_manage_scope)));
}

/* Each scope must be granted by the acting key's scopes. */
void
ak_rights_check_scopes(const AkKeyBounds *acting, ArrayType *scopes,
					   const char *action)
{
	int			n;
	char	  **wanted = ak_scope_strings(scopes, &n);

	for (int i = 0; i < n; i++)
		if (!ak_acting_grants(acting, wanted[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to %s", action),
					 errdetail(AK_WIDEN_RULE "scope \"%s\" is not within the scopes of the API key the caller is identified by.",
							   wanted[i])));
}

/* Whether some network of the allowlist contains net. */
static bool
ak_allowlist_contains(ArrayType *allowlist, Datum net)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	deconstruct_array(allowlist, CIDROID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (!nulls[i] && DatumGetBool(DirectFunctionCall2(network_supeq, elems[i], net)))
			return true;
	return false;
}

/*
 * An allowlist (NULL: any address) must lie within the acting key's: each
 * of its networks inside one of the key's.
 */
void
ak_rights_check_allowed_ips(const AkKeyBounds *acting, ArrayType *ips,
							const char *action)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	bool		within = true;

	if (acting->allowed_ips == NULL)
		return;
	if (ips == NULL)
		within = false;
	else
	{
		deconstruct_array(ips, CIDROID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
		for (int i = 0; i < n && within; i++)
			within = !nulls[i] && ak_allowlist_contains(acting->allowed_ips, elems[i]);
	}
	if (!within)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s", action),
				 errdetail(AK_WIDEN_RULE "the allowlist must be within the allowlist of the API key the caller is identified by (NULL, any address, is not).")));
}

/* An expiry (has_expiry false: never) no later than the acting key's. */
void
ak_rights_check_expiry(const AkKeyBounds *acting, bool has_expiry,
					   TimestampTz expires_at, const char *action)
{
	if (!acting->has_expiry)
		return;
	if (!has_expiry || expires_at > acting->expires_at)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s", action),
				 errdetail(AK_WIDEN_RULE "the expiry must be no later than that of the API key the caller is identified by (NULL, never, is later).")));
}

/*
 * A key the caller issues or rotates must be within the reach of the key
 * the caller is identified by, if any.
 */
void
ak_rights_require_within(const AkKeyBounds *target, const char *action)
{
	AkKeyBounds acting;

	if (!ak_rights_acting_key(&acting))
		return;
	ak_rights_check_scopes(&acting, target->scopes, action);
	ak_rights_check_allowed_ips(&acting, target->allowed_ips, action);
	ak_rights_check_expiry(&acting, target->has_expiry, target->expires_at, action);
}
