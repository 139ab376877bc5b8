/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  What the management functions accept: every check raises 22023 (or
 *	  42501) with what is wrong, before anything is written.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "access/xact.h"
#include "auth/identity.h"
#include "auth/keyinfo.h"
#include "auth/token.h"
#include "catalog/pg_type_d.h"
#include "core/guc.h"
#include "core/limits.h"
#include "core/spi.h"
#include "executor/spi.h"
#include "lifecycle/validate.h"
#include "postgrest/jwtrole.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

/* the first key of apikey's advisory locks on an owner ("ak") */
#define AK_ADVISORY_OWNER_CLASS	24939	/* 0x616b */

#define AK_MAX_GRACE_US			(INT64CONST(366) * USECS_PER_DAY)
#define AK_MAX_GRACE_MONTHS		(12 * 100)
#define AK_MAX_GRACE_DAYS		(366 * 100)

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
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s: at most %d elements are allowed", what, max),
				 errdetail("It has %d elements.", *n)));
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
	if (VARSIZE(metadata) - VARHDRSZ > ak_max_metadata_size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("invalid metadata: it is too large"),
				 errdetail("It takes %zu bytes as jsonb; apikey.max_metadata_size is %d bytes.",
						   (size_t) (VARSIZE(metadata) - VARHDRSZ), ak_max_metadata_size),
				 errhint("Keep large data in a table of your own, keyed by the key's id.")));
}

/*
 * A caller who is not an admin may have at most apikey.max_keys_per_owner
 * live keys, or its owner's max_keys when that is lower: neither revoked,
 * expired nor rotated away (a rotation swaps one live key for another).
 * adding: the keys about to be issued (issue_bulk() issues several).  The
 * owner's advisory lock serializes concurrent issues, so that two cannot
 * both pass at the limit.  Requires an SPI connection.
 */
void
ak_validate_owner_key_count(text *owner, int64 adding)
{
	AkParams	p = {0};
	bool		isnull;
	int64		live;
	int64		own_max;
	int64		max;

	if (ak_caller_is_admin())
		return;
	ak_param_ptr(&p, TEXTOID, owner);
	/* concurrent issues of one owner are counted one after the other */
	ak_spi_exec("SELECT pg_catalog.pg_advisory_xact_lock(" CppAsString2(AK_ADVISORY_OWNER_CLASS)
				", pg_catalog.hashtext($1))", &p, AK_SPI_ANY);
	ak_spi_exec("SELECT max_keys FROM apikey.owner_limits WHERE owner = $1", &p, AK_SPI_ANY);
	own_max = SPI_processed == 0 ? -1 : DatumGetInt32(ak_spi_value(0, 1, &isnull));
	if (SPI_processed > 0 && isnull)
		own_max = -1;
	max = ak_max_keys_per_owner > 0 ? ak_max_keys_per_owner : -1;
	if (own_max >= 0 && (max < 0 || own_max < max))
		max = own_max;
	if (max < 0)
		return;
	ak_spi_exec("SELECT count(*) FROM apikey.keys"
				" WHERE owner = $1 AND revoked_at IS NULL AND rotated_to IS NULL"
				"   AND (expires_at IS NULL OR expires_at > pg_catalog.now())",
				&p, AK_SPI_ANY);
	live = DatumGetInt64(ak_spi_value(0, 1, &isnull));
	if (live + adding > max)
	{
		const char *bound = max == own_max ? "its max_keys (apikey.owner_limits)"
			: "apikey.max_keys_per_owner";

		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many API keys for owner \"%s\"", text_to_cstring(owner)),
				 adding > 1 ?
				 errdetail("The owner has %lld live keys and asks for %lld more; %s is %lld.",
						   (long long) live, (long long) adding, bound, (long long) max) :
				 errdetail("The owner has %lld live keys; %s is %lld.",
						   (long long) live, bound, (long long) max),
				 errhint("Revoke the keys that are no longer used, or ask an administrator.")));
	}
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

/* A key's jwt_role: a role for requests (postgrest/jwtrole.c). */
void
ak_validate_jwt_role(text *role)
{
	char	   *name;
	const char *problem;

	if (role == NULL)
		return;
	ak_validate_text(role, "jwt_role", true);
	name = text_to_cstring(role);
	if (!OidIsValid(get_role_oid(name, true)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid jwt_role: role \"%s\" does not exist", name)));
	problem = ak_jwt_role_problem(name);
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid jwt_role: role \"%s\" may not be the role of a JWT", name),
				 errdetail("%s. %s", problem, ak_jwt_role_rule)));
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

/*
 * The end of a rotation's grace, from the start of the transaction (now()):
 * grace added in UTC, a month a calendar month and a day 24 hours.  The cap
 * is checked on that end, the same instant the old key then expires at, so
 * that no interval passes the check by counting months as 30 days and then
 * lasts longer ('12 months 6 days' is 371 or 372 days, not 366).
 */
TimestampTz
ak_grace_end(const Interval *grace)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	TimestampTz end;

	if (grace == NULL)
		ak_bad_value("grace", "it must not be null");
	/* far outside the cap: refused before the addition could overflow */
	if (grace->month > AK_MAX_GRACE_MONTHS || grace->month < -AK_MAX_GRACE_MONTHS ||
		grace->day > AK_MAX_GRACE_DAYS || grace->day < -AK_MAX_GRACE_DAYS ||
		grace->time > AK_MAX_GRACE_US || grace->time < -AK_MAX_GRACE_US)
		ak_bad_value("grace", "it must not exceed 366 days");
	end = DatumGetTimestamp(DirectFunctionCall2(timestamp_pl_interval,
												TimestampGetDatum(now),
												IntervalPGetDatum(grace)));
	if (end < now)
		ak_bad_value("grace", "it must not be negative");
	if (end - now > AK_MAX_GRACE_US)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid grace: it must not exceed 366 days"),
				 errdetail("A month is a calendar month and a day 24 hours: this grace would last %.2f days.",
						   (double) (end - now) / USECS_PER_DAY)));
	return end;
}
