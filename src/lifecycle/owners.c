/*-------------------------------------------------------------------------
 *
 * owners.c
 *	  Owner limits (doc/apikey.md, "Owner limits"): set_owner_limits(),
 *	  which admins call, and max_keys, which issue() applies to owners who
 *	  issue keys themselves.
 *
 * An owner's rate limits, quotas and concurrency limit are debited with
 * each of its keys' own (limit/steps.c): an owner's capacity no longer
 * grows with its number of keys.  The limits are stored in
 * apikey.owner_limits and cached with every key of the owner; a change
 * empties the verification caches when it commits (its trigger).
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
#include "lifecycle/owners.h"
#include "lifecycle/validate.h"
#include "utils/builtins.h"

/* The fields of a limits object, in the order of the statement's parameters. */
enum
{
	O_RATE_LIMITS, O_DAILY, O_MONTHLY, O_CONCURRENCY, O_MAX_KEYS, O_NUM_FIELDS
};

static const struct
{
	const char *name;
	Oid			type;
	int64		min;
	int64		max;
}			ak_owner_fields[O_NUM_FIELDS] = {
	[O_RATE_LIMITS] = {"rate_limits", JSONBOID, 0, 0},
	[O_DAILY] = {"daily_quota", INT8OID, 0, PG_INT64_MAX},
	[O_MONTHLY] = {"monthly_quota", INT8OID, 0, PG_INT64_MAX},
	[O_CONCURRENCY] = {"max_concurrency", INT4OID, 1, PG_INT32_MAX},
	[O_MAX_KEYS] = {"max_keys", INT4OID, 0, PG_INT32_MAX},
};

/* The limits of a call, validated: values[f], nulls[f]. */
typedef struct AkOwnerFields
{
	Datum		values[O_NUM_FIELDS];
	bool		nulls[O_NUM_FIELDS];
	bool		any;
} AkOwnerFields;

static int
ak_owner_field(const char *name, int len)
{
	for (int f = 0; f < O_NUM_FIELDS; f++)
		if ((int) strlen(ak_owner_fields[f].name) == len &&
			memcmp(ak_owner_fields[f].name, name, len) == 0)
			return f;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown key \"%.*s\" in limits", len, name),
			 errdetail("The keys of owner limits are rate_limits, daily_quota, monthly_quota, max_concurrency and max_keys.")));
	return -1;					/* keep compiler quiet */
}

/* One field's value, validated; null for JSON null. */
static void
ak_owner_value(int f, JsonbValue *v, AkOwnerFields *out)
{
	const char *name = ak_owner_fields[f].name;
	int64		value;

	out->nulls[f] = (v->type == jbvNull);
	if (out->nulls[f])
		return;
	if (f == O_RATE_LIMITS)
	{
		Jsonb	   *limits = JsonbValueToJsonb(v);

		ak_validate_rate_limits(limits);
		out->values[f] = JsonbPGetDatum(limits);
		return;
	}
	if (!ak_jsonb_integer(v, ak_owner_fields[f].min, ak_owner_fields[f].max, &value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s: it must be a whole number between " INT64_FORMAT " and " INT64_FORMAT,
						name, ak_owner_fields[f].min, ak_owner_fields[f].max),
				 errdetail("Use null for no %s.", name)));
	out->values[f] = ak_owner_fields[f].type == INT8OID
		? Int64GetDatum(value) : Int32GetDatum((int32) value);
}

/* Reads and validates a limits object; nothing is written before. */
static void
ak_read_owner_fields(Jsonb *limits, AkOwnerFields *out)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;

	for (int f = 0; f < O_NUM_FIELDS; f++)
		out->nulls[f] = true;
	out->any = false;
	if (limits == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(limits))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid limits: it must be a JSON object"),
				 errdetail("For example {\"rate_limits\": [{\"limit\": 100, \"period\": \"1 minute\"}], \"max_keys\": 10}.")));
	it = JsonbIteratorInit(&limits->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		int			f;

		if (tok != WJB_KEY)
			continue;
		f = ak_owner_field(v.val.string.val, v.val.string.len);
		if (JsonbIteratorNext(&it, &v, true) != WJB_VALUE)
			elog(ERROR, "unexpected jsonb token in limits");
		ak_owner_value(f, &v, out);
		out->any |= !out->nulls[f];
	}
}

static void
ak_require_admin_for_owner_limits(void)
{
	if (!ak_caller_is_admin())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to set owner limits"),
				 errdetail("Only members of apikey_admin may set the limits an owner's keys share.")));
}

/* Writes the limits (or removes them); true if the owner now has a row. */
static bool
ak_write_owner_limits(text *owner, const AkOwnerFields *f)
{
	AkParams	p = {0};

	ak_param_ptr(&p, TEXTOID, owner);
	if (!f->any)
	{
		ak_spi_exec("DELETE FROM apikey.owner_limits WHERE owner = $1", &p, AK_SPI_ANY);
		return false;
	}
	for (int i = 0; i < O_NUM_FIELDS; i++)
		ak_param(&p, ak_owner_fields[i].type, f->values[i], f->nulls[i]);
	ak_spi_exec("INSERT INTO apikey.owner_limits AS o"
				" (owner, rate_limits, daily_quota, monthly_quota, max_concurrency, max_keys)"
				" VALUES ($1, coalesce($2, '[]'), $3, $4, $5, $6)"
				" ON CONFLICT (owner) DO UPDATE SET rate_limits = EXCLUDED.rate_limits,"
				"  daily_quota = EXCLUDED.daily_quota, monthly_quota = EXCLUDED.monthly_quota,"
				"  max_concurrency = EXCLUDED.max_concurrency, max_keys = EXCLUDED.max_keys,"
				"  updated_at = now()", &p, AK_SPI_ANY);
	return true;
}

/*
 * set_owner_limits(owner, limits): replaces the limits every key of owner
 * shares with those of the object (NULL or {}: none).  Returns the row,
 * or NULL when there is none any more.
 */
bool
ak_set_owner_limits(text *owner, Jsonb *limits, Datum *row)
{
	AkOwnerFields fields;
	AkParams	p = {0};
	AkJsonObject detail = {0};
	bool		isnull = true;

	ak_require_admin_for_owner_limits();
	ak_validate_required(owner, "owner",
						 "The owner is the one whose keys share the limits, as keys.owner names it.");
	ak_read_owner_fields(limits, &fields);

	SPI_connect();
	(void) ak_write_owner_limits(owner, &fields);
	ak_json_add_raw(&detail, "limits", limits && fields.any
					? JsonbToCString(NULL, &limits->root, VARSIZE(limits)) : NULL);
	ak_audit("owner_limits", NULL, owner, ak_json_finish(&detail));

	ak_param_ptr(&p, TEXTOID, owner);
	if (ak_spi_exec("SELECT o FROM apikey.owner_limits AS o WHERE o.owner = $1",
					&p, AK_SPI_ANY) == 1)
		*row = SPI_datumTransfer(ak_spi_value(0, 1, &isnull), false, -1);
	SPI_finish();
	return !isnull;
}

