/*-------------------------------------------------------------------------
 *
 * keycache.c
 *	  The verification cache: a backend-local map from token digest to what
 *	  verification needs to know about the key, and the transactional,
 *	  cluster-wide invalidation that keeps it exact.
 *
 * A hit is a probe of a local hash table.  A miss reads apikey.keys (and
 * the key's tier) through their indexes with a fresh snapshot, bypassing
 * the executor, and caches the answer, including "no such key".  A full
 * cache forgets entries in batches, CLOCK-fashion (ak_cache_make_room).
 *
 * Invalidation
 *	  Triggers on apikey.keys (every change to a column verification uses)
 *	  and apikey.tiers (every change) record the affected digests in a list
 *	  kept for the current transaction, and evict them from this backend's
 *	  cache at once.  When the transaction commits, at XACT_EVENT_COMMIT
 *	  (after it became visible to new snapshots), the list is appended to a
 *	  ring of messages in shared memory and the ring's sequence number
 *	  advances.  On abort, or on rollback to a savepoint, the digests are
 *	  evicted locally once more and nothing is published.
 *
 *	  Before every lookup a backend compares the ring's sequence number
 *	  with the last one it applied (one atomic read).  If it moved, the
 *	  backend evicts the digests in between, or empties its cache if it fell
 *	  more than the ring's size behind.  A miss is read with a snapshot taken
 *	  after that comparison: a change committed before it is seen by the
 *	  read, one committed after it is found in the ring at the next lookup.
 *	  So a revoked key fails in every backend from the first verification
 *	  that starts after the revoking transaction committed.
 *
 *	  Hot standbys run no triggers.  The same triggers queue a relcache
 *	  invalidation of the changed table, which is written into the commit
 *	  record; replayed on a standby it makes every backend there empty its
 *	  cache.
 *
 * Locking protocol (shared memory)
 *	  AkInvalRing.lock (an LWLock of tranche "apikey invalidation"):
 *	  publishers hold it LW_EXCLUSIVE to write messages and then advance
 *	  AkInvalRing.next; readers hold it LW_SHARED to copy messages out, and
 *	  apply them after releasing it.  AkInvalRing.next is also read without
 *	  the lock, as the fast "anything new?" test; a reader that sees it move
 *	  takes the lock before touching a message, so it never reads one that
 *	  is half written.  Nothing else is done while the lock is held.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation_d.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include <sodium.h>

#include "apikey.h"

#define AK_INVAL_RING_SIZE	4096

typedef struct AkInvalMessage
{
	bool		flush_all;
	uint8		hash[AK_HASH_LEN];
} AkInvalMessage;

typedef struct AkInvalRing
{
	LWLock	   *lock;
	pg_atomic_uint64 next;		/* sequence number of the next message */
	AkInvalMessage messages[AK_INVAL_RING_SIZE];
} AkInvalRing;

static AkInvalRing *ak_ring = NULL;

/* ---- backend-local state ---- */

typedef struct AkCacheEntry
{
	uint8		hash[AK_HASH_LEN];	/* hash key, must be first */
	AkKeyInfo  *info;			/* NULL: no key has this digest */
	bool		referenced;		/* used since the last eviction sweep */
} AkCacheEntry;

typedef struct AkIdEntry
{
	pg_uuid_t	id;				/* hash key, must be first */
	AkCacheEntry *entry;		/* the cache entry of this key */
} AkIdEntry;

static MemoryContext ak_cache_context = NULL;
static HTAB *ak_cache = NULL;
static HTAB *ak_cache_ids = NULL;	/* key id -> entry, for consume() */
static int	ak_cached_keys = 0;
static int	ak_cached_misses = 0;

/* the first ring message this backend has not applied yet */
static uint64 ak_ring_seen = 0;

/* set by the relcache callback, acted upon at the next lookup */
static bool ak_flush_requested = false;
static bool ak_recheck_relations = false;

/* apikey.keys and apikey.tiers as last resolved */
static Oid	ak_keys_relid = InvalidOid;
static Oid	ak_tiers_relid = InvalidOid;

/* digests changed by the current transaction (in TopTransactionContext) */
static List *ak_pending = NIL;
static bool ak_pending_flush_all = false;
static bool ak_pending_relcache_queued = false;

/* room to copy the ring out, so that the lock is not held while applying */
static AkInvalMessage ak_ring_copy[AK_INVAL_RING_SIZE];

static void ak_cache_reset(void);


/* ---- shared memory ---- */

void
ak_keycache_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(AkInvalRing)));
	RequestNamedLWLockTranche("apikey invalidation", 1);
}

/* Caller holds AddinShmemInitLock. */
void
ak_keycache_shmem_startup(void)
{
	bool		found;

	ak_ring = ShmemInitStruct("apikey invalidation ring",
							  sizeof(AkInvalRing), &found);
	if (!found)
	{
		ak_ring->lock = &(GetNamedLWLockTranche("apikey invalidation"))->lock;
		pg_atomic_init_u64(&ak_ring->next, 0);
	}
}


/* ---- the local cache ---- */

/* Token digests are uniformly distributed: their first bytes are a hash. */
static uint32
ak_digest_hash(const void *key, Size keysize)
{
	uint32		h;

	memcpy(&h, key, sizeof(h));
	return h;
}

/*
 * Constant time, like sodium_memcmp, but inline: this runs on every
 * verification.  The volatile accumulator keeps the compiler from turning
 * it into an early exit.
 */
static int
ak_digest_match(const void *key1, const void *key2, Size keysize)
{
	volatile uint64 diff = 0;
	uint64		a[AK_HASH_LEN / sizeof(uint64)];
	uint64		b[AK_HASH_LEN / sizeof(uint64)];

	memcpy(a, key1, AK_HASH_LEN);
	memcpy(b, key2, AK_HASH_LEN);
	for (int i = 0; i < lengthof(a); i++)
		diff |= a[i] ^ b[i];
	return diff != 0;
}

static void
ak_relcache_callback(Datum arg, Oid relid)
{
	if (relid != InvalidOid && relid != ak_keys_relid && relid != ak_tiers_relid)
		return;

	/*
	 * On a primary the ring carries every change; a relcache invalidation
	 * of apikey.keys also comes from VACUUM and DDL, so only make sure the
	 * table is still the one we read.  A standby has no ring.
	 */
	if (RecoveryInProgress())
		ak_flush_requested = true;
	else
		ak_recheck_relations = true;
}

static void ak_xact_callback(XactEvent event, void *arg);
static void ak_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								SubTransactionId parentSubid, void *arg);

static void
ak_cache_init(void)
{
	ak_cache_context = AllocSetContextCreate(CacheMemoryContext,
											 "apikey key cache",
											 ALLOCSET_DEFAULT_SIZES);
	CacheRegisterRelcacheCallback(ak_relcache_callback, (Datum) 0);
	RegisterXactCallback(ak_xact_callback, NULL);
	RegisterSubXactCallback(ak_subxact_callback, NULL);
	ak_ring_seen = pg_atomic_read_u64(&ak_ring->next);
	ak_cache_reset();
}

/* Empties the cache, freeing every entry at once. */
static void
ak_cache_reset(void)
{
	HASHCTL		ctl;

	MemoryContextReset(ak_cache_context);
	ctl.keysize = AK_HASH_LEN;
	ctl.entrysize = sizeof(AkCacheEntry);
	ctl.hash = ak_digest_hash;
	ctl.match = ak_digest_match;
	ctl.hcxt = ak_cache_context;
	ak_cache = hash_create("apikey key cache", 256, &ctl,
						   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	ctl.keysize = sizeof(pg_uuid_t);
	ctl.entrysize = sizeof(AkIdEntry);
	ak_cache_ids = hash_create("apikey key cache by id", 256, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ak_cached_keys = 0;
	ak_cached_misses = 0;
}

static void
ak_cache_remove(AkCacheEntry *entry)
{
	if (entry->info)
	{
		hash_search(ak_cache_ids, &entry->info->id, HASH_REMOVE, NULL);
		pfree(entry->info);
		ak_cached_keys--;
	}
	else
		ak_cached_misses--;
	hash_search(ak_cache, entry->hash, HASH_REMOVE, NULL);
}

static void
ak_cache_evict(const uint8 *hash)
{
	AkCacheEntry *entry;

	if (ak_cache == NULL)
		return;
	entry = hash_search(ak_cache, hash, HASH_FIND, NULL);
	if (entry)
		ak_cache_remove(entry);
}

/* Applies the ring messages this backend has not seen yet. */
static void
ak_cache_sync(void)
{
	uint64		next;
	uint64		count;

	if (unlikely(ak_recheck_relations))
	{
		Oid			nsp = get_namespace_oid(AK_SCHEMA, true);

		ak_recheck_relations = false;
		if (ak_keys_relid != get_relname_relid("keys", nsp) ||
			ak_tiers_relid != get_relname_relid("tiers", nsp))
			ak_flush_requested = true;
	}

	next = pg_atomic_read_u64(&ak_ring->next);
	if (unlikely(ak_flush_requested))
	{
		ak_flush_requested = false;
		ak_cache_reset();
		ak_ring_seen = next;
		return;
	}
	if (likely(next == ak_ring_seen))
		return;

	LWLockAcquire(ak_ring->lock, LW_SHARED);
	next = pg_atomic_read_u64(&ak_ring->next);
	count = next - ak_ring_seen;
	if (count <= AK_INVAL_RING_SIZE)
		for (uint64 i = 0; i < count; i++)
			ak_ring_copy[i] = ak_ring->messages[(ak_ring_seen + i) % AK_INVAL_RING_SIZE];
	LWLockRelease(ak_ring->lock);

	ak_ring_seen = next;
	if (count > AK_INVAL_RING_SIZE)
	{
		ak_cache_reset();
		return;
	}
	for (uint64 i = 0; i < count; i++)
	{
		if (ak_ring_copy[i].flush_all)
		{
			ak_cache_reset();
			return;
		}
		ak_cache_evict(ak_ring_copy[i].hash);
	}
}


/* ---- reading a key from the tables ---- */

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
	AkBucket  **hints = ak_pack(pack, NULL, (row->nlimits + 1) * sizeof(AkBucket *));
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
			allowed[i] = ip;
	}

	if (info == NULL)
		return;
	info->nlimits = row->nlimits;
	info->limits = limits;
	info->bucket_hints = hints;	/* zeroed: none known yet */
	info->quota_hint = &hints[row->nlimits];
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
				daily_usage,
				usage_day,
				monthly_usage,
				usage_month,
				allowed_ips,
				metadata,
				expires_at,
				revoked_at,
				rotated_to;
} AkKeysColumns;

/* The number of a table's column, by name. */
AttrNumber
ak_attnum(TupleDesc desc, const char *name)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att->attnum;
	}
	elog(ERROR, "apikey: column \"%s\" is missing from its table", name);
	return InvalidAttrNumber;	/* keep compiler quiet */
}

static const AkKeysColumns *
ak_keys_columns(Relation rel)
{
	static AkKeysColumns cols;
	TupleDesc	desc = RelationGetDescr(rel);

	if (cols.relid == RelationGetRelid(rel))
		return &cols;

	cols.id = ak_attnum(desc, "id");
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
	cols.daily_usage = ak_attnum(desc, "daily_usage");
	cols.usage_day = ak_attnum(desc, "usage_day");
	cols.monthly_usage = ak_attnum(desc, "monthly_usage");
	cols.usage_month = ak_attnum(desc, "usage_month");
	cols.allowed_ips = ak_attnum(desc, "allowed_ips");
	cols.metadata = ak_attnum(desc, "metadata");
	cols.expires_at = ak_attnum(desc, "expires_at");
	cols.revoked_at = ak_attnum(desc, "revoked_at");
	cols.rotated_to = ak_attnum(desc, "rotated_to");
	cols.relid = RelationGetRelid(rel);
	return &cols;
}

static Oid
ak_relation_oid(Oid nsp, const char *name)
{
	Oid			relid = get_relname_relid(name, nsp);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("relation \"%s.%s\" does not exist", AK_SCHEMA, name),
				 errhint("Run CREATE EXTENSION apikey in this database.")));
	return relid;
}

/* Fetches one tuple by an equality index scan; returns a copy or NULL. */
static HeapTuple
ak_fetch_one(Relation rel, Oid indexid, AttrNumber attnum, RegProcedure eqproc,
			 Oid collation, Datum value, Snapshot snapshot)
{
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;

	ScanKeyEntryInitialize(&key, 0, attnum, BTEqualStrategyNumber,
						   InvalidOid, collation, eqproc, value);
	scan = systable_beginscan(rel, indexid, true, snapshot, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		tuple = heap_copytuple(tuple);
	systable_endscan(scan);
	return tuple;
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

/*
 * The counts the worker last wrote to the row: where a new quota counter
 * starts (see quota.c).  A count of no period is none.
 */
static void
ak_decode_usage(AkKeyRow *row, HeapTuple tuple, Relation rel,
				const AkKeysColumns *cols)
{
	const AttrNumber used[AK_NUM_PERIODS] = {cols->daily_usage, cols->monthly_usage};
	const AttrNumber date[AK_NUM_PERIODS] = {cols->usage_day, cols->usage_month};

	for (int p = 0; p < AK_NUM_PERIODS; p++)
	{
		bool		isnull;
		Datum		d = ak_getattr(tuple, rel, date[p], &isnull);

		row->fixed.usage_period[p] = isnull ? PG_INT32_MIN
			: ak_period_of_date((AkPeriod) p, DatumGetDateADT(d));
		d = ak_getattr(tuple, rel, used[p], &isnull);
		row->fixed.usage[p] = isnull ? 0 : DatumGetInt64(d);
	}
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
	ak_decode_usage(row, tuple, rel, cols);
	row->fixed.stored = true;

	if (need_tier_limits || row->fixed.quota[AK_DAY] < 0 ||
		row->fixed.quota[AK_MONTH] < 0 || row->fixed.max_concurrency == 0)
		ak_fill_from_tier(row, need_tier_limits, nsp, snapshot);
	if (row->nlimits > 0)
		row->policy_header = ak_policy_header(row->limits, row->nlimits);
}

/*
 * Reads a key, by the digest of its token or by its id, or returns NULL if
 * there is none.  The result is one chunk allocated in dest; *digest is
 * set to the key's digest.
 *
 * The tables are read directly through their indexes, as the catalogs are:
 * no planner, no executor, and no privilege or row-level security check,
 * which is the point: verify() is callable by anyone and only answers
 * about the token it is given.
 */
static AkKeyInfo *
ak_key_fetch(const uint8 *hash, const pg_uuid_t *id, MemoryContext dest,
			 uint8 *digest)
{
	MemoryContext scratch;
	MemoryContext old;
	Oid			nsp;
	Relation	rel;
	Snapshot	snapshot;
	HeapTuple	tuple;
	AkKeyInfo  *info = NULL;

	scratch = AllocSetContextCreate(CurrentMemoryContext, "apikey key fetch",
									ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(scratch);

	nsp = get_namespace_oid(AK_SCHEMA, true);
	ak_keys_relid = ak_relation_oid(nsp, "keys");
	ak_tiers_relid = ak_relation_oid(nsp, "tiers");

	snapshot = RegisterSnapshot(GetLatestSnapshot());
	rel = table_open(ak_keys_relid, AccessShareLock);
	{
		const AkKeysColumns *cols = ak_keys_columns(rel);

		if (id == NULL)
		{
			bytea	   *value = palloc(VARHDRSZ + AK_HASH_LEN);

			SET_VARSIZE(value, VARHDRSZ + AK_HASH_LEN);
			memcpy(VARDATA(value), hash, AK_HASH_LEN);
			tuple = ak_fetch_one(rel, ak_relation_oid(nsp, "keys_key_hash_key"),
								 cols->key_hash, F_BYTEAEQ, InvalidOid,
								 PointerGetDatum(value), snapshot);
		}
		else
			tuple = ak_fetch_one(rel, ak_relation_oid(nsp, "keys_pkey"),
								 cols->id, F_UUID_EQ, InvalidOid,
								 UUIDPGetDatum(id), snapshot);

		if (HeapTupleIsValid(tuple))
		{
			AkKeyRow	row;
			AkPack		pack = {NULL, 0};
			bool		isnull;
			bytea	   *stored;

			stored = DatumGetByteaPP(ak_getattr(tuple, rel, cols->key_hash, &isnull));
			memcpy(digest, VARDATA_ANY(stored), AK_HASH_LEN);

			ak_decode_key_row(&row, tuple, rel, cols, nsp, snapshot);
			ak_keyinfo_pack(&row, &pack);
			pack.base = MemoryContextAllocZero(dest, pack.used);
			pack.used = 0;
			ak_keyinfo_pack(&row, &pack);
			info = (AkKeyInfo *) pack.base;
		}
	}
	table_close(rel, AccessShareLock);
	UnregisterSnapshot(snapshot);

	MemoryContextSwitchTo(old);
	MemoryContextDelete(scratch);
	return info;
}


/* ---- lookup ---- */

/*
 * Makes room for one more entry of a kind (keys, or digests of no key) when
 * count has reached max.  Eviction is CLOCK-like, in batches: a sweep
 * forgets unreferenced entries of that kind and clears the flag of the
 * others, until a tenth of them are gone.  A hit only sets a flag in the
 * entry it just read, where an LRU list would write to two more.
 */
static void
ak_cache_make_room(bool keys, int count, int max)
{
	int			target;

	if (count < max)
		return;
	target = Max(max / 10, count - max + 1);
	for (int pass = 0; pass < 2 && target > 0; pass++)
	{
		HASH_SEQ_STATUS seq;
		AkCacheEntry *entry;

		hash_seq_init(&seq, ak_cache);
		while ((entry = hash_seq_search(&seq)) != NULL)
		{
			if ((entry->info != NULL) != keys)
				continue;
			if (entry->referenced)
			{
				entry->referenced = false;
				continue;
			}
			ak_cache_remove(entry);		/* allowed for the entry just returned */
			if (--target == 0)
			{
				hash_seq_term(&seq);
				break;
			}
		}
	}
}

/* Caches what was read for a digest: a key, or info == NULL for none. */
static void
ak_cache_insert(const uint8 *hash, AkKeyInfo *info)
{
	AkCacheEntry *entry;
	bool		found;

	/* unknown digests may take an eighth of the room, so floods of made-up tokens cannot evict real keys */
	if (info)
		ak_cache_make_room(true, ak_cached_keys, ak_max_keys_cached);
	else
		ak_cache_make_room(false, ak_cached_misses, Max(ak_max_keys_cached / 8, 1));

	entry = hash_search(ak_cache, hash, HASH_ENTER, &found);
	Assert(!found);
	entry->info = info;
	entry->referenced = false;
	if (info)
	{
		AkIdEntry  *ide = hash_search(ak_cache_ids, &info->id, HASH_ENTER, &found);

		ide->entry = entry;
		ak_cached_keys++;
	}
	else
		ak_cached_misses++;
}

static void
ak_cache_begin_lookup(void)
{
	if (unlikely(ak_cache_context == NULL))
		ak_cache_init();
	ak_cache_sync();
}

/*
 * Whether the digest is cached; if so *key is its key, or NULL for a digest
 * known to belong to no key.  *key is valid until the next lookup.
 */
bool
ak_keycache_probe(const uint8 *hash, const AkKeyInfo **key)
{
	AkCacheEntry *entry;

	ak_cache_begin_lookup();
	entry = hash_search(ak_cache, hash, HASH_FIND, NULL);
	if (entry == NULL)
		return false;
	ak_count(AK_CACHE_HITS);
	entry->referenced = true;
	*key = entry->info;
	return true;
}

/*
 * Reads the key of a digest that ak_keycache_probe did not find, caches
 * the answer, and returns it (NULL: no such key).
 */
const AkKeyInfo *
ak_keycache_fill(const uint8 *hash)
{
	AkKeyInfo  *info;
	uint8		digest[AK_HASH_LEN];

	ak_count(AK_CACHE_MISSES);
	if (ak_max_keys_cached <= 0)
		return ak_key_fetch(hash, NULL, CurrentMemoryContext, digest);
	info = ak_key_fetch(hash, NULL, ak_cache_context, digest);
	ak_cache_insert(hash, info);
	return info;
}

/*
 * The key with this id, or NULL if there is none (not cached: ids of no key
 * are not a flood worth defending against).  Valid until the next lookup.
 */
const AkKeyInfo *
ak_keycache_lookup_id(const pg_uuid_t *id)
{
	AkIdEntry  *ide;
	AkKeyInfo  *info;
	uint8		digest[AK_HASH_LEN];

	ak_cache_begin_lookup();
	ide = hash_search(ak_cache_ids, id, HASH_FIND, NULL);
	if (ide)
	{
		ak_count(AK_CACHE_HITS);
		ide->entry->referenced = true;
		return ide->entry->info;
	}

	ak_count(AK_CACHE_MISSES);
	if (ak_max_keys_cached <= 0)
		return ak_key_fetch(NULL, id, CurrentMemoryContext, digest);
	info = ak_key_fetch(NULL, id, ak_cache_context, digest);
	if (info)
	{
		/* a cached "no such digest" for this key would now be wrong */
		ak_cache_evict(digest);
		ak_cache_insert(digest, info);
	}
	return info;
}


/* ---- invalidation: recording, publishing ---- */

static void
ak_pending_evict_locally(void)
{
	ListCell   *lc;

	if (ak_cache_context == NULL)
		return;
	if (ak_pending_flush_all)
	{
		ak_cache_reset();
		return;
	}
	foreach(lc, ak_pending)
		ak_cache_evict((const uint8 *) lfirst(lc));
}

/* Appends this transaction's invalidations to the ring.  Cannot fail. */
static void
ak_pending_publish(void)
{
	uint64		next;

	LWLockAcquire(ak_ring->lock, LW_EXCLUSIVE);
	next = pg_atomic_read_u64(&ak_ring->next);
	if (ak_pending_flush_all)
	{
		ak_ring->messages[next % AK_INVAL_RING_SIZE].flush_all = true;
		next++;
	}
	else
	{
		ListCell   *lc;

		foreach(lc, ak_pending)
		{
			AkInvalMessage *msg = &ak_ring->messages[next % AK_INVAL_RING_SIZE];

			msg->flush_all = false;
			memcpy(msg->hash, lfirst(lc), AK_HASH_LEN);
			next++;
		}
	}
	pg_atomic_write_u64(&ak_ring->next, next);
	LWLockRelease(ak_ring->lock);
}

static void
ak_pending_forget(void)
{
	/* the list lived in TopTransactionContext */
	ak_pending = NIL;
	ak_pending_flush_all = false;
	ak_pending_relcache_queued = false;
}

static void
ak_xact_callback(XactEvent event, void *arg)
{
	bool		changed = ak_pending != NIL || ak_pending_flush_all;

	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (changed)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that changed API keys or tiers"),
						 errdetail("Other backends could not be told of the change when it commits.")));
			break;
		case XACT_EVENT_COMMIT:
			if (changed)
			{
				ak_pending_publish();
				ak_pending_evict_locally();
			}
			ak_pending_forget();
			break;
		case XACT_EVENT_ABORT:
			if (changed)
				ak_pending_evict_locally();
			ak_pending_forget();
			break;
		default:
			break;
	}
}

/*
 * A key changed inside a subtransaction that rolled back: this backend may
 * have cached the discarded version.
 */
static void
ak_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		ak_pending_evict_locally();
}

static void
ak_record_change(Relation rel, const uint8 *hash)
{
	MemoryContext old;

	if (!ak_pending_relcache_queued)
	{
		/* for hot standbys: travels in the commit record */
		CacheInvalidateRelcacheByRelid(RelationGetRelid(rel));
		ak_pending_relcache_queued = true;
	}
	if (ak_cache_context == NULL)
		ak_cache_init();

	if (hash == NULL || list_length(ak_pending) >= AK_INVAL_RING_SIZE)
	{
		ak_pending_flush_all = true;
		ak_cache_reset();
		return;
	}
	if (ak_pending_flush_all)
		return;

	old = MemoryContextSwitchTo(TopTransactionContext);
	ak_pending = lappend(ak_pending, memcpy(palloc(AK_HASH_LEN), hash, AK_HASH_LEN));
	MemoryContextSwitchTo(old);
	ak_cache_evict(hash);
}

static void
ak_record_tuple_change(Relation rel, HeapTuple tuple)
{
	bool		isnull;
	Datum		d;
	bytea	   *digest;

	d = heap_getattr(tuple, ak_attnum(RelationGetDescr(rel), "key_hash"),
					 RelationGetDescr(rel), &isnull);
	if (isnull)
		return;
	digest = DatumGetByteaPP(d);
	if (VARSIZE_ANY_EXHDR(digest) == AK_HASH_LEN)
		ak_record_change(rel, (const uint8 *) VARDATA_ANY(digest));
}

/*
 * apikey._invalidate() trigger.  For each row of apikey.keys it records the
 * digest(s) of the changed key; fired per statement (on apikey.tiers, or
 * TRUNCATE of apikey.keys) it empties every cache.
 */
PG_FUNCTION_INFO_V1(apikey_invalidate_trigger);

Datum
apikey_invalidate_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("apikey._invalidate() must be called as a trigger")));

	/* without shared memory no backend can have cached anything */
	if (!ak_preloaded)
		return PointerGetDatum(NULL);

	rel = trigdata->tg_relation;
	if (TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		ak_record_change(rel, NULL);
	else
	{
		ak_record_tuple_change(rel, trigdata->tg_trigtuple);
		if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
			ak_record_tuple_change(rel, trigdata->tg_newtuple);
	}
	return PointerGetDatum(NULL);
}
