/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  What the management functions accept: every check raises 22023 (or
 *	  42501) with what is wrong, before anything is written.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "auth/identity.h"
#include "auth/keyinfo.h"
#include "auth/token.h"
#include "catalog/pg_type_d.h"
#include "core/limits.h"
#include "core/spi.h"
#include "lifecycle/validate.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#define AK_MAX_GRACE_US			(INT64CONST(366) * USECS_PER_DAY)

void
ak_bad_value(const char *what, const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s: %s", what, problem)));
	pg_unreachable();
}

/* The same, saying in a detail what a good value is. */
void
ak_bad_value_detail(const char *what, const char *problem, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s: %s", what, problem),
			 errdetail("%s", detail)));
	pg_unreachable();
}

/* A required text argument (not NULL, not empty, not too long), detail: what it is. */
void
ak_validate_required(text *t, const char *what, const char *detail)
{
	if (t == NULL)
		ak_bad_value_detail(what, "it must not be null", detail);
	if (VARSIZE_ANY_EXHDR(t) == 0)
		ak_bad_value_detail(what, "it must not be empty", detail);
	ak_validate_text(t, what, true);
}

void
ak_validate_text(text *t, const char *what, bool required)
{
	size_t		len;

	if (t == NULL)
	{
		if (required)
			ak_bad_value(what, "it must not be null");
		return;
	}
	len = VARSIZE_ANY_EXHDR(t);
	if (len == 0)
		ak_bad_value(what, "it must not be empty");
	if (len > AK_MAX_TEXT_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s: it is too long", what),
				 errdetail("It has %zu bytes; the limit is %d.", len, AK_MAX_TEXT_LEN)));
}

/* Elements of a one-dimensional array without NULLs, or an error. */
static void
ak_array_elements(ArrayType *a, Oid elemtype, int16 typlen, bool byval,
				  char align, const char *what, int max,
				  Datum **elems, int *n)
{
	bool	   *nulls;

	if (ARR_NDIM(a) > 1)
		ak_bad_value(what, "it must be a one-dimensional array");
	deconstruct_array(a, elemtype, typlen, byval, align, elems, &nulls, n);
	if (*n > max)
		ak_bad_value(what, psprintf("at most %d elements are allowed", max));
	for (int i = 0; i < *n; i++)
		if (nulls[i])
			ak_bad_value(what, "it must not contain NULL");
}

void
ak_validate_scopes(ArrayType *scopes)
{
	Datum	   *elems;
	int			n;

	ak_array_elements(scopes, TEXTOID, -1, false, TYPALIGN_INT, "scopes",
					  AK_MAX_SCOPES, &elems, &n);
	for (int i = 0; i < n; i++)
	{
		text	   *scope = DatumGetTextPP(elems[i]);
		const char *s = VARDATA_ANY(scope);
		size_t		len = VARSIZE_ANY_EXHDR(scope);

		ak_validate_text(scope, "scope", true);
		for (size_t c = 0; c < len; c++)
			if (isspace((unsigned char) s[c]) || iscntrl((unsigned char) s[c]))
				ak_bad_value("scope", "it must not contain white space");
	}
}

void
ak_validate_allowed_ips(ArrayType *ips)
{
	Datum	   *elems;
	int			n;

	ak_array_elements(ips, CIDROID, -1, false, TYPALIGN_INT, "allowed_ips",
					  AK_MAX_ALLOWED_IPS, &elems, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid allowed_ips: it must not be empty"),
				 errhint("Use NULL for a key that may be used from any address.")));
}

void
ak_validate_metadata(Jsonb *metadata)
{
	if (!JB_ROOT_IS_OBJECT(metadata))
		ak_bad_value("metadata", "it must be a JSON object");
	if (VARSIZE(metadata) > AK_MAX_METADATA)
		ak_bad_value("metadata", psprintf("it must not exceed %d bytes", AK_MAX_METADATA));
}

void
ak_validate_expires_at(TimestampTz expires_at)
{
	if (TIMESTAMP_NOT_FINITE(expires_at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid expires_at: it must be a finite time"),
				 errhint("Use NULL for a key that never expires.")));
	if (expires_at <= GetCurrentTimestamp())
		ak_bad_value("expires_at", "it must be in the future");
}

void
ak_validate_rate_limits(Jsonb *limits)
{
	AkLimit		parsed[AK_MAX_LIMITS];

	(void) ak_limits_parse(limits, parsed, "rate_limits");
}

void
ak_validate_prefix(text *prefix)
{
	if (prefix == NULL)
		ak_bad_value("prefix", "it must not be null");
	if (!ak_prefix_is_valid(VARDATA_ANY(prefix), VARSIZE_ANY_EXHDR(prefix)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid prefix: \"%s\"", text_to_cstring(prefix)),
				 errdetail("A prefix is a lower-case letter, then up to 15 lower-case letters or digits, then up to two groups of \"_\" and 1 to 16 lower-case letters or digits."),
				 errhint("For example: ak_live, ak_test, myapp_prod.")));
}

/* Requires an SPI connection. */
void
ak_validate_tier(text *tier)
{
	AkParams	p = {0};

	ak_validate_text(tier, "tier", true);
	ak_param_ptr(&p, TEXTOID, tier);
	if (ak_spi_exec("SELECT 1 FROM apikey.tiers WHERE name = $1", &p, AK_SPI_ANY) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown tier \"%s\"", text_to_cstring(tier)),
				 errhint("The tiers are the rows of apikey.tiers.")));
}

void
ak_validate_jwt_role(text *role)
{
	char	   *name;

	if (role == NULL)
		return;
	ak_validate_text(role, "jwt_role", true);
	name = text_to_cstring(role);
	if (!OidIsValid(get_role_oid(name, true)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid jwt_role: role \"%s\" does not exist", name)));
}

void
ak_require_admin_for(const char *setting)
{
	if (!ak_caller_is_admin())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to set %s", setting),
				 errdetail("Only members of apikey_admin may choose a key's tier, rate_limits, quotas, max_concurrency, jwt_role, max_uses or priority."),
				 errhint("Owners can issue keys in tier \"%s\" and change name, scopes, expires_at, allowed_ips and metadata.",
						 AK_SELF_SERVICE_TIER)));
}

void
ak_validate_grace(const Interval *grace)
{
	int64		us;

	if (grace == NULL)
		ak_bad_value("grace", "it must not be null");
	us = ak_interval_to_us(grace);
	if (us < 0)
		ak_bad_value("grace", "it must not be negative");
	if (us > AK_MAX_GRACE_US)
		ak_bad_value("grace", "it must not exceed 366 days");
}
