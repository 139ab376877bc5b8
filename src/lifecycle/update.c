/*-------------------------------------------------------------------------
 *
 * update.c
 *	  update(): changes the fields of a key named in a JSON object, in one
 *	  statement, with an "updated" audit row.  NULL in JSON means "none":
 *	  no expiry, no allowlist, the tier's limits and quotas.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "auth/identity.h"
#include "auth/keyinfo.h"
#include "catalog/pg_type_d.h"
#include "core/json.h"
#include "core/spi.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "lifecycle/audit.h"
#include "lifecycle/keys.h"
#include "lifecycle/rights.h"
#include "lifecycle/validate.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/* A field's value from JSON, validated; *isnull for SQL NULL. */
typedef Datum (*AkFieldValue) (JsonbValue *v, const char *what, bool *isnull);

static Datum ak_value_name(JsonbValue *v, const char *what, bool *isnull);
static Datum ak_value_scopes(JsonbValue *v, const char *what, bool *isnull);
static Datum ak_value_tier(JsonbValue *v, const char *what, bool *isnull);
static Datum ak_value_expires_at(JsonbValue *v, const char *what, bool *isnull);
static Datum ak_value_allowed_ips(JsonbValue *v, const char *what, bool *isnull);
static Datum ak_value_metadata(JsonbValue *v, const char *what, bool *isnull);
static Datum ak_value_rate_limits(JsonbValue *v, const char *what, bool *isnull);
static Datum ak_value_quota(JsonbValue *v, const char *what, bool *isnull);
static Datum ak_value_concurrency(JsonbValue *v, const char *what, bool *isnull);
static Datum ak_value_jwt_role(JsonbValue *v, const char *what, bool *isnull);
static Datum ak_value_max_uses(JsonbValue *v, const char *what, bool *isnull);
static Datum ak_value_priority(JsonbValue *v, const char *what, bool *isnull);

/* The columns update() may change, in the order of its statement. */
static const struct
{
	const char *name;
	Oid			type;
	bool		admin_only;
	AkFieldValue value;
}			ak_fields[] = {
	{"name", TEXTOID, false, ak_value_name},
	{"scopes", TEXTARRAYOID, false, ak_value_scopes},
	{"tier", TEXTOID, true, ak_value_tier},
	{"expires_at", TIMESTAMPTZOID, false, ak_value_expires_at},
	{"allowed_ips", CIDRARRAYOID, false, ak_value_allowed_ips},
	{"metadata", JSONBOID, false, ak_value_metadata},
	{"rate_limits", JSONBOID, true, ak_value_rate_limits},
	{"daily_quota", INT8OID, true, ak_value_quota},
	{"monthly_quota", INT8OID, true, ak_value_quota},
	{"max_concurrency", INT4OID, true, ak_value_concurrency},
	{"jwt_role", TEXTOID, true, ak_value_jwt_role},
	{"max_uses", INT8OID, true, ak_value_max_uses},
	{"priority", INT2OID, true, ak_value_priority},
};

#define AK_NUM_FIELDS	lengthof(ak_fields)


/* ---- values from JSON ---- */

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
	int64		value;

	if (v->type != jbvNumeric)
		ak_bad_value(what, "it must be a number");
	if (!ak_jsonb_integer(v, min, max, &value))
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
	ak_validate_text(t, what, true);
	return t;
}

static Datum
ak_value_name(JsonbValue *v, const char *what, bool *isnull)
{
	return *isnull ? (Datum) 0 : PointerGetDatum(ak_json_text(v, what));
}

/* null: no scopes */
static Datum
ak_value_scopes(JsonbValue *v, const char *what, bool *isnull)
{
	ArrayType  *scopes;

	if (*isnull)
	{
		*isnull = false;
		return PointerGetDatum(construct_empty_array(TEXTOID));
	}
	scopes = ak_json_string_array(v, TEXTOID, what);
	ak_validate_scopes(scopes);
	return PointerGetDatum(scopes);
}

static Datum
ak_value_tier(JsonbValue *v, const char *what, bool *isnull)
{
	text	   *tier;

	if (*isnull)
		ak_bad_value(what, "it must not be null");
	tier = ak_json_text(v, what);
	ak_validate_tier(tier);
	return PointerGetDatum(tier);
}

static Datum
ak_value_expires_at(JsonbValue *v, const char *what, bool *isnull)
{
	Datum		ts;

	if (*isnull)
		return (Datum) 0;
	ts = DirectFunctionCall3(timestamptz_in,
							 CStringGetDatum(text_to_cstring(ak_json_text(v, what))),
							 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	ak_validate_expires_at(DatumGetTimestampTz(ts));
	return ts;
}

static Datum
ak_value_allowed_ips(JsonbValue *v, const char *what, bool *isnull)
{
	ArrayType  *ips;

	if (*isnull)
		return (Datum) 0;
	ips = ak_json_string_array(v, CIDROID, what);
	ak_validate_allowed_ips(ips);
	return PointerGetDatum(ips);
}

/* null: {} */
static Datum
ak_value_metadata(JsonbValue *v, const char *what, bool *isnull)
{
	Jsonb	   *metadata;

	if (*isnull)
	{
		*isnull = false;
		return DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
	}
	metadata = JsonbValueToJsonb(v);
	ak_validate_metadata(metadata);
	return JsonbPGetDatum(metadata);
}

static Datum
ak_value_rate_limits(JsonbValue *v, const char *what, bool *isnull)
{
	Jsonb	   *limits;

	if (*isnull)
		return (Datum) 0;
	limits = JsonbValueToJsonb(v);
	ak_validate_rate_limits(limits);
	return JsonbPGetDatum(limits);
}

static Datum
ak_value_quota(JsonbValue *v, const char *what, bool *isnull)
{
	return *isnull ? (Datum) 0
		: Int64GetDatum(ak_json_integer(v, what, 0, PG_INT64_MAX));
}

static Datum
ak_value_concurrency(JsonbValue *v, const char *what, bool *isnull)
{
	return *isnull ? (Datum) 0
		: Int32GetDatum((int32) ak_json_integer(v, what, 1, PG_INT32_MAX));
}

static Datum
ak_value_jwt_role(JsonbValue *v, const char *what, bool *isnull)
{
	text	   *role;

	if (*isnull)
		return (Datum) 0;
	role = ak_json_text(v, what);
	ak_validate_jwt_role(role);
	return PointerGetDatum(role);
}

static Datum
ak_value_max_uses(JsonbValue *v, const char *what, bool *isnull)
{
	return *isnull ? (Datum) 0
		: Int64GetDatum(ak_json_integer(v, what, 1, PG_INT64_MAX));
}

static Datum
ak_value_priority(JsonbValue *v, const char *what, bool *isnull)
{
	return *isnull ? (Datum) 0
		: Int16GetDatum((int16) ak_json_integer(v, what, AK_MIN_PRIORITY, AK_MAX_PRIORITY));
}


/* ---- the statement ---- */

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

/* "name, scopes, ...": the fields, for a hint. */
static char *
ak_field_list(void)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < AK_NUM_FIELDS; i++)
		appendStringInfo(&buf, "%s%s", i ? ", " : "", ak_fields[i].name);
	return buf.data;
}

static int
ak_field_by_name(const char *name, int len)
{
	for (int i = 0; i < AK_NUM_FIELDS; i++)
		if ((int) strlen(ak_fields[i].name) == len &&
			memcmp(ak_fields[i].name, name, len) == 0)
			return i;

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown key \"%.*s\" in changes", len, name),
			 errhint("The keys that can be changed are: %s.", ak_field_list())));
	return -1;					/* keep compiler quiet */
}

/* The changes, converted and validated: set[i], values[i], nulls[i]. */
typedef struct AkChanges
{
	bool		set[AK_NUM_FIELDS];
	Datum		values[AK_NUM_FIELDS];
	bool		nulls[AK_NUM_FIELDS];
	bool		any;
} AkChanges;

static void
ak_read_changes(Jsonb *changes, AkChanges *c)
{
	JsonbIterator *it = JsonbIteratorInit(&changes->root);
	JsonbIteratorToken tok;
	JsonbValue	v;

	memset(c, 0, sizeof(*c));
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		int			f;

		if (tok != WJB_KEY)
			continue;
		f = ak_field_by_name(v.val.string.val, v.val.string.len);
		if (ak_fields[f].admin_only)
			ak_require_admin_for(ak_fields[f].name);
		if (JsonbIteratorNext(&it, &v, true) != WJB_VALUE)
			elog(ERROR, "unexpected jsonb token in changes");
		c->nulls[f] = (v.type == jbvNull);
		c->values[f] = ak_fields[f].value(&v, ak_fields[f].name, &c->nulls[f]);
		c->set[f] = true;
		c->any = true;
	}
}

static void
ak_write_changes(Datum key_id, const AkLockedKey *key, Jsonb *changes,
				 const AkChanges *c)
{
	AkParams	p = {0};
	AkJsonObject detail = {0};

	ak_param(&p, UUIDOID, key_id, false);
	for (int i = 0; i < AK_NUM_FIELDS; i++)
	{
		ak_param(&p, BOOLOID, BoolGetDatum(c->set[i]), false);
		ak_param(&p, ak_fields[i].type, c->set[i] ? c->values[i] : (Datum) 0,
				 !c->set[i] || c->nulls[i]);
	}
	ak_spi_exec(ak_update_sql(), &p, AK_SPI_ANY);

	ak_json_add_string(&detail, "display_prefix", key->display_prefix);
	ak_json_add_raw(&detail, "changes", JsonbToCString(NULL, &changes->root, VARSIZE(changes)));
	ak_audit("updated", DatumGetUUIDP(key_id), key->owner, ak_json_finish(&detail));
}

/* The index of a field of ak_fields, by name. */
static int
ak_field(const char *name)
{
	return ak_field_by_name(name, strlen(name));
}

/*
 * Rotation is final, and so is the end of a key: a rotated-out key's
 * expires_at can only be brought forward, and a revoked or expired key's
 * not changed at all -- update() never revives a key.  For everyone,
 * admins included.
 */
static void
ak_check_final(const AkLockedKey *key, const AkChanges *c)
{
	int			f = ak_field("expires_at");
	bool		dead = strcmp(key->status, "revoked") == 0 ||
		strcmp(key->status, "expired") == 0;

	if (!c->set[f])
		return;
	if (dead)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid expires_at: API key %s is %s", key->display_prefix,
						key->status),
				 errdetail("A revoked or expired key is never revived: its expires_at cannot change."),
				 errhint("Issue a new key.")));
	if (strcmp(key->status, "rotating") == 0 &&
		(c->nulls[f] || DatumGetTimestampTz(c->values[f]) > key->expires_at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid expires_at: API key %s was rotated", key->display_prefix),
				 errdetail("Rotation is final: a rotated-out key's expires_at can only be brought forward."),
				 errhint("Its grace ends at the expires_at it has now, or sooner.")));
}

/*
 * A caller identified by an API key sets scopes, allowlist and expiry only
 * within that key's reach: a key cannot widen itself, nor a key it made.
 */
static void
ak_check_reach(const AkChanges *c)
{
	AkKeyBounds acting;
	int			scopes = ak_field("scopes");
	int			ips = ak_field("allowed_ips");
	int			expires = ak_field("expires_at");
	const char *action = "update this key";

	if (!ak_rights_acting_key(&acting))
		return;
	if (c->set[scopes])
		ak_rights_check_scopes(&acting, DatumGetArrayTypeP(c->values[scopes]), action);
	if (c->set[ips])
		ak_rights_check_allowed_ips(&acting, c->nulls[ips] ? NULL
									: DatumGetArrayTypeP(c->values[ips]), action);
	if (c->set[expires])
		ak_rights_check_expiry(&acting, !c->nulls[expires],
							   c->nulls[expires] ? 0 : DatumGetTimestampTz(c->values[expires]),
							   action);
}

/*
 * update(key_id, changes): the key as apikey.key_list shows it afterwards.
 */
Datum
ak_key_update(Datum key_id, Jsonb *changes)
{
	AkLockedKey key;
	AkChanges	c;
	AkParams	p = {0};
	Datum		result;
	bool		isnull;

	if (changes == NULL)
		ak_bad_value("changes", "it must not be null");
	if (!JB_ROOT_IS_OBJECT(changes))
		ak_bad_value("changes", "it must be a JSON object");

	SPI_connect();
	ak_lock_key(key_id, &key, "update this key");
	ak_read_changes(changes, &c);
	ak_check_final(&key, &c);
	ak_check_reach(&c);
	if (c.any)
		ak_write_changes(key_id, &key, changes, &c);

	ak_param(&p, UUIDOID, key_id, false);
	ak_spi_exec("SELECT k FROM apikey.key_list AS k WHERE k.id = $1", &p, AK_SPI_ANY);
	result = SPI_datumTransfer(ak_spi_value(0, 1, &isnull), false, -1);
	SPI_finish();
	return result;
}
