/*-------------------------------------------------------------------------
 *
 * lifecycle.c
 *	  The key lifecycle (contract §5): issue, rotate, revoke, update and
 *	  introspect, and the append-only guard of apikey.audit_log.
 *
 * These functions are SECURITY DEFINER with search_path = pg_catalog,
 * pg_temp: they read and write the tables as the extension's owner, after
 * checking the caller themselves (identity.c).  Every input is validated
 * before the first write, and every change writes its audit row in the
 * same transaction, so a call either does all of its work or none.
 *
 * A token exists in plaintext only in the row these functions return.
 * Cache invalidation is not done here: the triggers on apikey.keys see
 * every change, whoever makes it (keycache.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type_d.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include <sodium.h>

#include "apikey.h"

/* the tier a caller who is not an admin may issue keys in */
#define AK_SELF_SERVICE_TIER	"free"
#define AK_MAX_GRACE_US			(INT64CONST(366) * USECS_PER_DAY)
#define AK_MAX_PARAMS			24

PG_FUNCTION_INFO_V1(apikey_issue);
PG_FUNCTION_INFO_V1(apikey_rotate);
PG_FUNCTION_INFO_V1(apikey_revoke);
PG_FUNCTION_INFO_V1(apikey_update);
PG_FUNCTION_INFO_V1(apikey_introspect);
PG_FUNCTION_INFO_V1(apikey_audit_guard);

/* Set by the worker while it purges old rows: the one allowed DELETE. */
bool		ak_audit_retention_running = false;


/* ---- SPI with parameters ---- */

typedef struct AkParams
{
	int			n;
	Oid			types[AK_MAX_PARAMS];
	Datum		values[AK_MAX_PARAMS];
	char		nulls[AK_MAX_PARAMS];
} AkParams;

static void
ak_param(AkParams *p, Oid type, Datum value, bool isnull)
{
	Assert(p->n < AK_MAX_PARAMS);
	p->types[p->n] = type;
	p->values[p->n] = isnull ? (Datum) 0 : value;
	p->nulls[p->n] = isnull ? 'n' : ' ';
	p->n++;
}

static void
ak_param_ptr(AkParams *p, Oid type, const void *ptr)
{
	ak_param(p, type, PointerGetDatum(ptr), ptr == NULL);
}

/* Runs a statement; returns the number of rows it processed or returned. */
static uint64
ak_spi(const char *sql, AkParams *p)
{
	int			rc;

	rc = SPI_execute_with_args(sql, p ? p->n : 0, p ? p->types : NULL,
							   p ? p->values : NULL, p ? p->nulls : NULL,
							   false, 0);
	if (rc < 0)
		elog(ERROR, "apikey: SPI_execute_with_args failed: %s",
			 SPI_result_code_string(rc));
	return SPI_processed;
}

static Datum
ak_spi_value(uint64 row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
						 col, isnull);
}


/* ---- a JSON object for audit details ---- */

typedef struct AkJson
{
	StringInfoData buf;
} AkJson;

static void
ak_json_key(AkJson *j, const char *key)
{
	if (j->buf.data == NULL)
	{
		initStringInfo(&j->buf);
		appendStringInfoChar(&j->buf, '{');
	}
	else
		appendStringInfoString(&j->buf, ", ");
	escape_json(&j->buf, key);
	appendStringInfoString(&j->buf, ": ");
}

static void
ak_json_str(AkJson *j, const char *key, const char *value)
{
	ak_json_key(j, key);
	if (value)
		escape_json(&j->buf, value);
	else
		appendStringInfoString(&j->buf, "null");
}

/* value is JSON already (or NULL for null) */
static void
ak_json_raw(AkJson *j, const char *key, const char *value)
{
	ak_json_key(j, key);
	appendStringInfoString(&j->buf, value ? value : "null");
}

static char *
ak_json_finish(AkJson *j)
{
	if (j->buf.data == NULL)
	{
		initStringInfo(&j->buf);
		appendStringInfoChar(&j->buf, '{');
	}
	appendStringInfoChar(&j->buf, '}');
	return j->buf.data;
}

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

static char *
ak_uuid_text(const pg_uuid_t *id)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(id)));
}


/* ---- the audit log ---- */

/* Appends one audit row for the caller; detail is a JSON object. */
static void
ak_audit(const char *action, const pg_uuid_t *key_id, text *owner,
		 const char *detail)
{
	AkParams	p = {0};

	ak_param(&p, TEXTOID, CStringGetTextDatum(action), false);
	ak_param_ptr(&p, UUIDOID, key_id);
	ak_param_ptr(&p, TEXTOID, owner);
	ak_param(&p, TEXTOID, CStringGetTextDatum(ak_current_actor()), false);
	ak_param_ptr(&p, INETOID, ak_request_client_ip());
	ak_param(&p, TEXTOID, CStringGetTextDatum(detail), false);
	ak_spi("INSERT INTO apikey.audit_log"
		   " (action, key_id, owner, actor, client_ip,"
		   "  request_method, request_path, detail)"
		   " VALUES ($1, $2, $3, $4, $5,"
		   "  nullif(current_setting('request.method', true), ''),"
		   "  nullif(current_setting('request.path', true), ''),"
		   "  $6::jsonb)", &p);
}

/*
 * apikey._audit_guard() trigger: audit rows are never changed or removed,
 * except by the worker's retention job.
 */
Datum
apikey_audit_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("apikey._audit_guard() must be called as a trigger")));

	if (ak_audit_retention_running &&
		TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		return PointerGetDatum(trigdata->tg_trigtuple);

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("apikey.audit_log is append-only"),
			 errdetail("Audit rows cannot be updated, deleted or truncated."),
			 errhint("Old rows are purged by the apikey worker after apikey.audit_retention.")));
	PG_RETURN_NULL();			/* keep compiler quiet */
}


/* ---- validation: every check raises 22023 (or 42501) before any write ---- */

static void
ak_bad_value(const char *what, const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s: %s", what, problem)));
}

static void
ak_check_text(text *t, const char *what, bool required)
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

static text *
ak_text_arg(FunctionCallInfo fcinfo, int argno, const char *what, bool required)
{
	text	   *t = PG_ARGISNULL(argno) ? NULL : PG_GETARG_TEXT_PP(argno);

	ak_check_text(t, what, required);
	return t;
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

static void
ak_check_scopes(ArrayType *scopes)
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

		ak_check_text(scope, "scope", true);
		for (size_t c = 0; c < len; c++)
			if (isspace((unsigned char) s[c]) || iscntrl((unsigned char) s[c]))
				ak_bad_value("scope", "it must not contain white space");
	}
}

static void
ak_check_allowed_ips(ArrayType *ips)
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

static void
ak_check_metadata(Jsonb *metadata)
{
	if (!JB_ROOT_IS_OBJECT(metadata))
		ak_bad_value("metadata", "it must be a JSON object");
	if (VARSIZE(metadata) > AK_MAX_METADATA)
		ak_bad_value("metadata", psprintf("it must not exceed %d bytes", AK_MAX_METADATA));
}

static void
ak_check_expires_at(TimestampTz expires_at)
{
	if (TIMESTAMP_NOT_FINITE(expires_at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid expires_at: it must be a finite time"),
				 errhint("Use NULL for a key that never expires.")));
	if (expires_at <= GetCurrentTimestamp())
		ak_bad_value("expires_at", "it must be in the future");
}

static void
ak_check_rate_limits(Jsonb *limits)
{
	AkLimit		parsed[AK_MAX_LIMITS];

	(void) ak_limits_parse(limits, parsed, "rate_limits");
}

static void
ak_check_prefix(text *prefix)
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
static void
ak_check_tier(text *tier)
{
	AkParams	p = {0};

	ak_check_text(tier, "tier", true);
	ak_param_ptr(&p, TEXTOID, tier);
	if (ak_spi("SELECT 1 FROM apikey.tiers WHERE name = $1", &p) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown tier \"%s\"", text_to_cstring(tier)),
				 errhint("The tiers are the rows of apikey.tiers.")));
}

static void
ak_check_jwt_role(text *role)
{
	char	   *name;

	if (role == NULL)
		return;
	ak_check_text(role, "jwt_role", true);
	name = text_to_cstring(role);
	if (!OidIsValid(get_role_oid(name, true)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid jwt_role: role \"%s\" does not exist", name)));
}

static void
ak_require_admin_for(const char *setting)
{
	if (!ak_caller_is_admin())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to set %s", setting),
				 errdetail("Only members of apikey_admin may choose a key's tier, rate_limits, quotas, max_concurrency or jwt_role."),
				 errhint("Owners can issue keys in tier \"%s\" and change name, scopes, expires_at, allowed_ips and metadata.",
						 AK_SELF_SERVICE_TIER)));
}

static Interval *
ak_grace_arg(FunctionCallInfo fcinfo, int argno)
{
	Interval   *grace;
	int64		us;

	if (PG_ARGISNULL(argno))
		ak_bad_value("grace", "it must not be null");
	grace = PG_GETARG_INTERVAL_P(argno);
	us = ak_interval_to_us(grace);
	if (us < 0)
		ak_bad_value("grace", "it must not be negative");
	if (us > AK_MAX_GRACE_US)
		ak_bad_value("grace", "it must not exceed 366 days");
	return grace;
}

static Datum
ak_key_id_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ak_bad_value("key_id", "it must not be null");
	return PG_GETARG_DATUM(argno);
}


/* ---- reading the key a call is about ---- */

typedef struct AkLockedKey
{
	text	   *owner;
	char	   *display_prefix;
	char	   *status;
} AkLockedKey;

/*
 * Locks the key's row for the rest of the transaction and checks that the
 * caller may act on it.  Requires an SPI connection.
 */
static void
ak_lock_key(Datum key_id, AkLockedKey *key, const char *action)
{
	AkParams	p = {0};
	bool		isnull;

	ak_param(&p, UUIDOID, key_id, false);
	if (ak_spi("SELECT owner, prefix,"
			   "  apikey._key_status(revoked_at, expires_at, rotated_to)"
			   " FROM apikey.keys WHERE id = $1 FOR UPDATE", &p) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("API key %s does not exist",
						ak_uuid_text(DatumGetUUIDP(key_id)))));

	key->owner = DatumGetTextPCopy(ak_spi_value(0, 1, &isnull));
	key->display_prefix = TextDatumGetCString(ak_spi_value(0, 2, &isnull));
	key->status = TextDatumGetCString(ak_spi_value(0, 3, &isnull));
	ak_require_owner_or_admin(key->owner, action);
}


/* ---- issue ---- */

/* A freshly generated token, its digest and its display prefix. */
typedef struct AkNewToken
{
	char		token[AK_PREFIX_MAX_LEN + 1 + AK_BODY_LEN + 1];
	char		display_prefix[AK_DISPLAY_MAX_LEN + 1];
	bytea	   *digest;
} AkNewToken;

static void
ak_new_token(const char *prefix, size_t prefix_len, AkNewToken *t)
{
	ak_token_generate(prefix, prefix_len, t->token);
	memcpy(t->display_prefix, t->token, prefix_len + 1 + AK_DISPLAY_BODY_LEN);
	t->display_prefix[prefix_len + 1 + AK_DISPLAY_BODY_LEN] = '\0';
	t->digest = palloc(VARHDRSZ + AK_HASH_LEN);
	SET_VARSIZE(t->digest, VARHDRSZ + AK_HASH_LEN);
	ak_token_hash(t->token, strlen(t->token), (uint8 *) VARDATA(t->digest));
}

/*
 * Runs an INSERT ... ON CONFLICT (prefix) DO NOTHING RETURNING id whose $1
 * and $2 are the display prefix and digest of a new token, drawing a new
 * token until the display prefix is unique (a 1 in 62^8 event).
 */
static pg_uuid_t *
ak_insert_new_key(const char *sql, AkParams *p, const char *prefix,
				  size_t prefix_len, AkNewToken *t)
{
	for (int attempt = 0; attempt < 10; attempt++)
	{
		bool		isnull;

		ak_new_token(prefix, prefix_len, t);
		p->values[0] = CStringGetTextDatum(t->display_prefix);
		p->values[1] = PointerGetDatum(t->digest);
		if (ak_spi(sql, p) == 1)
			return memcpy(palloc(sizeof(pg_uuid_t)),
						  DatumGetUUIDP(ak_spi_value(0, 1, &isnull)),
						  sizeof(pg_uuid_t));
		sodium_memzero(t->token, sizeof(t->token));
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("could not generate a unique display prefix")));
	return NULL;				/* keep compiler quiet */
}

static char *
ak_scopes_json(ArrayType *scopes)
{
	return TextDatumGetCString(DirectFunctionCall1(array_to_json,
												   PointerGetDatum(scopes)));
}

static void
ak_return_new_key(FunctionCallInfo fcinfo, const pg_uuid_t *id,
				  AkNewToken *t, Datum extra, bool has_extra)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	values[0] = UUIDPGetDatum(id);
	values[1] = CStringGetTextDatum(t->token);
	values[2] = CStringGetTextDatum(t->display_prefix);
	values[3] = extra;
	nulls[3] = !has_extra;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	sodium_memzero(t->token, sizeof(t->token));
}

/*
 * apikey.issue(owner, name, scopes, tier, expires_at, allowed_ips, metadata,
 *				prefix, org, rate_limits)
 *	  RETURNS TABLE(key_id uuid, token text, display_prefix text)
 */
Datum
apikey_issue(PG_FUNCTION_ARGS)
{
	text	   *owner,
			   *name,
			   *tier,
			   *prefix,
			   *org;
	ArrayType  *scopes = NULL;
	ArrayType  *allowed_ips = NULL;
	Jsonb	   *metadata = NULL;
	Jsonb	   *rate_limits = NULL;
	bool		has_expiry = !PG_ARGISNULL(4);
	TimestampTz expires_at = has_expiry ? PG_GETARG_TIMESTAMPTZ(4) : 0;
	AkParams	p = {0};
	AkNewToken	t;
	pg_uuid_t  *id;
	AkJson		detail = {0};

	AK_REQUIRE_PRELOAD();
	InitMaterializedSRF(fcinfo, 0);

	owner = ak_text_arg(fcinfo, 0, "owner", true);
	name = ak_text_arg(fcinfo, 1, "name", false);
	if (!PG_ARGISNULL(2))
		ak_check_scopes(scopes = PG_GETARG_ARRAYTYPE_P(2));
	tier = ak_text_arg(fcinfo, 3, "tier", true);
	if (has_expiry)
		ak_check_expires_at(expires_at);
	if (!PG_ARGISNULL(5))
		ak_check_allowed_ips(allowed_ips = PG_GETARG_ARRAYTYPE_P(5));
	if (!PG_ARGISNULL(6))
		ak_check_metadata(metadata = PG_GETARG_JSONB_P(6));
	prefix = PG_ARGISNULL(7) ? NULL : PG_GETARG_TEXT_PP(7);
	ak_check_prefix(prefix);
	org = ak_text_arg(fcinfo, 8, "org", false);
	if (!PG_ARGISNULL(9))
		ak_check_rate_limits(rate_limits = PG_GETARG_JSONB_P(9));

	ak_require_owner_or_admin(owner, "issue a key for this owner");
	if (rate_limits != NULL)
		ak_require_admin_for("rate_limits");
	if (strcmp(text_to_cstring(tier), AK_SELF_SERVICE_TIER) != 0)
		ak_require_admin_for("tier");

	SPI_connect();
	ak_check_tier(tier);

	ak_param(&p, TEXTOID, 0, false);	/* display prefix, set per attempt */
	ak_param(&p, BYTEAOID, 0, false);	/* digest, set per attempt */
	ak_param_ptr(&p, TEXTOID, owner);
	ak_param_ptr(&p, TEXTOID, org);
	ak_param_ptr(&p, TEXTOID, name);
	ak_param_ptr(&p, TEXTARRAYOID, scopes);
	ak_param_ptr(&p, TEXTOID, tier);
	ak_param(&p, TIMESTAMPTZOID, TimestampTzGetDatum(expires_at), !has_expiry);
	ak_param_ptr(&p, CIDRARRAYOID, allowed_ips);
	ak_param_ptr(&p, JSONBOID, metadata);
	ak_param_ptr(&p, JSONBOID, rate_limits);
	id = ak_insert_new_key("INSERT INTO apikey.keys"
						   " (prefix, key_hash, owner, org, name, scopes, tier,"
						   "  expires_at, allowed_ips, metadata, rate_limits)"
						   " VALUES ($1, $2, $3, $4, $5, coalesce($6, '{}'), $7,"
						   "  $8, $9, coalesce($10, '{}'), $11)"
						   " ON CONFLICT (prefix) DO NOTHING RETURNING id",
						   &p, VARDATA_ANY(prefix), VARSIZE_ANY_EXHDR(prefix), &t);

	ak_json_str(&detail, "display_prefix", t.display_prefix);
	ak_json_str(&detail, "name", ak_text_or_null(name));
	ak_json_str(&detail, "tier", text_to_cstring(tier));
	ak_json_raw(&detail, "scopes", scopes ? ak_scopes_json(scopes) : "[]");
	ak_json_str(&detail, "expires_at",
				ak_timestamptz_text(TimestampTzGetDatum(expires_at), !has_expiry));
	ak_audit("issued", id, owner, ak_json_finish(&detail));

	ak_return_new_key(fcinfo, id, &t, (Datum) 0, false);
	SPI_finish();
	return (Datum) 0;
}


/* ---- rotate ---- */

/*
 * apikey.rotate(key_id uuid, grace interval)
 *	  RETURNS TABLE(key_id uuid, token text, display_prefix text,
 *					old_key_expires_at timestamptz)
 *
 * The new key copies every setting of the old one.  The old key keeps
 * working until old_key_expires_at (its expires_at is brought forward to
 * the end of the grace), after which verify() answers REVOKED even before
 * the worker marks it revoked; a zero grace revokes it at once.
 */
Datum
apikey_rotate(PG_FUNCTION_ARGS)
{
	Datum		key_id;
	Interval   *grace;
	bool		immediate;
	AkLockedKey old;
	AkParams	p = {0};
	AkNewToken	t;
	pg_uuid_t  *new_id;
	Datum		old_expires;
	bool		isnull;
	AkJson		rotated = {0};
	AkJson		issued = {0};

	AK_REQUIRE_PRELOAD();
	InitMaterializedSRF(fcinfo, 0);
	key_id = ak_key_id_arg(fcinfo, 0);
	grace = ak_grace_arg(fcinfo, 1);
	immediate = ak_interval_to_us(grace) == 0;

	SPI_connect();
	ak_lock_key(key_id, &old, "rotate this key");
	if (strcmp(old.status, "active") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("API key %s cannot be rotated", old.display_prefix),
				 errdetail("Its status is \"%s\"; only active keys can be rotated.",
						   old.status)));

	ak_param(&p, TEXTOID, 0, false);
	ak_param(&p, BYTEAOID, 0, false);
	ak_param(&p, UUIDOID, key_id, false);
	new_id = ak_insert_new_key("INSERT INTO apikey.keys"
							   " (prefix, key_hash, owner, org, name, scopes, tier,"
							   "  rate_limits, daily_quota, monthly_quota,"
							   "  max_concurrency, allowed_ips, metadata, expires_at,"
							   "  jwt_role, rotated_from)"
							   " SELECT $1, $2, owner, org, name, scopes, tier,"
							   "  rate_limits, daily_quota, monthly_quota,"
							   "  max_concurrency, allowed_ips, metadata, expires_at,"
							   "  jwt_role, id"
							   " FROM apikey.keys WHERE id = $3"
							   " ON CONFLICT (prefix) DO NOTHING RETURNING id",
							   &p, old.display_prefix,
							   strlen(old.display_prefix) - 1 - AK_DISPLAY_BODY_LEN, &t);

	memset(&p, 0, sizeof(p));
	ak_param(&p, UUIDOID, key_id, false);
	ak_param(&p, UUIDOID, UUIDPGetDatum(new_id), false);
	ak_param(&p, BOOLOID, BoolGetDatum(immediate), false);
	ak_param(&p, INTERVALOID, IntervalPGetDatum(grace), false);
	ak_spi("UPDATE apikey.keys SET rotated_to = $2,"
		   "  revoked_at = CASE WHEN $3 THEN now() ELSE revoked_at END,"
		   "  revoke_reason = CASE WHEN $3 THEN 'rotated' ELSE revoke_reason END,"
		   "  expires_at = CASE WHEN $3 THEN expires_at"
		   "    ELSE least(coalesce(expires_at, 'infinity'), now() + $4) END"
		   " WHERE id = $1"
		   " RETURNING CASE WHEN $3 THEN revoked_at ELSE expires_at END", &p);
	old_expires = SPI_datumTransfer(ak_spi_value(0, 1, &isnull), true, sizeof(TimestampTz));

	ak_json_str(&rotated, "display_prefix", old.display_prefix);
	ak_json_str(&rotated, "new_key_id", ak_uuid_text(new_id));
	ak_json_str(&rotated, "new_display_prefix", t.display_prefix);
	ak_json_str(&rotated, "grace",
				DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(grace))));
	ak_json_str(&rotated, "old_key_expires_at", ak_timestamptz_text(old_expires, false));
	ak_audit("rotated", DatumGetUUIDP(key_id), old.owner, ak_json_finish(&rotated));

	ak_json_str(&issued, "display_prefix", t.display_prefix);
	ak_json_str(&issued, "rotated_from", ak_uuid_text(DatumGetUUIDP(key_id)));
	ak_audit("issued", new_id, old.owner, ak_json_finish(&issued));

	ak_return_new_key(fcinfo, new_id, &t, old_expires, true);
	SPI_finish();
	return (Datum) 0;
}


/* ---- revoke ---- */

/*
 * apikey.revoke(key_id uuid, reason text) RETURNS boolean
 *	  false when the key already no longer works (revoked, expired, or past
 *	  its rotation grace).
 */
Datum
apikey_revoke(PG_FUNCTION_ARGS)
{
	Datum		key_id;
	text	   *reason;
	AkLockedKey key;
	AkParams	p = {0};
	AkJson		detail = {0};
	bool		revoked = false;

	AK_REQUIRE_PRELOAD();
	key_id = ak_key_id_arg(fcinfo, 0);
	reason = ak_text_arg(fcinfo, 1, "reason", false);

	SPI_connect();
	ak_lock_key(key_id, &key, "revoke this key");
	if (strcmp(key.status, "active") == 0 || strcmp(key.status, "rotating") == 0)
	{
		ak_param(&p, UUIDOID, key_id, false);
		ak_param_ptr(&p, TEXTOID, reason);
		ak_spi("UPDATE apikey.keys SET revoked_at = now(), revoke_reason = $2"
			   " WHERE id = $1", &p);

		ak_json_str(&detail, "display_prefix", key.display_prefix);
		ak_json_str(&detail, "reason", ak_text_or_null(reason));
		ak_audit("revoked", DatumGetUUIDP(key_id), key.owner, ak_json_finish(&detail));
		revoked = true;
	}
	SPI_finish();
	PG_RETURN_BOOL(revoked);
}


/* ---- update ---- */

/* The columns update() may change, in the order of its statement. */
typedef enum AkField
{
	AK_F_NAME,
	AK_F_SCOPES,
	AK_F_TIER,
	AK_F_EXPIRES_AT,
	AK_F_ALLOWED_IPS,
	AK_F_METADATA,
	AK_F_RATE_LIMITS,
	AK_F_DAILY_QUOTA,
	AK_F_MONTHLY_QUOTA,
	AK_F_MAX_CONCURRENCY,
	AK_F_JWT_ROLE,
	AK_NUM_FIELDS
} AkField;

static const struct
{
	const char *name;
	Oid			type;
	bool		admin_only;
}			ak_fields[AK_NUM_FIELDS] = {
	[AK_F_NAME] = {"name", TEXTOID, false},
	[AK_F_SCOPES] = {"scopes", TEXTARRAYOID, false},
	[AK_F_TIER] = {"tier", TEXTOID, true},
	[AK_F_EXPIRES_AT] = {"expires_at", TIMESTAMPTZOID, false},
	[AK_F_ALLOWED_IPS] = {"allowed_ips", CIDRARRAYOID, false},
	[AK_F_METADATA] = {"metadata", JSONBOID, false},
	[AK_F_RATE_LIMITS] = {"rate_limits", JSONBOID, true},
	[AK_F_DAILY_QUOTA] = {"daily_quota", INT8OID, true},
	[AK_F_MONTHLY_QUOTA] = {"monthly_quota", INT8OID, true},
	[AK_F_MAX_CONCURRENCY] = {"max_concurrency", INT4OID, true},
	[AK_F_JWT_ROLE] = {"jwt_role", TEXTOID, true},
};

/*
 * UPDATE apikey.keys SET <col> = CASE WHEN $<2i+2> THEN $<2i+3> ELSE <col> END, ...
 * WHERE id = $1: one statement whatever the caller changes.
 */
static const char *
ak_update_sql(void)
{
	static char *sql = NULL;

	if (sql == NULL)
	{
		StringInfoData buf;

		initStringInfo(&buf);
		appendStringInfoString(&buf, "UPDATE apikey.keys SET ");
		for (int i = 0; i < AK_NUM_FIELDS; i++)
			appendStringInfo(&buf, "%s%s = CASE WHEN $%d THEN $%d ELSE %s END",
							 i ? ", " : "", ak_fields[i].name,
							 2 * i + 2, 2 * i + 3, ak_fields[i].name);
		appendStringInfoString(&buf, " WHERE id = $1");
		sql = MemoryContextStrdup(TopMemoryContext, buf.data);
		pfree(buf.data);
	}
	return sql;
}

static ArrayType *
ak_json_string_array(JsonbValue *v, Oid elemtype, const char *what)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	elem;
	List	   *items = NIL;
	Datum	   *elems;
	int			n = 0;
	int16		typlen;
	bool		byval;
	char		align;
	ListCell   *lc;

	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		ak_bad_value(what, "it must be a JSON array of strings");

	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (elem.type != jbvString)
			ak_bad_value(what, "it must be a JSON array of strings");
		items = lappend(items, pnstrdup(elem.val.string.val, elem.val.string.len));
	}

	elems = palloc(Max(list_length(items), 1) * sizeof(Datum));
	foreach(lc, items)
	{
		char	   *s = lfirst(lc);

		elems[n++] = (elemtype == CIDROID)
			? DirectFunctionCall1(cidr_in, CStringGetDatum(s))
			: CStringGetTextDatum(s);
	}
	get_typlenbyvalalign(elemtype, &typlen, &byval, &align);
	return construct_array(elems, n, elemtype, typlen, byval, align);
}

static int64
ak_json_integer(JsonbValue *v, const char *what, int64 min, int64 max)
{
	char	   *s;
	char	   *end;
	long long	value;

	if (v->type != jbvNumeric)
		ak_bad_value(what, "it must be a number");
	s = DatumGetCString(DirectFunctionCall1(numeric_out,
											NumericGetDatum(v->val.numeric)));
	errno = 0;
	value = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || value < min || value > max)
		ak_bad_value(what, psprintf("it must be a whole number between " INT64_FORMAT " and " INT64_FORMAT,
									min, max));
	return value;
}

static text *
ak_json_text(JsonbValue *v, const char *what)
{
	text	   *t;

	if (v->type != jbvString)
		ak_bad_value(what, "it must be a string");
	t = cstring_to_text_with_len(v->val.string.val, v->val.string.len);
	ak_check_text(t, what, true);
	return t;
}

/*
 * Converts and validates one field of update()'s changes.  NULL in JSON
 * means "none": no expiry, no allowlist, the tier's limits and quotas.
 */
static Datum
ak_change_value(AkField field, JsonbValue *v, bool *isnull)
{
	const char *what = ak_fields[field].name;

	*isnull = (v->type == jbvNull);
	switch (field)
	{
		case AK_F_NAME:
			return *isnull ? (Datum) 0 : PointerGetDatum(ak_json_text(v, what));
		case AK_F_SCOPES:
			{
				ArrayType  *scopes;

				if (*isnull)
				{
					*isnull = false;
					return PointerGetDatum(construct_empty_array(TEXTOID));
				}
				scopes = ak_json_string_array(v, TEXTOID, what);
				ak_check_scopes(scopes);
				return PointerGetDatum(scopes);
			}
		case AK_F_TIER:
			{
				text	   *tier;

				if (*isnull)
					ak_bad_value(what, "it must not be null");
				tier = ak_json_text(v, what);
				ak_check_tier(tier);
				return PointerGetDatum(tier);
			}
		case AK_F_EXPIRES_AT:
			{
				Datum		ts;

				if (*isnull)
					return (Datum) 0;
				ts = DirectFunctionCall3(timestamptz_in,
										 CStringGetDatum(text_to_cstring(ak_json_text(v, what))),
										 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
				ak_check_expires_at(DatumGetTimestampTz(ts));
				return ts;
			}
		case AK_F_ALLOWED_IPS:
			{
				ArrayType  *ips;

				if (*isnull)
					return (Datum) 0;
				ips = ak_json_string_array(v, CIDROID, what);
				ak_check_allowed_ips(ips);
				return PointerGetDatum(ips);
			}
		case AK_F_METADATA:
			{
				Jsonb	   *metadata;

				if (*isnull)
				{
					*isnull = false;
					return DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
				}
				metadata = JsonbValueToJsonb(v);
				ak_check_metadata(metadata);
				return JsonbPGetDatum(metadata);
			}
		case AK_F_RATE_LIMITS:
			{
				Jsonb	   *limits;

				if (*isnull)
					return (Datum) 0;
				limits = JsonbValueToJsonb(v);
				ak_check_rate_limits(limits);
				return JsonbPGetDatum(limits);
			}
		case AK_F_DAILY_QUOTA:
		case AK_F_MONTHLY_QUOTA:
			return *isnull ? (Datum) 0
				: Int64GetDatum(ak_json_integer(v, what, 0, PG_INT64_MAX));
		case AK_F_MAX_CONCURRENCY:
			return *isnull ? (Datum) 0
				: Int32GetDatum((int32) ak_json_integer(v, what, 1, PG_INT32_MAX));
		case AK_F_JWT_ROLE:
			{
				text	   *role;

				if (*isnull)
					return (Datum) 0;
				role = ak_json_text(v, what);
				ak_check_jwt_role(role);
				return PointerGetDatum(role);
			}
		case AK_NUM_FIELDS:
			break;
	}
	elog(ERROR, "unexpected field %d", (int) field);
	return (Datum) 0;			/* keep compiler quiet */
}

static AkField
ak_field_by_name(const char *name, int len)
{
	for (int i = 0; i < AK_NUM_FIELDS; i++)
		if ((int) strlen(ak_fields[i].name) == len &&
			memcmp(ak_fields[i].name, name, len) == 0)
			return (AkField) i;

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown key \"%.*s\" in changes", len, name),
			 errhint("The keys that can be changed are: name, scopes, tier, expires_at, allowed_ips, metadata, rate_limits, daily_quota, monthly_quota, max_concurrency, jwt_role.")));
	return AK_NUM_FIELDS;		/* keep compiler quiet */
}

/*
 * apikey.update(key_id uuid, changes jsonb) RETURNS apikey.key_list
 */
Datum
apikey_update(PG_FUNCTION_ARGS)
{
	Datum		key_id;
	Jsonb	   *changes;
	AkLockedKey key;
	AkParams	p = {0};
	bool		set[AK_NUM_FIELDS] = {false};
	Datum		values[AK_NUM_FIELDS];
	bool		nulls[AK_NUM_FIELDS];
	bool		any = false;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	AkJson		detail = {0};
	Datum		result;
	bool		isnull;

	AK_REQUIRE_PRELOAD();
	key_id = ak_key_id_arg(fcinfo, 0);
	if (PG_ARGISNULL(1))
		ak_bad_value("changes", "it must not be null");
	changes = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_OBJECT(changes))
		ak_bad_value("changes", "it must be a JSON object");

	SPI_connect();
	ak_lock_key(key_id, &key, "update this key");

	it = JsonbIteratorInit(&changes->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		AkField		field;

		if (tok != WJB_KEY)
			continue;
		field = ak_field_by_name(v.val.string.val, v.val.string.len);
		if (ak_fields[field].admin_only)
			ak_require_admin_for(ak_fields[field].name);
		if (JsonbIteratorNext(&it, &v, true) != WJB_VALUE)
			elog(ERROR, "unexpected jsonb token in changes");
		values[field] = ak_change_value(field, &v, &nulls[field]);
		set[field] = true;
		any = true;
	}

	if (any)
	{
		ak_param(&p, UUIDOID, key_id, false);
		for (int i = 0; i < AK_NUM_FIELDS; i++)
		{
			ak_param(&p, BOOLOID, BoolGetDatum(set[i]), false);
			ak_param(&p, ak_fields[i].type, set[i] ? values[i] : (Datum) 0,
					 !set[i] || nulls[i]);
		}
		ak_spi(ak_update_sql(), &p);

		ak_json_str(&detail, "display_prefix", key.display_prefix);
		ak_json_raw(&detail, "changes", JsonbToCString(NULL, &changes->root, VARSIZE(changes)));
		ak_audit("updated", DatumGetUUIDP(key_id), key.owner, ak_json_finish(&detail));
	}

	memset(&p, 0, sizeof(p));
	ak_param(&p, UUIDOID, key_id, false);
	ak_spi("SELECT k FROM apikey.key_list AS k WHERE k.id = $1", &p);
	result = SPI_datumTransfer(ak_spi_value(0, 1, &isnull), false, -1);
	SPI_finish();
	PG_RETURN_DATUM(result);
}


/* ---- introspect ---- */

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
		ak_bucket_peek(AK_BK_KEY_LIMIT, (const uint8 *) key->id.data,
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

/*
 * apikey.introspect(display_prefix text) RETURNS jsonb
 *	  Everything known about a key, for admins: no digest, the token masked,
 *	  and its buckets as they are now.  NULL when no key has this prefix.
 */
Datum
apikey_introspect(PG_FUNCTION_ARGS)
{
	AkParams	p = {0};
	Datum		result = (Datum) 0;
	bool		isnull = true;

	AK_REQUIRE_PRELOAD();
	if (!ak_caller_is_admin())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to introspect API keys"),
				 errhint("Only members of apikey_admin may introspect keys.")));
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();

	SPI_connect();
	ak_param(&p, TEXTOID, PG_GETARG_DATUM(0), false);
	if (ak_spi("SELECT k.id, jsonb_build_object("
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
			   "  'jwt_role', k.jwt_role,"
			   "  'usage', jsonb_build_object("
			   "    'daily', k.daily_usage, 'day', k.usage_day,"
			   "    'monthly', k.monthly_usage, 'month', k.usage_month))"
			   " FROM apikey.key_list AS k"
			   " JOIN apikey.tiers AS t ON t.name = k.tier"
			   " WHERE k.prefix = $1", &p) == 1)
	{
		pg_uuid_t  *id = DatumGetUUIDP(ak_spi_value(0, 1, &isnull));
		Datum		live = DirectFunctionCall1(jsonb_in,
											   CStringGetDatum(psprintf("{\"live_limits\": %s}",
																		ak_live_limits_json(id))));

		result = DirectFunctionCall2(jsonb_concat, ak_spi_value(0, 2, &isnull), live);
		result = SPI_datumTransfer(result, false, -1);
	}
	SPI_finish();
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}
