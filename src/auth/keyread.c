/*-------------------------------------------------------------------------
 *
 * keyread.c
 *	  Reading a key: its row of apikey.keys, by the digest of its token or
 *	  by its id, what it takes from its tier in apikey.tiers, and the limits
 *	  of its owner in apikey.owner_limits, read through their indexes with a
 *	  fresh snapshot, bypassing the executor, and packed into one
 *	  allocation (AkKeyInfo).
 *
 * Counts a new shared counter starts from -- an owner's quotas, a key's
 * uses -- come from apikey.quota_counters, as the key's own quota counts
 * come from its row: what the worker last wrote.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "auth/keyread.h"
#include "auth/token.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation_d.h"
#include "catalog/pg_type_d.h"
#include "core/rowread.h"
#include "core/subject.h"
#include "core/util.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/* apikey.keys, apikey.tiers and apikey.owner_limits as last read */
static Oid	ak_keys_relid = InvalidOid;
static Oid	ak_tiers_relid = InvalidOid;
static Oid	ak_owners_relid = InvalidOid;

/*
 * The owners apikey.owner_limits has a row for, read once and kept until
 * the verification cache is emptied -- which every change to that table
 * does, in every backend (its trigger, keycache.c) -- so that reading a
 * key whose owner has no limits costs no index scan.
 */
static MemoryContext ak_owners_cxt = NULL;
static HTAB *ak_owners = NULL;	/* NULL: not read yet */

/*
 * AkKeyInfo is packed into one allocation: ak_pack() is called twice over
 * the same data, first with base == NULL to measure, then to copy.
 */
typedef struct AkPack
{
	char	   *base;
	Size		used;
} AkPack;

static void *
ak_pack(AkPack *pack, const void *src, Size len)
{
	void	   *dst = NULL;

	if (pack->base)
	{
		dst = pack->base + pack->used;
		if (src)
			memcpy(dst, src, len);
	}
	pack->used += MAXALIGN(len);
	return dst;
}

static void *
ak_pack_varlena(AkPack *pack, const void *src)
{
	return src ? ak_pack(pack, src, VARSIZE(src)) : NULL;
}

/* A key row, detoasted and decoded, before it is packed. */
typedef struct AkKeyRow
{
	AkKeyInfo	fixed;			/* the scalar fields */
	text	   *owner,
			   *org,
			   *name,
			   *tier;
	ArrayType  *scopes_array;
	Jsonb	   *metadata;
	int			nscopes;
	char	  **scopes;
	int			nallowed;
	Datum	   *allowed;
	int			nlimits;
	AkLimit		limits[AK_MAX_LIMITS];
	char	   *policy_header;
	char		display_prefix[AK_DISPLAY_MAX_LEN + 1];
	bool		has_owner_limits;
	AkOwnerLimits ofixed;		/* the owner's limits: the scalar fields */
	AkLimit		owner_limits[AK_MAX_LIMITS];
} AkKeyRow;

/* An owner's limits, after the key's hot data (NULL when it has none). */
static AkOwnerLimits *
ak_owner_pack(const AkKeyRow *row, AkPack *pack)
{
	const AkOwnerLimits *o = &row->ofixed;
	AkOwnerLimits *info;
	AkLimit    *limits;
	void	  **hints;
	char	   *policy;

	if (!row->has_owner_limits)
		return NULL;
	info = ak_pack(pack, o, sizeof(AkOwnerLimits));
	limits = ak_pack(pack, row->owner_limits, o->nlimits * sizeof(AkLimit));
	hints = ak_pack(pack, NULL, (o->nlimits + 1) * sizeof(void *));
	policy = o->policy_header
		? ak_pack(pack, o->policy_header, strlen(o->policy_header) + 1) : NULL;
	if (info)
	{
		info->limits = limits;
		info->cell_hints = hints;	/* zeroed: none known yet */
		info->policy_header = policy;
	}
	return info;
}

/* Hot data first: see AkKeyInfo. */
static void
ak_keyinfo_pack(const AkKeyRow *row, AkPack *pack)
{
	AkKeyInfo  *info = ak_pack(pack, &row->fixed, sizeof(AkKeyInfo));
	AkLimit    *limits = ak_pack(pack, row->limits, row->nlimits * sizeof(AkLimit));
	void	  **hints = ak_pack(pack, NULL, (row->nlimits + 2) * sizeof(void *));
	char	   *policy = row->policy_header
		? ak_pack(pack, row->policy_header, strlen(row->policy_header) + 1) : NULL;
	text	   *owner = ak_pack_varlena(pack, row->owner);
	text	   *tier = ak_pack_varlena(pack, row->tier);
	ArrayType  *scopes_array = ak_pack_varlena(pack, row->scopes_array);
	char	   *display = ak_pack(pack, row->display_prefix, strlen(row->display_prefix) + 1);
	text	   *org = ak_pack_varlena(pack, row->org);
	text	   *name = ak_pack_varlena(pack, row->name);
	Jsonb	   *metadata = ak_pack_varlena(pack, row->metadata);
	char	  **scopes = ak_pack(pack, NULL, row->nscopes * sizeof(char *));
	inet	  **allowed = ak_pack(pack, NULL, row->nallowed * sizeof(inet *));
	AkOwnerLimits *owner_limits = ak_owner_pack(row, pack);

	for (int i = 0; i < row->nscopes; i++)
	{
		char	   *s = ak_pack(pack, row->scopes[i], strlen(row->scopes[i]) + 1);

		if (info)
			scopes[i] = s;
	}
	for (int i = 0; i < row->nallowed; i++)
	{
		inet	   *ip = ak_pack_varlena(pack, DatumGetPointer(row->allowed[i]));

		if (info)
		{
			/* ::ffff:10.0.0.0/104 allows what 10.0.0.0/8 does */
			ak_inet_unmap(ip);
			allowed[i] = ip;
		}
	}

	if (info == NULL)
		return;
	info->nlimits = row->nlimits;
	info->limits = limits;
	info->owner_limits = owner_limits;
	info->cell_hints = hints;	/* zeroed: none known yet */
	info->policy_header = policy;
	info->owner = owner;
	info->tier = tier;
	info->scopes_array = scopes_array;
	info->nscopes = row->nscopes;
	info->display_prefix = display;
	info->org = org;
	info->name = name;
	info->metadata = metadata;
	info->scopes = scopes;
	info->nallowed = row->nallowed;
	info->allowed = allowed;
}

/* Columns of apikey.keys that verification reads, by attribute number. */
typedef struct AkKeysColumns
{
	Oid			relid;
	AttrNumber	id,
				lineage,
				prefix,
				key_hash,
				owner,
				org,
				name,
				scopes,
				tier,
				rate_limits,
				daily_quota,
				monthly_quota,
				max_concurrency,
				allowed_ips,
				metadata,
				expires_at,
				revoked_at,
				rotated_to,
				disabled_at,
				max_uses,
				priority;
} AkKeysColumns;

static const AkKeysColumns *
ak_keys_columns(Relation rel)
{
	static AkKeysColumns cols;
	TupleDesc	desc = RelationGetDescr(rel);

	if (cols.relid == RelationGetRelid(rel))
		return &cols;

	cols.id = ak_attnum(desc, "id");
	cols.lineage = ak_attnum(desc, "lineage");
	cols.prefix = ak_attnum(desc, "prefix");
	cols.key_hash = ak_attnum(desc, "key_hash");
	cols.owner = ak_attnum(desc, "owner");
	cols.org = ak_attnum(desc, "org");
	cols.name = ak_attnum(desc, "name");
	cols.scopes = ak_attnum(desc, "scopes");
	cols.tier = ak_attnum(desc, "tier");
	cols.rate_limits = ak_attnum(desc, "rate_limits");
	cols.daily_quota = ak_attnum(desc, "daily_quota");
	cols.monthly_quota = ak_attnum(desc, "monthly_quota");
	cols.max_concurrency = ak_attnum(desc, "max_concurrency");
	cols.allowed_ips = ak_attnum(desc, "allowed_ips");
	cols.metadata = ak_attnum(desc, "metadata");
	cols.expires_at = ak_attnum(desc, "expires_at");
	cols.revoked_at = ak_attnum(desc, "revoked_at");
	cols.rotated_to = ak_attnum(desc, "rotated_to");
	cols.disabled_at = ak_attnum(desc, "disabled_at");
	cols.max_uses = ak_attnum(desc, "max_uses");
	cols.priority = ak_attnum(desc, "priority");
	cols.relid = RelationGetRelid(rel);
	return &cols;
}

static Datum
ak_getattr(HeapTuple tuple, Relation rel, AttrNumber attnum, bool *isnull)
{
	return heap_getattr(tuple, attnum, RelationGetDescr(rel), isnull);
}

/*
 * A key row's columns, deformed once: a key row is read column by column,
 * and most of its columns follow variable-length ones.
 */
typedef struct AkRowValues
{
	Datum	   *values;
	bool	   *nulls;
} AkRowValues;

static void
ak_row_deform(AkRowValues *rv, HeapTuple tuple, Relation rel)
{
	int			natts = RelationGetDescr(rel)->natts;

	rv->values = palloc(natts * sizeof(Datum));
	rv->nulls = palloc(natts * sizeof(bool));
	heap_deform_tuple(tuple, RelationGetDescr(rel), rv->values, rv->nulls);
}

static inline Datum
ak_value(const AkRowValues *rv, AttrNumber attnum, bool *isnull)
{
	*isnull = rv->nulls[attnum - 1];
	return rv->values[attnum - 1];
}

static text *
ak_value_text(const AkRowValues *rv, AttrNumber attnum)
{
	return rv->nulls[attnum - 1] ? NULL : DatumGetTextPCopy(rv->values[attnum - 1]);
}

static const char *const ak_quota_columns[AK_NUM_PERIODS] = {"daily_quota", "monthly_quota"};

/*
 * Reads the limits, quotas, concurrency and priority of a tier into row
 * where the key has none of its own.
 */
static void
ak_fill_from_tier(AkKeyRow *row, bool need_limits, Oid nsp, Snapshot snapshot)
{
	Relation	rel;
	HeapTuple	tuple;
	bool		isnull;
	Datum		d;

	rel = table_open(ak_tiers_relid, AccessShareLock);
	tuple = ak_fetch_one(rel, ak_relation_oid(nsp, "tiers_pkey"),
						 ak_attnum(RelationGetDescr(rel), "name"), F_TEXTEQ,
						 C_COLLATION_OID, PointerGetDatum(row->tier), snapshot);
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "apikey: tier \"%s\" of a key does not exist",
			 text_to_cstring(row->tier));

	if (need_limits)
	{
		d = ak_getattr(tuple, rel, ak_attnum(RelationGetDescr(rel), "rate_limits"), &isnull);
		row->nlimits = isnull ? 0 : ak_limits_parse(DatumGetJsonbP(d), row->limits,
													"tier rate_limits");
	}
	for (int p = 0; p < AK_NUM_PERIODS; p++)
	{
		if (row->fixed.quota[p] >= 0)
			continue;
		d = ak_getattr(tuple, rel, ak_attnum(RelationGetDescr(rel), ak_quota_columns[p]), &isnull);
		if (!isnull)
			row->fixed.quota[p] = DatumGetInt64(d);
	}
	if (row->fixed.max_concurrency == 0)
	{
		d = ak_getattr(tuple, rel, ak_attnum(RelationGetDescr(rel), "max_concurrency"), &isnull);
		if (!isnull)
			row->fixed.max_concurrency = DatumGetInt32(d);
	}
	if (row->fixed.priority < 0)
	{
		d = ak_getattr(tuple, rel, ak_attnum(RelationGetDescr(rel), "priority"), &isnull);
		row->fixed.priority = isnull ? AK_MAX_PRIORITY : DatumGetInt16(d);
	}
	table_close(rel, AccessShareLock);
}

/* An optional bigint column: -1 for NULL. */
static int64
ak_getattr_int8(HeapTuple tuple, Relation rel, const char *column)
{
	bool		isnull;
	Datum		d = ak_getattr(tuple, rel, ak_attnum(RelationGetDescr(rel), column), &isnull);

	return isnull ? -1 : DatumGetInt64(d);
}

/* Reads the names of the owners with limits into ak_owners. */
static void
ak_owners_read(Oid nsp, Snapshot snapshot)
{
	HASHCTL		ctl;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;
	AttrNumber	col;

	if (ak_owners_cxt == NULL)
		ak_owners_cxt = AllocSetContextCreate(CacheMemoryContext, "apikey owners with limits",
											  ALLOCSET_SMALL_SIZES);
	MemoryContextReset(ak_owners_cxt);
	ak_owners = NULL;
	ctl.keysize = AK_MAX_TEXT_LEN + 1;
	ctl.entrysize = AK_MAX_TEXT_LEN + 1;
	ctl.hcxt = ak_owners_cxt;
	ak_owners_relid = ak_relation_oid(nsp, "owner_limits");
	rel = table_open(ak_owners_relid, AccessShareLock);
	col = ak_attnum(RelationGetDescr(rel), "owner");
	{
		HTAB	   *owners = hash_create("apikey owners with limits", 16, &ctl,
										 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

		scan = table_beginscan(rel, snapshot, 0, NULL);
		while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
		{
			char		name[AK_MAX_TEXT_LEN + 1];
			bool		isnull;
			Datum		d = heap_getattr(tuple, col, RelationGetDescr(rel), &isnull);

			if (isnull)
				continue;
			text_to_cstring_buffer(DatumGetTextPP(d), name, sizeof(name));
			(void) hash_search(owners, name, HASH_ENTER, NULL);
		}
		table_endscan(scan);
		ak_owners = owners;
	}
	table_close(rel, AccessShareLock);
}

/* Whether owner has a row in apikey.owner_limits. */
static bool
ak_owner_has_limits(text *owner, Oid nsp, Snapshot snapshot)
{
	char		name[AK_MAX_TEXT_LEN + 1];

	if (ak_owners == NULL)
		ak_owners_read(nsp, snapshot);
	if (hash_get_num_entries(ak_owners) == 0)
		return false;
	text_to_cstring_buffer(owner, name, sizeof(name));
	return hash_search(ak_owners, name, HASH_FIND, NULL) != NULL;
}

/*
 * The verification cache was emptied: the owners with limits are read
 * again, and which relation apikey.keys is looked up again (it may have
 * been dropped and created again).
 */
void
ak_keyread_forget_owners(void)
{
	ak_owners = NULL;
	ak_keys_relid = InvalidOid;
	ak_tiers_relid = InvalidOid;
}

/*
 * apikey.keys, as the next read will open it (InvalidOid when the
 * extension is not there): what the shared key cache's entries are of.
 */
Oid
ak_keyread_keys_relid(void)
{
	if (!OidIsValid(ak_keys_relid))
	{
		Oid			nsp = get_namespace_oid(AK_SCHEMA, true);

		if (!OidIsValid(nsp))
			return InvalidOid;
		ak_keys_relid = get_relname_relid("keys", nsp);
		ak_tiers_relid = get_relname_relid("tiers", nsp);
	}
	return ak_keys_relid;
}

/*
 * The limits of the key's owner, if apikey.owner_limits has a row for it:
 * into row->ofixed.
 */
static void
ak_fill_owner_limits(AkKeyRow *row, Oid nsp, Snapshot snapshot)
{
	AkOwnerLimits *o = &row->ofixed;
	Relation	rel;
	HeapTuple	tuple;
	bool		isnull;
	Datum		d;

	if (!ak_owner_has_limits(row->owner, nsp, snapshot))
		return;
	rel = table_open(ak_owners_relid, AccessShareLock);
	tuple = ak_fetch_one(rel, ak_relation_oid(nsp, "owner_limits_owner_key"),
						 ak_attnum(RelationGetDescr(rel), "owner"), F_TEXTEQ,
						 C_COLLATION_OID, PointerGetDatum(row->owner), snapshot);
	row->has_owner_limits = HeapTupleIsValid(tuple);
	if (row->has_owner_limits)
	{
		d = ak_getattr(tuple, rel, ak_attnum(RelationGetDescr(rel), "id"), &isnull);
		memcpy(&o->id, DatumGetUUIDP(d), sizeof(pg_uuid_t));
		d = ak_getattr(tuple, rel, ak_attnum(RelationGetDescr(rel), "rate_limits"), &isnull);
		o->nlimits = isnull ? 0 : ak_limits_parse(DatumGetJsonbP(d), row->owner_limits,
												  "owner rate_limits");
		o->nenforced = ak_limits_shadow_last(row->owner_limits, o->nlimits);
		o->quota[AK_DAY] = ak_getattr_int8(tuple, rel, "daily_quota");
		o->quota[AK_MONTH] = ak_getattr_int8(tuple, rel, "monthly_quota");
		d = ak_getattr(tuple, rel, ak_attnum(RelationGetDescr(rel), "max_concurrency"), &isnull);
		o->max_concurrency = isnull ? 0 : DatumGetInt32(d);
		if (o->nenforced > 0)
			o->policy_header = ak_limits_policy(row->owner_limits, o->nenforced,
												AK_OWNER_POLICY_PREFIX);
	}
	table_close(rel, AccessShareLock);
}

static void
ak_decode_key_row(AkKeyRow *row, HeapTuple tuple, Relation rel,
				  const AkKeysColumns *cols, Oid nsp, Snapshot snapshot)
{
	bool		isnull;
	Datum		d;
	text	   *prefix;
	bool		need_tier_limits;
	AkRowValues values;
	const AkRowValues *rv = &values;

	memset(row, 0, sizeof(*row));
	ak_row_deform(&values, tuple, rel);

	d = ak_value(rv, cols->id, &isnull);
	memcpy(&row->fixed.id, DatumGetUUIDP(d), sizeof(pg_uuid_t));
	d = ak_getattr(tuple, rel, cols->lineage, &isnull);
	memcpy(&row->fixed.lineage, isnull ? &row->fixed.id : DatumGetUUIDP(d),
		   sizeof(pg_uuid_t));

	prefix = ak_value_text(rv, cols->prefix);
	text_to_cstring_buffer(prefix, row->display_prefix, sizeof(row->display_prefix));

	row->owner = ak_value_text(rv, cols->owner);
	row->org = ak_value_text(rv, cols->org);
	row->name = ak_value_text(rv, cols->name);
	row->tier = ak_value_text(rv, cols->tier);

	d = ak_value(rv, cols->scopes, &isnull);
	row->scopes_array = isnull ? construct_empty_array(TEXTOID) : DatumGetArrayTypePCopy(d);
	{
		Datum	   *elems;
		bool	   *nulls;

		deconstruct_array(row->scopes_array, TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &row->nscopes);
		row->scopes = palloc(Max(row->nscopes, 1) * sizeof(char *));
		for (int i = 0; i < row->nscopes; i++)
			row->scopes[i] = nulls[i] ? "" : TextDatumGetCString(elems[i]);
	}

	d = ak_value(rv, cols->metadata, &isnull);
	row->metadata = isnull ? NULL : DatumGetJsonbPCopy(d);

	d = ak_value(rv, cols->allowed_ips, &isnull);
	if (!isnull)
	{
		bool	   *nulls;

		deconstruct_array(DatumGetArrayTypePCopy(d), CIDROID, -1, false,
						  TYPALIGN_INT, &row->allowed, &nulls, &row->nallowed);
	}

	d = ak_value(rv, cols->expires_at, &isnull);
	row->fixed.expires_at = isnull ? DT_NOEND : DatumGetTimestampTz(d);
	d = ak_value(rv, cols->revoked_at, &isnull);
	row->fixed.revoked_at = isnull ? DT_NOEND : DatumGetTimestampTz(d);
	(void) ak_value(rv, cols->rotated_to, &isnull);
	row->fixed.rotated = !isnull;

	d = ak_value(rv, cols->rate_limits, &isnull);
	need_tier_limits = isnull;
	if (!isnull)
		row->nlimits = ak_limits_parse(DatumGetJsonbP(d), row->limits, "rate_limits");

	d = ak_value(rv, cols->daily_quota, &isnull);
	row->fixed.quota[AK_DAY] = isnull ? -1 : DatumGetInt64(d);
	d = ak_value(rv, cols->monthly_quota, &isnull);
	row->fixed.quota[AK_MONTH] = isnull ? -1 : DatumGetInt64(d);
	d = ak_value(rv, cols->max_concurrency, &isnull);
	row->fixed.max_concurrency = isnull ? 0 : DatumGetInt32(d);
	row->fixed.stored = true;
	(void) ak_value(rv, cols->disabled_at, &isnull);
	row->fixed.disabled = !isnull;
	d = ak_value(rv, cols->max_uses, &isnull);
	row->fixed.max_uses = isnull ? -1 : DatumGetInt64(d);
	d = ak_value(rv, cols->priority, &isnull);
	row->fixed.priority = isnull ? -1 : DatumGetInt16(d);

	if (need_tier_limits || row->fixed.quota[AK_DAY] < 0 ||
		row->fixed.quota[AK_MONTH] < 0 || row->fixed.max_concurrency == 0 ||
		row->fixed.priority < 0)
		ak_fill_from_tier(row, need_tier_limits, nsp, snapshot);
	row->fixed.nenforced = ak_limits_shadow_last(row->limits, row->nlimits);
	if (row->fixed.nenforced > 0)
		row->policy_header = ak_limits_policy(row->limits, row->fixed.nenforced, NULL);
	ak_fill_owner_limits(row, nsp, snapshot);
	if (row->ofixed.policy_header && row->policy_header)
		row->ofixed.policy_header = psprintf("%s, %s", row->policy_header,
											 row->ofixed.policy_header);
	row->fixed.extras = row->has_owner_limits ||
		row->fixed.quota[AK_DAY] >= 0 || row->fixed.quota[AK_MONTH] >= 0 ||
		row->fixed.max_uses >= 0 || row->fixed.max_concurrency > 0 ||
		row->nlimits > row->fixed.nenforced;
}

/* Packs a key row into one chunk allocated in dest. */
static AkKeyInfo *
ak_key_pack(HeapTuple tuple, Relation rel, const AkKeysColumns *cols, Oid nsp,
			Snapshot snapshot, MemoryContext dest)
{
	AkKeyRow	row;
	AkPack		pack = {NULL, 0};

	ak_decode_key_row(&row, tuple, rel, cols, nsp, snapshot);
	ak_keyinfo_pack(&row, &pack);
	pack.base = MemoryContextAllocZero(dest, pack.used);
	pack.used = 0;
	ak_keyinfo_pack(&row, &pack);
	((AkKeyInfo *) pack.base)->packed_size = pack.used;
	return (AkKeyInfo *) pack.base;
}

/* The bytes of a packed key, all in its chunk. */
Size
ak_keyinfo_size(const AkKeyInfo *info)
{
	return info->packed_size;
}

/* p, a pointer into a chunk that was at from, moved with it by delta. */
#define AK_MOVED(p, delta) \
	((p) == NULL ? NULL : (void *) ((char *) (p) + (delta)))

/*
 * A packed key copied byte for byte from a chunk at from (in this process
 * or another): its pointers are moved to the copy, and its limiter hints
 * emptied -- they are addresses this process did not find.
 */
void
ak_keyinfo_relocate(AkKeyInfo *info, uintptr_t from)
{
	ptrdiff_t	delta = (ptrdiff_t) ((uintptr_t) info - from);
	AkOwnerLimits *o;

	info->limits = AK_MOVED(info->limits, delta);
	info->owner_limits = AK_MOVED(info->owner_limits, delta);
	info->cell_hints = AK_MOVED(info->cell_hints, delta);
	info->policy_header = AK_MOVED(info->policy_header, delta);
	info->owner = AK_MOVED(info->owner, delta);
	info->scopes_array = AK_MOVED(info->scopes_array, delta);
	info->tier = AK_MOVED(info->tier, delta);
	info->display_prefix = AK_MOVED(info->display_prefix, delta);
	info->org = AK_MOVED(info->org, delta);
	info->name = AK_MOVED(info->name, delta);
	info->metadata = AK_MOVED(info->metadata, delta);
	info->scopes = AK_MOVED(info->scopes, delta);
	info->allowed = AK_MOVED(info->allowed, delta);
	for (int i = 0; i < info->nscopes; i++)
		info->scopes[i] = AK_MOVED(info->scopes[i], delta);
	for (int i = 0; i < info->nallowed; i++)
		info->allowed[i] = AK_MOVED(info->allowed[i], delta);
	memset(info->cell_hints, 0, (info->nlimits + 2) * sizeof(void *));

	o = unconstify(AkOwnerLimits *, info->owner_limits);
	if (o)
	{
		o->limits = AK_MOVED(o->limits, delta);
		o->cell_hints = AK_MOVED(o->cell_hints, delta);
		o->policy_header = AK_MOVED(o->policy_header, delta);
		memset(o->cell_hints, 0, (o->nlimits + 1) * sizeof(void *));
	}
}

/* What a read of a key sets up and tears down. */
typedef struct AkKeyRead
{
	MemoryContext scratch;
	MemoryContext old;
	Oid			nsp;
	Snapshot	snapshot;
	Relation	rel;
	const AkKeysColumns *cols;
} AkKeyRead;

/*
 * Opens apikey.keys with a snapshot taken now: a key changed by a
 * transaction that committed before the caller looked in its cache is
 * seen (see keycache.c).
 */
static void
ak_key_read_begin(AkKeyRead *r)
{
	r->scratch = AllocSetContextCreate(CurrentMemoryContext, "apikey key read",
									   ALLOCSET_SMALL_SIZES);
	r->old = MemoryContextSwitchTo(r->scratch);
	r->nsp = get_namespace_oid(AK_SCHEMA, true);
	ak_keys_relid = ak_relation_oid(r->nsp, "keys");
	ak_tiers_relid = ak_relation_oid(r->nsp, "tiers");
	r->snapshot = RegisterSnapshot(GetLatestSnapshot());
	r->rel = table_open(ak_keys_relid, AccessShareLock);
	r->cols = ak_keys_columns(r->rel);
}

static void
ak_key_read_end(AkKeyRead *r)
{
	table_close(r->rel, AccessShareLock);
	UnregisterSnapshot(r->snapshot);
	MemoryContextSwitchTo(r->old);
	MemoryContextDelete(r->scratch);
}

/*
 * The key whose token has this digest, packed in dest, or NULL if there
 * is none.
 *
 * The tables are read directly through their indexes, as the catalogs are:
 * no planner, no executor, and no privilege or row-level security check,
 * which is the point: verify() is callable by anyone and only answers
 * about the token it is given.
 */
AkKeyInfo *
ak_key_read_by_digest(const uint8 *digest, MemoryContext dest)
{
	AkKeyRead	r;
	bytea	   *value;
	HeapTuple	tuple;
	AkKeyInfo  *info = NULL;

	ak_key_read_begin(&r);
	value = palloc(VARHDRSZ + AK_DIGEST_LEN);
	SET_VARSIZE(value, VARHDRSZ + AK_DIGEST_LEN);
	memcpy(VARDATA(value), digest, AK_DIGEST_LEN);
	tuple = ak_fetch_one(r.rel, ak_relation_oid(r.nsp, "keys_key_hash_key"),
						 r.cols->key_hash, F_BYTEAEQ, InvalidOid,
						 PointerGetDatum(value), r.snapshot);
	if (HeapTupleIsValid(tuple))
		info = ak_key_pack(tuple, r.rel, r.cols, r.nsp, r.snapshot, dest);
	ak_key_read_end(&r);
	return info;
}

/*
 * The key with this id, packed in dest, or NULL if there is none; *digest
 * is set to the digest of its token.
 */
AkKeyInfo *
ak_key_read_by_id(const pg_uuid_t *id, MemoryContext dest, uint8 *digest)
{
	AkKeyRead	r;
	HeapTuple	tuple;
	AkKeyInfo  *info = NULL;

	ak_key_read_begin(&r);
	tuple = ak_fetch_one(r.rel, ak_relation_oid(r.nsp, "keys_pkey"),
						 r.cols->id, F_UUID_EQ, InvalidOid,
						 UUIDPGetDatum(id), r.snapshot);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		bytea	   *stored = DatumGetByteaPP(ak_getattr(tuple, r.rel, r.cols->key_hash,
														&isnull));

		memcpy(digest, VARDATA_ANY(stored), AK_DIGEST_LEN);
		info = ak_key_pack(tuple, r.rel, r.cols, r.nsp, r.snapshot, dest);
	}
	ak_key_read_end(&r);
	return info;
}

/* Whether relid is one of the tables keys are read from. */
bool
ak_keyread_reads(Oid relid)
{
	return relid == ak_keys_relid || relid == ak_tiers_relid ||
		relid == ak_owners_relid;
}

/*
 * Whether apikey.keys, apikey.tiers or apikey.owner_limits is no longer
 * the table last read
 * (DROP EXTENSION and CREATE EXTENSION again, say).
 */
bool
ak_keyread_tables_moved(void)
{
	Oid			nsp = get_namespace_oid(AK_SCHEMA, true);

	return ak_keys_relid != get_relname_relid("keys", nsp) ||
		ak_tiers_relid != get_relname_relid("tiers", nsp) ||
		(OidIsValid(ak_owners_relid) &&
		 ak_owners_relid != get_relname_relid("owner_limits", nsp));
}
