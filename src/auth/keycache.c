/*-------------------------------------------------------------------------
 *
 * keycache.c
 *	  The verification cache: a backend-local map from token digest to what
 *	  verification needs to know about the key, kept exact by transactional,
 *	  cluster-wide invalidation (keyinval.c).
 *
 * A hit is a probe of a local hash table.  A miss reads the key through
 * the tables' indexes (keyread.c) and caches the answer, including "no
 * such key".  A full cache forgets entries in batches, CLOCK-fashion
 * (ak_cache_make_room).
 *
 * Invalidation
 *	  A change to a key evicts its digest from the changing backend's cache
 *	  at once, and again when its transaction ends: at commit, after the
 *	  change is published to every backend; at abort, or at rollback to a
 *	  savepoint, because the discarded version may have been cached.
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
 *	  On a hot standby, where no trigger runs, the relcache invalidation of
 *	  apikey.keys or apikey.tiers that a commit carries empties the cache.
 *
 * Under this cache, a miss looks in the shared key cache (keyshare.c)
 * before the tables, and shares what it read: a key one backend read is a
 * hit for the others' misses.  Its exactness rests on the ring too: see
 * keyshare.c.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "access/xlog.h"
#include "auth/keycache.h"
#include "auth/keyinval.h"
#include "auth/keyread.h"
#include "auth/keyshare.h"
#include "core/counters.h"
#include "core/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"

typedef struct AkCacheEntry
{
	uint8		digest[AK_DIGEST_LEN];	/* hash key, must be first */
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

/* room to copy the ring out, so that its lock is not held while applying */
static AkInvalMessage ak_ring_copy[AK_INVAL_RING_SIZE];

static void ak_cache_reset(void);


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
	uint64		a[AK_DIGEST_LEN / sizeof(uint64)];
	uint64		b[AK_DIGEST_LEN / sizeof(uint64)];

	memcpy(a, key1, AK_DIGEST_LEN);
	memcpy(b, key2, AK_DIGEST_LEN);
	for (int i = 0; i < lengthof(a); i++)
		diff |= a[i] ^ b[i];
	return diff != 0;
}

static void
ak_relcache_callback(Datum arg, Oid relid)
{
	if (relid != InvalidOid && !ak_keyread_reads(relid))
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

static void
ak_cache_init(void)
{
	ak_cache_context = AllocSetContextCreate(CacheMemoryContext,
											 "apikey key cache",
											 ALLOCSET_DEFAULT_SIZES);
	CacheRegisterRelcacheCallback(ak_relcache_callback, (Datum) 0);
	ak_ring_seen = ak_inval_ring_position();
	ak_cache_reset();
}

/* Empties the cache, freeing every entry at once. */
static void
ak_cache_reset(void)
{
	HASHCTL		ctl;

	MemoryContextReset(ak_cache_context);
	ctl.keysize = AK_DIGEST_LEN;
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
	/* every change to apikey.owner_limits empties the cache: read it again */
	ak_keyread_forget_owners();
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
	hash_search(ak_cache, entry->digest, HASH_REMOVE, NULL);
}

static void
ak_cache_evict(const uint8 *digest)
{
	AkCacheEntry *entry;

	if (ak_cache == NULL)
		return;
	entry = hash_search(ak_cache, digest, HASH_FIND, NULL);
	if (entry)
		ak_cache_remove(entry);
}

/* Applies the ring messages this backend has not seen yet. */
static void
ak_cache_sync(void)
{
	uint64		next;
	int			count;

	if (unlikely(ak_recheck_relations))
	{
		ak_recheck_relations = false;
		if (ak_keyread_tables_moved())
			ak_flush_requested = true;
	}

	if (unlikely(ak_flush_requested))
	{
		ak_flush_requested = false;
		ak_cache_reset();
		/* under the ring's lock, for the shared cache (keyshare.c) */
		ak_ring_seen = ak_inval_ring_position();
		return;
	}
	next = ak_inval_ring_next();
	if (likely(next == ak_ring_seen))
		return;

	count = ak_inval_ring_read(ak_ring_seen, &next, ak_ring_copy);
	ak_ring_seen = next;
	if (count < 0)
	{
		ak_cache_reset();
		return;
	}
	for (int i = 0; i < count; i++)
	{
		if (ak_ring_copy[i].flush_all)
		{
			ak_cache_reset();
			return;
		}
		ak_cache_evict(ak_ring_copy[i].digest);
	}
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
ak_cache_insert(const uint8 *digest, AkKeyInfo *info)
{
	AkCacheEntry *entry;
	bool		found;

	/*
	 * Unknown digests may take an eighth of the room, so floods of made-up
	 * tokens cannot evict real keys.
	 */
	if (info)
		ak_cache_make_room(true, ak_cached_keys, ak_max_keys_cached);
	else
		ak_cache_make_room(false, ak_cached_misses, Max(ak_max_keys_cached / 8, 1));

	entry = hash_search(ak_cache, digest, HASH_ENTER, &found);
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
ak_keycache_probe(const uint8 *digest, const AkKeyInfo **key)
{
	AkCacheEntry *entry;

	ak_cache_begin_lookup();
	entry = hash_search(ak_cache, digest, HASH_FIND, NULL);
	if (entry == NULL)
		return false;
	ak_count(AK_CACHE_HITS);
	entry->referenced = true;
	*key = entry->info;
	return true;
}

/*
 * The key of a digest into dest: from the shared cache, else from the
 * tables, and then shared.  The shared cache is exact for this backend
 * because ak_ring_seen was read under the ring's lock (keyshare.c); a
 * transaction that changed keys reads its own changes, not shared.
 */
static AkKeyInfo *
ak_cache_read(const uint8 *digest, MemoryContext dest)
{
	AkKeyShareRead r;
	AkKeyInfo  *info;

	if (!ak_keyshare_usable() || ak_inval_changed())
		return ak_key_read_by_digest(digest, dest);
	ak_keyshare_begin(&r, ak_inval_next);
	info = ak_keyshare_get(&r, digest, dest);
	if (info)
		return info;
	info = ak_key_read_by_digest(digest, dest);
	if (info)
		ak_keyshare_put(&r, digest, info);
	return info;
}

/*
 * Reads the key of a digest that ak_keycache_probe did not find, caches
 * the answer, and returns it (NULL: no such key).
 */
const AkKeyInfo *
ak_keycache_fill(const uint8 *digest)
{
	AkKeyInfo  *info;

	ak_count(AK_CACHE_MISSES);
	if (ak_max_keys_cached <= 0)
		return ak_cache_read(digest, CurrentMemoryContext);
	info = ak_cache_read(digest, ak_cache_context);
	ak_cache_insert(digest, info);
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
	uint8		digest[AK_DIGEST_LEN];

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
		return ak_key_read_by_id(id, CurrentMemoryContext, digest);
	info = ak_key_read_by_id(id, ak_cache_context, digest);
	if (info)
	{
		/* a cached "no such digest" for this key would now be wrong */
		ak_cache_evict(digest);
		ak_cache_insert(digest, info);
	}
	return info;
}


/* ---- invalidation ---- */

/*
 * A key (digest) or any key (NULL) of relation relid changed in this
 * transaction: recorded for the other backends, and evicted here now.
 */
void
ak_keycache_note_change(Oid relid, const uint8 *digest)
{
	if (ak_cache_context == NULL)
		ak_cache_init();
	ak_keyshare_prepare(relid, digest);
	switch (ak_inval_note(relid, digest))
	{
		case AK_INVAL_ONE:
			ak_cache_evict(digest);
			break;
		case AK_INVAL_ALL:
			ak_cache_reset();
			break;
		case AK_INVAL_ALL_ALREADY:
			break;
	}
}

static void
ak_evict_changed_locally(void)
{
	const List *pending;
	bool		all;
	ListCell   *lc;

	if (ak_cache_context == NULL)
		return;
	pending = ak_inval_pending(&all);
	if (all)
	{
		ak_cache_reset();
		return;
	}
	foreach(lc, pending)
		ak_cache_evict((const uint8 *) lfirst(lc));
}

/*
 * Transaction end: at commit, the changes are published and evicted here
 * once more; at abort, only evicted here.  A transaction that changed keys
 * cannot be prepared.
 */
void
ak_keycache_at_xact_end(XactEvent event)
{
	bool		changed = ak_inval_changed();

	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			ak_inval_check_prepare();
			break;
		case XACT_EVENT_COMMIT:
			if (changed)
			{
				ak_inval_publish(ak_keyshare_forget);
				ak_evict_changed_locally();
			}
			ak_inval_forget();
			break;
		case XACT_EVENT_ABORT:
			if (changed)
				ak_evict_changed_locally();
			ak_inval_forget();
			break;
		default:
			break;
	}
}

/*
 * A key changed inside a subtransaction that rolled back: this backend may
 * have cached the discarded version.
 */
void
ak_keycache_at_subxact_end(SubXactEvent event)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		ak_evict_changed_locally();
}
