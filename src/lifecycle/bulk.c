/*-------------------------------------------------------------------------
 *
 * bulk.c
 *	  issue_bulk(): many keys in one call (doc/apikey.md, "issue_bulk,
 *	  revoke_bulk, update_bulk").
 *
 * The keys and audit rows are those issue() would write, one by one, but
 * written set-based: every element of the specs is read and checked first,
 * as issue() checks its arguments, so that a bad element changes nothing;
 * then the keys go in by batches of AK_BULK_BATCH, one INSERT for the keys
 * and one for their "issued" audit rows per batch.  Loading a million keys
 * is then a matter of seconds, not of a million calls of issue().
 *
 * Callers who are not admins may issue at most AK_BULK_OWNER_LIMIT keys per
 * call, for themselves, as before; admins have no limit.  The specs are
 * read twice, once to check them and once per batch to write them, so that
 * memory holds one batch, not the whole call.
 *
 * Tokens exist only in the batch being written and in the rows handed to
 * the caller's emit function, and are wiped from the batch once handed.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include <sodium.h>

#include "auth/identity.h"
#include "catalog/pg_type_d.h"
#include "core/spi.h"
#include "executor/spi.h"
#include "lifecycle/audit.h"
#include "lifecycle/bulk.h"
#include "lifecycle/keys.h"
#include "lifecycle/validate.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/* keys per call for callers who are not admins */
#define AK_BULK_OWNER_LIMIT		100
/* keys per INSERT */
#define AK_BULK_BATCH			1000
/* new tokens drawn for a key whose display prefix is taken, at most */
#define AK_BULK_ATTEMPTS		10

/* the keys of a spec: issue()'s arguments */
static const char *const ak_spec_keys[] = {
	"owner", "name", "scopes", "tier", "expires_at", "allowed_ips",
	"metadata", "prefix", "org", "rate_limits", "max_uses"
};

/* the columns of the INSERT into apikey.keys, $1 to $12 */
static const Oid ak_bulk_key_columns[] = {
	TEXTOID,					/* display prefix */
	BYTEAOID,					/* digest */
	TEXTOID,					/* owner */
	TEXTOID,					/* org */
	TEXTOID,					/* name */
	TEXTOID,					/* scopes, as an array literal */
	TEXTOID,					/* tier */
	TIMESTAMPTZOID,				/* expires_at */
	TEXTOID,					/* allowed_ips, as an array literal */
	JSONBOID,					/* metadata */
	JSONBOID,					/* rate_limits */
	INT8OID						/* max_uses */
};

/* One batch of keys being issued. */
typedef struct AkBulkBatch
{
	int			n;
	int			first;			/* element number of the first, from 1 */
	AkIssueArgs *args;
	AkNewKey   *keys;
	bytea	  **digests;
	HTAB	   *by_prefix;		/* display prefix -> index, to match RETURNING */
} AkBulkBatch;

typedef struct AkPrefixEntry
{
	char		prefix[AK_DISPLAY_MAX_LEN + 1];
	int			index;
} AkPrefixEntry;


/* ---- reading a spec as issue_bulk()'s SQL form read it ---- */

static void
ak_bad_specs(const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid specs: %s", problem)));
}

/* spec->key, or false when absent or JSON null */
static bool
ak_spec_get(JsonbContainer *spec, const char *key, JsonbValue *out)
{
	JsonbValue *v = getKeyJsonValueFromContainer(spec, key, strlen(key), out);

	return v != NULL && v->type != jbvNull;
}

/* A JSON value as ->> gives it: a string unquoted, anything else as JSON. */
static char *
ak_json_value_text(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		case jbvBinary:
			return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
		default:
			return NULL;
	}
}

/* spec->>key */
static text *
ak_spec_text(JsonbContainer *spec, const char *key, const char *absent)
{
	JsonbValue	v;

	if (!ak_spec_get(spec, key, &v))
		return absent ? cstring_to_text(absent) : NULL;
	return cstring_to_text(ak_json_value_text(&v));
}

/* spec->key as jsonb */
static Jsonb *
ak_spec_jsonb(JsonbContainer *spec, const char *key)
{
	JsonbValue	v;

	if (!ak_spec_get(spec, key, &v))
		return NULL;
	return JsonbValueToJsonb(&v);
}

/*
 * The elements of spec->key as an array of elemtype, each read by its
 * type's input function: array_agg(jsonb_array_elements_text(...)::type),
 * so NULL for an absent, null or empty array.
 */
static ArrayType *
ak_spec_array(JsonbContainer *spec, const char *key, Oid elemtype,
			  PGFunction input)
{
	JsonbValue	v;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	Datum	   *values;
	bool	   *nulls;
	int			n = 0;
	int			max;
	Oid			argtype;

	if (!ak_spec_get(spec, key, &v))
		return NULL;
	if (v.type != jbvBinary || JsonContainerIsScalar(v.val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot extract elements from a scalar")));
	if (JsonContainerIsObject(v.val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot extract elements from an object")));
	max = JsonContainerSize(v.val.binary.data);
	if (max == 0)
		return NULL;
	values = palloc(max * sizeof(Datum));
	nulls = palloc(max * sizeof(bool));
	it = JsonbIteratorInit(v.val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *s;

		if (tok != WJB_ELEM)
			continue;
		s = ak_json_value_text(&v);
		nulls[n] = (s == NULL);
		values[n] = s == NULL ? (Datum) 0
			: input == NULL ? CStringGetTextDatum(s)
			: DirectFunctionCall1(input, CStringGetDatum(s));
		n++;
	}
	return DatumGetArrayTypeP(ak_array_datum(values, nulls, n, elemtype, &argtype));
}

/* expires_at: (spec->>'expires_at')::timestamptz */
static void
ak_spec_expires_at(JsonbContainer *spec, AkIssueArgs *a)
{
	text	   *t = ak_spec_text(spec, "expires_at", NULL);

	a->has_expiry = t != NULL;
	a->expires_at = t == NULL ? 0
		: DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
												  CStringGetDatum(text_to_cstring(t)),
												  ObjectIdGetDatum(InvalidOid),
												  Int32GetDatum(-1)));
}

/* max_uses: (spec->>'max_uses')::bigint */
static int64 *
ak_spec_max_uses(JsonbContainer *spec)
{
	text	   *t = ak_spec_text(spec, "max_uses", NULL);
	int64	   *max_uses;

	if (t == NULL)
		return NULL;
	max_uses = palloc(sizeof(int64));
	*max_uses = DatumGetInt64(DirectFunctionCall1(int8in, CStringGetDatum(text_to_cstring(t))));
	return max_uses;
}

/* issue()'s arguments from a spec, in the order of its parameters. */
static void
ak_spec_args(JsonbContainer *spec, AkIssueArgs *a)
{
	a->owner = ak_spec_text(spec, "owner", NULL);
	a->name = ak_spec_text(spec, "name", NULL);
	a->scopes = ak_spec_array(spec, "scopes", TEXTOID, NULL);
	a->tier = ak_spec_text(spec, "tier", AK_SELF_SERVICE_TIER);
	ak_spec_expires_at(spec, a);
	a->allowed_ips = ak_spec_array(spec, "allowed_ips", CIDROID, cidr_in);
	a->metadata = ak_spec_jsonb(spec, "metadata");
	a->prefix = ak_spec_text(spec, "prefix", AK_DEFAULT_PREFIX);
	a->org = ak_spec_text(spec, "org", NULL);
	a->rate_limits = ak_spec_jsonb(spec, "rate_limits");
	a->max_uses = ak_spec_max_uses(spec);
}

/* Element n (from 1) of specs must be an object of issue()'s arguments. */
static void
ak_spec_check_shape(JsonbValue *elem, int n)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	char	   *unknown = NULL;

	if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
		ak_bad_specs(psprintf("element %d is not a JSON object", n));

	it = JsonbIteratorInit(elem->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		bool		known = false;
		char	   *key;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		for (int i = 0; i < lengthof(ak_spec_keys) && !known; i++)
			known = strcmp(key, ak_spec_keys[i]) == 0;
		if (!known && (unknown == NULL || strcmp(key, unknown) < 0))
			unknown = key;
	}
	if (unknown)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown key \"%s\" in element %d of specs", unknown, n),
				 errhint("The keys are issue()'s arguments: owner, name, scopes, tier, expires_at, allowed_ips, metadata, prefix, org, rate_limits, max_uses.")));
}


/* ---- checking every spec before anything is written ---- */

/* Whether tier was found in apikey.tiers already in this call. */
static bool
ak_tier_known(List *known, text *tier)
{
	ListCell   *lc;

	foreach(lc, known)
		if (VARSIZE_ANY_EXHDR(tier) == VARSIZE_ANY_EXHDR(lfirst(lc)) &&
			memcmp(VARDATA_ANY(tier), VARDATA_ANY(lfirst(lc)), VARSIZE_ANY_EXHDR(tier)) == 0)
			return true;
	return false;
}

/* The keys a call issues for one owner, for the owner's key limit. */
typedef struct AkOwnerCount
{
	text	   *owner;
	int64		count;
} AkOwnerCount;

/* Counts one more key for owner in counts (allocated in keep). */
static List *
ak_count_owner(List *counts, text *owner, MemoryContext keep)
{
	ListCell   *lc;
	AkOwnerCount *c;
	MemoryContext old;

	foreach(lc, counts)
	{
		c = lfirst(lc);
		if (VARSIZE_ANY_EXHDR(owner) == VARSIZE_ANY_EXHDR(c->owner) &&
			memcmp(VARDATA_ANY(owner), VARDATA_ANY(c->owner), VARSIZE_ANY_EXHDR(owner)) == 0)
		{
			c->count++;
			return counts;
		}
	}
	old = MemoryContextSwitchTo(keep);
	c = palloc(sizeof(AkOwnerCount));
	c->owner = DatumGetTextPCopy(PointerGetDatum(owner));
	c->count = 1;
	counts = lappend(counts, c);
	MemoryContextSwitchTo(old);
	return counts;
}

/* What checking the specs learns as it goes, allocated in keep. */
typedef struct AkSpecsSeen
{
	MemoryContext keep;
	List	   *known_tiers;	/* tiers known to exist */
	List	   *owners;			/* AkOwnerCount: not for admins */
} AkSpecsSeen;

/*
 * Checks element n as issue() checks its arguments; an error says which
 * element it is about in its detail ("In element 3 of specs.").  Tier
 * lookups are the only statements it runs, once per tier.
 */
static void
ak_spec_validate(JsonbContainer *spec, int n, AkSpecsSeen *seen)
{
	MemoryContext ctx = CurrentMemoryContext;

	PG_TRY();
	{
		AkIssueArgs a;

		ak_spec_args(spec, &a);
		ak_key_validate_issue(&a);
		if (!ak_tier_known(seen->known_tiers, a.tier))
		{
			MemoryContext old;

			ak_validate_tier(a.tier);
			old = MemoryContextSwitchTo(seen->keep);
			seen->known_tiers = lappend(seen->known_tiers,
										DatumGetTextPCopy(PointerGetDatum(a.tier)));
			MemoryContextSwitchTo(old);
		}
		if (!ak_caller_is_admin())
			seen->owners = ak_count_owner(seen->owners, a.owner, seen->keep);
	}
	PG_CATCH();
	{
		ErrorData  *e;

		MemoryContextSwitchTo(ctx);
		e = CopyErrorData();
		FlushErrorState();
		e->detail = (e->detail && e->detail[0])
			? psprintf("%s In element %d of specs.", e->detail, n)
			: psprintf("In element %d of specs.", n);
		ReThrowError(e);
	}
	PG_END_TRY();
}

static void
ak_bulk_check_limit(int n)
{
	if (n > AK_BULK_OWNER_LIMIT && !ak_caller_is_admin())
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many keys for apikey.issue_bulk: %d", n),
				 errdetail("At most %d keys per call.", AK_BULK_OWNER_LIMIT),
				 errhint("Split the work into several calls, in one transaction if it must be all or nothing; members of apikey_admin have no limit.")));
}

/*
 * Checks every element, then each owner's key limit for all the keys asked
 * for it (issue() would have checked it key by key); each element is then
 * read again when its batch is written.  Requires an SPI connection.
 */
static void
ak_specs_validate(Jsonb *specs)
{
	MemoryContext per_spec = AllocSetContextCreate(CurrentMemoryContext,
												   "apikey issue_bulk check",
												   ALLOCSET_DEFAULT_SIZES);
	JsonbIterator *it = JsonbIteratorInit(&specs->root);	/* not in per_spec */
	MemoryContext old = MemoryContextSwitchTo(per_spec);
	AkSpecsSeen seen = {old, NIL, NIL};
	ListCell   *lc;
	JsonbIteratorToken tok;
	JsonbValue	v;
	int			n = 0;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		n++;
		ak_spec_check_shape(&v, n);
		ak_spec_validate(v.val.binary.data, n, &seen);
		MemoryContextReset(per_spec);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(per_spec);
	foreach(lc, seen.owners)
	{
		AkOwnerCount *c = lfirst(lc);

		ak_validate_owner_key_count(c->owner, c->count);
	}
}


/* ---- writing a batch ---- */

static HTAB *
ak_prefix_table(int n)
{
	HASHCTL		ctl = {0};

	ctl.keysize = AK_DISPLAY_MAX_LEN + 1;
	ctl.entrysize = sizeof(AkPrefixEntry);
	ctl.hcxt = CurrentMemoryContext;
	return hash_create("apikey issue_bulk prefixes", n, &ctl,
					   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

/*
 * Draws key i's token, again until its display prefix differs from the
 * others of the batch (the INSERT skips a row whose prefix is taken).
 */
static void
ak_batch_draw(AkBulkBatch *b, int i)
{
	const char *prefix = VARDATA_ANY(b->args[i].prefix);
	size_t		len = VARSIZE_ANY_EXHDR(b->args[i].prefix);

	for (;;)
	{
		AkPrefixEntry *e;
		bool		found;

		b->digests[i] = ak_new_token(prefix, len, &b->keys[i]);
		e = hash_search(b->by_prefix, b->keys[i].display_prefix, HASH_ENTER, &found);
		if (!found)
		{
			e->index = i;
			return;
		}
		sodium_memzero(b->keys[i].token, sizeof(b->keys[i].token));
	}
}

/* An array's literal, the way the INSERT receives scopes and allowed_ips */
static void
ak_column_set_array(AkColumns *c, int col, int row, ArrayType *a)
{
	if (a == NULL)
		ak_column_set_null(c, col, row);
	else
		ak_column_set(c, col, row,
					  CStringGetTextDatum(DatumGetCString(OidFunctionCall1(F_ARRAY_OUT,
																		   PointerGetDatum(a)))));
}

static void
ak_column_set_ptr(AkColumns *c, int col, int row, void *ptr)
{
	if (ptr == NULL)
		ak_column_set_null(c, col, row);
	else
		ak_column_set(c, col, row, PointerGetDatum(ptr));
}

/* The columns of the keys rows[0..n) of the batch. */
static void
ak_batch_columns(AkBulkBatch *b, const int *rows, int n, AkColumns *c)
{
	ak_columns_init(c, ak_bulk_key_columns, lengthof(ak_bulk_key_columns), n, true);
	for (int r = 0; r < n; r++)
	{
		AkIssueArgs *a = &b->args[rows[r]];

		ak_column_set(c, 0, r, CStringGetTextDatum(b->keys[rows[r]].display_prefix));
		ak_column_set(c, 1, r, PointerGetDatum(b->digests[rows[r]]));
		ak_column_set_ptr(c, 2, r, a->owner);
		ak_column_set_ptr(c, 3, r, a->org);
		ak_column_set_ptr(c, 4, r, a->name);
		ak_column_set_array(c, 5, r, a->scopes);
		ak_column_set_ptr(c, 6, r, a->tier);
		if (a->has_expiry)
			ak_column_set(c, 7, r, TimestampTzGetDatum(a->expires_at));
		ak_column_set_array(c, 8, r, a->allowed_ips);
		ak_column_set_ptr(c, 9, r, a->metadata);
		ak_column_set_ptr(c, 10, r, a->rate_limits);
		if (a->max_uses)
			ak_column_set(c, 11, r, Int64GetDatum(*a->max_uses));
		else
			ak_column_set_null(c, 11, r);
	}
}

/*
 * Inserts the keys rows[0..n) of the batch; the ids of those inserted go
 * into their AkNewKey.  Returns how many were skipped because their display
 * prefix was taken (they are moved to the front of rows).  The columns are
 * unnested in the select list, where rows stream (in FROM they would be
 * stored first, on disk past work_mem).
 */
static int
ak_batch_insert(AkBulkBatch *b, int *rows, int n)
{
	AkColumns	c;
	AkParams	p = {0};
	uint64		inserted;
	int			skipped = 0;
	bool	   *done = palloc0(b->n * sizeof(bool));

	ak_batch_columns(b, rows, n, &c);
	ak_columns_params(&c, &p);
	/* a new key starts its own lineage: its id */
	inserted = ak_spi_exec("INSERT INTO apikey.keys"
						   " (id, lineage, prefix, key_hash, owner, org, name, scopes, tier,"
						   "  expires_at, allowed_ips, metadata, rate_limits, max_uses)"
						   " SELECT u.id, u.id, u.prefix, u.key_hash, u.owner, u.org, u.name,"
						   "  coalesce(u.scopes::text[], '{}'), u.tier, u.expires_at,"
						   "  u.allowed_ips::cidr[], coalesce(u.metadata, '{}'), u.rate_limits,"
						   "  u.max_uses"
						   " FROM (SELECT gen_random_uuid() AS id,"
						   "  unnest($1) AS prefix, unnest($2) AS key_hash,"
						   "  unnest($3) AS owner, unnest($4) AS org, unnest($5) AS name,"
						   "  unnest($6) AS scopes, unnest($7) AS tier,"
						   "  unnest($8) AS expires_at, unnest($9) AS allowed_ips,"
						   "  unnest($10) AS metadata, unnest($11) AS rate_limits,"
						   "  unnest($12) AS max_uses) AS u"
						   " ON CONFLICT (prefix) DO NOTHING RETURNING prefix, id",
						   &p, AK_SPI_ANY);
	for (uint64 r = 0; r < inserted; r++)
	{
		bool		isnull;
		char	   *prefix = TextDatumGetCString(ak_spi_value(r, 1, &isnull));
		AkPrefixEntry *e = hash_search(b->by_prefix, prefix, HASH_FIND, NULL);

		Assert(e != NULL);
		memcpy(&b->keys[e->index].id, DatumGetUUIDP(ak_spi_value(r, 2, &isnull)),
			   sizeof(pg_uuid_t));
		done[e->index] = true;
	}
	for (int r = 0; r < n; r++)
		if (!done[rows[r]])
			rows[skipped++] = rows[r];
	SPI_freetuptable(SPI_tuptable);
	return skipped;
}

/*
 * Inserts every key of the batch, drawing new tokens for those whose
 * display prefix another key has (a 1 in 62^8 event per pair of keys).
 */
static void
ak_batch_insert_all(AkBulkBatch *b)
{
	int		   *rows = palloc(b->n * sizeof(int));
	int			n = b->n;

	for (int i = 0; i < b->n; i++)
	{
		rows[i] = i;
		ak_batch_draw(b, i);
	}
	for (int attempt = 0; (n = ak_batch_insert(b, rows, n)) > 0; attempt++)
	{
		if (attempt + 1 >= AK_BULK_ATTEMPTS)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("could not generate a unique display prefix")));
		for (int r = 0; r < n; r++)
		{
			sodium_memzero(b->keys[rows[r]].token, sizeof(b->keys[rows[r]].token));
			ak_batch_draw(b, rows[r]);
		}
	}
}

/* One "issued" audit row per key of the batch, as issue() writes it. */
static void
ak_batch_audit(AkBulkBatch *b)
{
	pg_uuid_t  *ids = palloc(b->n * sizeof(pg_uuid_t));
	text	  **owners = palloc(b->n * sizeof(text *));
	char	  **details = palloc(b->n * sizeof(char *));

	for (int i = 0; i < b->n; i++)
	{
		ids[i] = b->keys[i].id;
		owners[i] = b->args[i].owner;
		details[i] = ak_key_issued_detail(&b->args[i], &b->keys[i]);
	}
	ak_audit_rows("issued", b->n, ids, owners, details);
}

/* Writes a batch and hands its keys, in order, to emit. */
static void
ak_batch_write(AkBulkBatch *b, AkNewKeyEmit emit, void *arg)
{
	b->keys = palloc0(b->n * sizeof(AkNewKey));
	b->digests = palloc(b->n * sizeof(bytea *));
	b->by_prefix = ak_prefix_table(b->n);
	PG_TRY();
	{
		ak_batch_insert_all(b);
		ak_batch_audit(b);
		for (int i = 0; i < b->n; i++)
		{
			emit(&b->keys[i], arg);
			sodium_memzero(b->keys[i].token, sizeof(b->keys[i].token));
		}
	}
	PG_FINALLY();
	{
		sodium_memzero(b->keys, b->n * sizeof(AkNewKey));
	}
	PG_END_TRY();
}

/*
 * issue_bulk(): a key for each element of specs, a JSON array of objects
 * whose keys are issue()'s arguments, handed to emit in order.  All or
 * nothing: it runs in the caller's transaction.
 */
void
ak_keys_issue_bulk(Jsonb *specs, AkNewKeyEmit emit, void *arg)
{
	MemoryContext per_batch;
	MemoryContext old;
	AkBulkBatch b = {0};
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	int			total;
	int			n = 0;

	if (specs == NULL || !JB_ROOT_IS_ARRAY(specs) || JB_ROOT_IS_SCALAR(specs))
		ak_bad_specs("it must be a JSON array of objects");
	total = JB_ROOT_COUNT(specs);
	ak_bulk_check_limit(total);

	SPI_connect();
	ak_specs_validate(specs);

	it = JsonbIteratorInit(&specs->root);	/* not in per_batch */
	per_batch = AllocSetContextCreate(CurrentMemoryContext, "apikey issue_bulk batch",
									  ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(per_batch);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (b.n == 0)
		{
			MemoryContextReset(per_batch);
			b.args = palloc(Min(total - n, AK_BULK_BATCH) * sizeof(AkIssueArgs));
		}
		ak_spec_args(v.val.binary.data, &b.args[b.n++]);
		if (++n == total || b.n == AK_BULK_BATCH)
		{
			ak_batch_write(&b, emit, arg);
			b.n = 0;
		}
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(per_batch);
	SPI_finish();
}
