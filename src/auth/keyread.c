/*-------------------------------------------------------------------------
 *
 * keyread.c
 *	  Reading a key: its row of apikey.keys, by the digest of its token or
 *	  by its id, and what it takes from its tier in apikey.tiers, read
 *	  through their indexes with a fresh snapshot, bypassing the executor,
 *	  and packed into one allocation (AkKeyInfo).
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
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
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/* apikey.keys and apikey.tiers as last read */
static Oid	ak_keys_relid = InvalidOid;
static Oid	ak_tiers_relid = InvalidOid;

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
} AkKeyRow;

/* Hot data first: see AkKeyInfo. */
static void
ak_keyinfo_pack(const AkKeyRow *row, AkPack *pack)
{
	AkKeyInfo  *info = ak_pack(pack, &row->fixed, sizeof(AkKeyInfo));
	AkLimit    *limits = ak_pack(pack, row->limits, row->nlimits * sizeof(AkLimit));
	void	  **hints = ak_pack(pack, NULL, (row->nlimits + 1) * sizeof(void *));
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
				rotated_to;
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
	cols.relid = RelationGetRelid(rel);
	return &cols;
}

static Datum
ak_getattr(HeapTuple tuple, Relation rel, AttrNumber attnum, bool *isnull)
{
	return heap_getattr(tuple, attnum, RelationGetDescr(rel), isnull);
}

static text *
ak_getattr_text(HeapTuple tuple, Relation rel, AttrNumber attnum)
{
	bool		isnull;
	Datum		d = ak_getattr(tuple, rel, attnum, &isnull);

	return isnull ? NULL : DatumGetTextPCopy(d);
}

static const char *const ak_quota_columns[AK_NUM_PERIODS] = {"daily_quota", "monthly_quota"};

/* Reads the limits and quotas of a tier into row where the key has none. */
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

	memset(row, 0, sizeof(*row));

	d = ak_getattr(tuple, rel, cols->id, &isnull);
	memcpy(&row->fixed.id, DatumGetUUIDP(d), sizeof(pg_uuid_t));
	d = ak_getattr(tuple, rel, cols->lineage, &isnull);
	memcpy(&row->fixed.lineage, isnull ? &row->fixed.id : DatumGetUUIDP(d),
		   sizeof(pg_uuid_t));

	prefix = ak_getattr_text(tuple, rel, cols->prefix);
	text_to_cstring_buffer(prefix, row->display_prefix, sizeof(row->display_prefix));

	row->owner = ak_getattr_text(tuple, rel, cols->owner);
	row->org = ak_getattr_text(tuple, rel, cols->org);
	row->name = ak_getattr_text(tuple, rel, cols->name);
	row->tier = ak_getattr_text(tuple, rel, cols->tier);

	d = ak_getattr(tuple, rel, cols->scopes, &isnull);
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

	d = ak_getattr(tuple, rel, cols->metadata, &isnull);
	row->metadata = isnull ? NULL : DatumGetJsonbPCopy(d);

	d = ak_getattr(tuple, rel, cols->allowed_ips, &isnull);
	if (!isnull)
	{
		bool	   *nulls;

		deconstruct_array(DatumGetArrayTypePCopy(d), CIDROID, -1, false,
						  TYPALIGN_INT, &row->allowed, &nulls, &row->nallowed);
	}

	d = ak_getattr(tuple, rel, cols->expires_at, &isnull);
	row->fixed.expires_at = isnull ? DT_NOEND : DatumGetTimestampTz(d);
	d = ak_getattr(tuple, rel, cols->revoked_at, &isnull);
	row->fixed.revoked_at = isnull ? DT_NOEND : DatumGetTimestampTz(d);
	(void) ak_getattr(tuple, rel, cols->rotated_to, &isnull);
	row->fixed.rotated = !isnull;

	d = ak_getattr(tuple, rel, cols->rate_limits, &isnull);
	need_tier_limits = isnull;
	if (!isnull)
		row->nlimits = ak_limits_parse(DatumGetJsonbP(d), row->limits, "rate_limits");

	d = ak_getattr(tuple, rel, cols->daily_quota, &isnull);
	row->fixed.quota[AK_DAY] = isnull ? -1 : DatumGetInt64(d);
	d = ak_getattr(tuple, rel, cols->monthly_quota, &isnull);
	row->fixed.quota[AK_MONTH] = isnull ? -1 : DatumGetInt64(d);
	d = ak_getattr(tuple, rel, cols->max_concurrency, &isnull);
	row->fixed.max_concurrency = isnull ? 0 : DatumGetInt32(d);
	row->fixed.stored = true;

	if (need_tier_limits || row->fixed.quota[AK_DAY] < 0 ||
		row->fixed.quota[AK_MONTH] < 0 || row->fixed.max_concurrency == 0)
		ak_fill_from_tier(row, need_tier_limits, nsp, snapshot);
	if (row->nlimits > 0)
		row->policy_header = ak_limits_policy(row->limits, row->nlimits);
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
	return (AkKeyInfo *) pack.base;
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
	return relid == ak_keys_relid || relid == ak_tiers_relid;
}

/*
 * Whether apikey.keys or apikey.tiers is no longer the table last read
 * (DROP EXTENSION and CREATE EXTENSION again, say).
 */
bool
ak_keyread_tables_moved(void)
{
	Oid			nsp = get_namespace_oid(AK_SCHEMA, true);

	return ak_keys_relid != get_relname_relid("keys", nsp) ||
		ak_tiers_relid != get_relname_relid("tiers", nsp);
}
