/*-------------------------------------------------------------------------
 *
 * scopemap.c
 *	  What a request needs: apikey.scope_map maps a method and a LIKE
 *	  pattern on the request's path to a scope, whether the endpoint is
 *	  public (no key needed) and whether its requests must be signed; the
 *	  matching row with the highest priority wins, then the longest pattern.
 *
 * The map is read into backend memory and kept until a change to the
 * table commits: a trigger on it queues a relcache invalidation of the
 * table, which every backend receives at its next transaction (and a
 * standby when it replays the commit).
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation_d.h"
#include "core/util.h"
#include "postgrest/scopemap.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

typedef struct AkScopeRule
{
	char	   *method;			/* upper case, or "*" */
	text	   *pattern;		/* LIKE pattern on request.path */
	text	   *scope;			/* NULL: none */
	int32		priority;
	bool		public;
	bool		require_signature;
} AkScopeRule;

static MemoryContext ak_rules_cxt = NULL;
static AkScopeRule *ak_rules = NULL;
static int	ak_nrules = 0;
static bool ak_rules_valid = false;
static uint64 ak_rules_invals = 0;	/* invalidations received */
static Oid	ak_scope_map_relid = InvalidOid;

static void
ak_scope_map_inval(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == ak_scope_map_relid)
	{
		ak_rules_valid = false;
		ak_rules_invals++;
	}
}

/*
 * Highest priority first, then the longest (most specific) pattern, then a
 * named method before "*"; the table's key makes the order total.
 */
static int
ak_rule_cmp(const void *a, const void *b)
{
	const AkScopeRule *x = a;
	const AkScopeRule *y = b;
	bool		x_any = strcmp(x->method, "*") == 0;
	bool		y_any = strcmp(y->method, "*") == 0;

	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	if (VARSIZE_ANY_EXHDR(x->pattern) != VARSIZE_ANY_EXHDR(y->pattern))
		return VARSIZE_ANY_EXHDR(x->pattern) > VARSIZE_ANY_EXHDR(y->pattern) ? -1 : 1;
	if (x_any != y_any)
		return x_any ? 1 : -1;
	return strcmp(x->method, y->method);
}

/*
 * Reads apikey.scope_map straight from the heap: the caller may be a role
 * that cannot read the table (anon), and the rules are not secret to the
 * extension.  The latest snapshot is taken after the lock, which processed
 * every invalidation sent before it: a change committed later sends one
 * that makes the rules stale again.  The rules count as read only once the
 * whole scan is done: an error half-way leaves them stale, never partial.
 */
/* Appends a row of the map to the rules.  In ak_rules_cxt. */
static void
ak_scope_rule_add(HeapTuple tuple, TupleDesc desc, const AttrNumber *cols,
				  int *size)
{
	bool		nulls[6] = {true, true, true, true, true, true};
	Datum		values[6];
	AkScopeRule *rule;

	for (int i = 0; i < 6; i++)
		if (cols[i] != InvalidAttrNumber)
			values[i] = heap_getattr(tuple, cols[i], desc, &nulls[i]);
	if (nulls[0] || nulls[1])
		return;
	if (ak_nrules == *size)
	{
		*size *= 2;
		ak_rules = repalloc(ak_rules, *size * sizeof(AkScopeRule));
	}
	rule = &ak_rules[ak_nrules++];
	rule->method = TextDatumGetCString(values[0]);
	rule->pattern = DatumGetTextPCopy(values[1]);
	rule->scope = nulls[2] ? NULL : DatumGetTextPCopy(values[2]);
	rule->priority = nulls[3] ? 0 : DatumGetInt32(values[3]);
	rule->require_signature = !nulls[4] && DatumGetBool(values[4]);
	rule->public = !nulls[5] && DatumGetBool(values[5]);
}

/* A column's number, or InvalidAttrNumber where the table lacks it. */
static AttrNumber
ak_attnum_if_any(TupleDesc desc, const char *name)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att->attnum;
	}
	return InvalidAttrNumber;
}

/* Reads every row of the map into ak_rules, with a fresh snapshot. */
static void
ak_scope_rules_read(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	AttrNumber	cols[6];
	int			size = 8;
	Snapshot	snapshot;
	TableScanDesc scan;
	HeapTuple	tuple;
	MemoryContext old;

	cols[0] = ak_attnum(desc, "method");
	cols[1] = ak_attnum(desc, "path_pattern");
	cols[2] = ak_attnum(desc, "scope");
	cols[3] = ak_attnum(desc, "priority");
	/* not in a schema installed before 0.2.0: ALTER EXTENSION UPDATE adds them */
	cols[4] = ak_attnum_if_any(desc, "require_signature");
	cols[5] = ak_attnum_if_any(desc, "public");

	old = MemoryContextSwitchTo(ak_rules_cxt);
	ak_rules = palloc(size * sizeof(AkScopeRule));
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(rel, snapshot, 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
		ak_scope_rule_add(tuple, desc, cols, &size);
	table_endscan(scan);
	UnregisterSnapshot(snapshot);
	MemoryContextSwitchTo(old);
}

static void
ak_scope_map_load(void)
{
	Oid			nsp = get_namespace_oid(AK_SCHEMA, true);
	Relation	rel;
	uint64		invals;

	ak_rules_valid = false;
	if (ak_rules_cxt == NULL)
	{
		ak_rules_cxt = AllocSetContextCreate(CacheMemoryContext, "apikey scope map",
											 ALLOCSET_SMALL_SIZES);
		CacheRegisterRelcacheCallback(ak_scope_map_inval, (Datum) 0);
	}
	MemoryContextReset(ak_rules_cxt);
	ak_rules = NULL;
	ak_nrules = 0;

	ak_scope_map_relid = OidIsValid(nsp) ? get_relname_relid("scope_map", nsp) : InvalidOid;
	if (!OidIsValid(ak_scope_map_relid))
		return;					/* not installed here: no rules */

	rel = table_open(ak_scope_map_relid, AccessShareLock);
	invals = ak_rules_invals;
	ak_scope_rules_read(rel);
	table_close(rel, AccessShareLock);

	qsort(ak_rules, ak_nrules, sizeof(AkScopeRule), ak_rule_cmp);
	ak_rules_valid = (ak_rules_invals == invals);
}

/*
 * What the request needs: the first matching rule's scope, whether it is
 * public and whether it must be signed; no scope, not public, unsigned when
 * no rule matches (or there is no method: not a request).  An empty method
 * matches "*" rules only.
 */
void
ak_endpoint_rule(const char *method, const char *path, AkEndpointRule *out)
{
	text	   *path_text;

	out->scope = NULL;
	out->public = false;
	out->require_signature = false;
	if (!ak_rules_valid)
		ak_scope_map_load();
	if (ak_nrules == 0 || method == NULL)
		return;

	path_text = cstring_to_text(path ? path : "");
	for (int i = 0; i < ak_nrules; i++)
	{
		const AkScopeRule *rule = &ak_rules[i];

		if (strcmp(rule->method, "*") != 0 && pg_strcasecmp(rule->method, method) != 0)
			continue;
		if (DatumGetBool(DirectFunctionCall2Coll(textlike, C_COLLATION_OID,
												 PointerGetDatum(path_text),
												 PointerGetDatum(rule->pattern))))
		{
			out->scope = rule->scope;
			out->public = rule->public;
			out->require_signature = rule->require_signature;
			return;
		}
	}
}

/*
 * A change to apikey.scope_map (relid) is committing: every backend
 * re-reads the map once it has.
 */
void
ak_scope_map_changed(Oid relid)
{
	CacheInvalidateRelcacheByRelid(relid);
}
