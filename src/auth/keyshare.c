/*-------------------------------------------------------------------------
 *
 * keyshare.c
 *	  The shared key cache: a second level under every backend's own cache
 *	  (keycache.c), in apikey's dynamic shared memory (class
 *	  AK_MEM_KEYCACHE), so that a key one backend read from the tables is
 *	  not read again by each of the others.  A miss of the backend's cache
 *	  costs some 45,000 instructions of index scans, a tier read and limit
 *	  parsing; a hit here, a copy of the key as it was packed (AkKeyInfo,
 *	  one chunk) and its pointers moved to where the copy lies.
 *
 * An entry is keyed by the token's digest, the database and the relation
 * of apikey.keys (a dropped and created again extension does not find the
 * old keys).  It holds the packed key, or is empty.  "No such key" is not
 * shared: made-up tokens would fill the table for everyone.  A key larger
 * than an entry's room is not shared either (the backend's cache has it).
 * The table is bounded by its class's share of apikey.shared_memory_budget;
 * when no entry can be had, idle ones are reused (ak_keyshare_retire:
 * empty, stale, or not read since the last search, CLOCK-fashion); when
 * none is idle the key is simply not shared.  A verification never waits
 * for room.
 *
 * Not used on a hot standby (no trigger runs there to invalidate it), nor
 * by a transaction that changed keys (it reads its own changes, which no
 * other backend may see), nor when apikey.shared_key_cache is off.
 *
 * Locking protocol
 *	  The shared hash table's protocol (shmem/shash.h), with one addition:
 *	  an entry's value (size, generation, base, data) is its partition
 *	  lock's, not its spinlock's: it is copied out holding the lock shared
 *	  and written holding it exclusively.  The spinlock guards "live" and
 *	  "referenced" as shash.h says.  No allocation and no error while a
 *	  lock is held: a value is copied out to the stack.
 *
 *	  Exactness, with the invalidation ring (keyinval.c), whose publisher,
 *	  holding the ring's lock exclusively, advances the ring and then, still
 *	  holding it, empties the entries of the changed digests (each under its
 *	  partition lock) or bumps the generation for "empty every cache":
 *	  - a filler notes the generation, then the ring's sequence number,
 *		before it takes the snapshot it reads the key with, and stores what
 *		it read only if, under the partition lock, the ring has not moved.
 *		A change its snapshot missed became visible after the snapshot,
 *		so advanced the ring after the filler noted it: either the filler
 *		sees the ring moved and stores nothing, or it stored first and the
 *		publisher, after advancing, empties the entry (or bumps the
 *		generation past the one the entry was stored with);
 *	  - so once COMMIT has returned, no entry holds what it changed;
 *	  - a backend's own cache has applied the ring up to a position it read
 *		under the ring's lock, so after every publisher before it emptied
 *		its entries: what it copies from here is not older than what it
 *		applied, and a later message it applies at its next lookup.
 *	  A transaction that changed keys neither reads nor fills the table.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "access/xlog.h"
#include "auth/keyread.h"
#include "auth/keyshare.h"
#include "core/clock.h"
#include "core/counters.h"
#include "core/secret.h"
#include "core/guc.h"
#include "miscadmin.h"
#include "shmem/shash.h"
#include "storage/shmem.h"

#define AK_KEYSHARE_PARTITIONS	128

/* An entry is 640 bytes: room for a key with a few scopes and limits. */
#define AK_KEYSHARE_ROOM		552

typedef struct AkKeyShareKey
{
	uint8		digest[AK_DIGEST_LEN];
	Oid			dbid;
	Oid			keys_relid;
} AkKeyShareKey;

typedef struct AkKeyShareEntry
{
	AkKeyShareKey key;
	AkShashEntry header;
	bool		referenced;		/* spinlock's: read since the last search */
	uint32		size;			/* the rest is the partition lock's; 0: empty */
	uint64		generation;		/* ak_keyshare_shared->generation when stored */
	uintptr_t	base;			/* where the chunk was when copied in */
	char		data[AK_KEYSHARE_ROOM] pg_attribute_aligned(MAXIMUM_ALIGNOF);
} AkKeyShareEntry;

typedef struct AkKeyShareShared
{
	pg_atomic_uint64 generation;	/* bumped by "empty every cache" */
} AkKeyShareShared;

static uint32 ak_keyshare_hash(const void *key, Size keysize);
static void ak_keyshare_init(void *entry, const void *arg);
static bool ak_keyshare_retire(void *entry, int64 now_us);

static const AkShashSpec ak_keyshare_spec = {
	.name = "apikey key cache",
	.mem_class = AK_MEM_KEYCACHE,
	.keysize = sizeof(AkKeyShareKey),
	.entrysize = sizeof(AkKeyShareEntry),
	.header_offset = offsetof(AkKeyShareEntry, header),
	.partitions = AK_KEYSHARE_PARTITIONS,
	.hash = ak_keyshare_hash,
	.max_entries = NULL,
	.init = ak_keyshare_init,
	.retire = ak_keyshare_retire,
};

static AkShash ak_keyshare;
static AkKeyShareShared *ak_keyshare_shared = NULL;

/* the apikey.keys whose keys the current transaction changed */
static Oid	ak_keyshare_changed_relid = InvalidOid;


/* ---- shared memory ---- */

void
ak_keyshare_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(AkKeyShareShared)));
	ak_shash_request(&ak_keyshare_spec);
}

/* Caller holds AddinShmemInitLock. */
void
ak_keyshare_attach(void)
{
	bool		found;

	ak_keyshare_shared = ShmemInitStruct("apikey key cache generation",
										 sizeof(AkKeyShareShared), &found);
	if (!found)
		pg_atomic_init_u64(&ak_keyshare_shared->generation, 1);
	ak_shash_attach(&ak_keyshare, &ak_keyshare_spec);
}

/* Digests are uniformly distributed: their first bytes are a hash. */
static uint32
ak_keyshare_hash(const void *key, Size keysize)
{
	const AkKeyShareKey *k = key;
	uint32		h;

	memcpy(&h, k->digest, sizeof(h));
	return h ^ k->dbid ^ k->keys_relid;
}

static void
ak_keyshare_init(void *entry, const void *arg)
{
	AkKeyShareEntry *e = entry;

	e->referenced = false;
	e->size = 0;
	e->generation = 0;
	e->base = 0;
}

/*
 * Idle: empty, stale, or not read since the last search for idle entries
 * (whose flag this clears: a second chance).  Called holding the partition
 * lock exclusively, so the value may be read.
 */
static bool
ak_keyshare_retire(void *entry, int64 now_us)
{
	AkKeyShareEntry *e = entry;
	bool		idle;

	ak_shash_lock(&e->header);
	idle = e->size == 0 || !e->referenced ||
		e->generation != pg_atomic_read_u64(&ak_keyshare_shared->generation);
	e->referenced = false;
	if (idle)
		ak_shash_retire_locked(&e->header);
	ak_shash_unlock(&e->header);
	return idle;
}


/* ---- lookup ---- */

/* Whether this backend may use the shared cache now. */
bool
ak_keyshare_usable(void)
{
	return ak_shared_key_cache && ak_keyshare_shared != NULL && !RecoveryInProgress();
}

static void
ak_keyshare_key(AkKeyShareKey *key, const uint8 *digest, Oid keys_relid)
{
	memset(key, 0, sizeof(*key));
	memcpy(key->digest, digest, AK_DIGEST_LEN);
	key->dbid = MyDatabaseId;
	key->keys_relid = keys_relid;
}

/*
 * Notes the generation, then the ring's position, before the caller takes
 * the snapshot of its read (see the header).
 */
void
ak_keyshare_begin(AkKeyShareRead *r, const pg_atomic_uint64 *ring_next)
{
	r->generation = pg_atomic_read_u64(&ak_keyshare_shared->generation);
	pg_read_barrier();
	r->ring_next = ring_next;
	r->ring_seen = pg_atomic_read_u64(unconstify(pg_atomic_uint64 *, ring_next));
	r->keys_relid = ak_keyread_keys_relid();
}

/*
 * The key of digest, copied into dest from the shared cache, or NULL if
 * it is not there.
 */
AkKeyInfo *
ak_keyshare_get(const AkKeyShareRead *r, const uint8 *digest, MemoryContext dest)
{
	AkKeyShareKey key;
	uint32		hash;
	void	   *found;
	AkKeyShareEntry *e;
	uint32		size = 0;
	uintptr_t	base = 0;
	union
	{
		char		data[AK_KEYSHARE_ROOM];
		double		align;
	}			copy;
	AkKeyInfo  *info;

	if (!OidIsValid(r->keys_relid))
		return NULL;
	ak_keyshare_key(&key, digest, r->keys_relid);
	hash = ak_keyshare_hash(&key, sizeof(key));
	(void) ak_shash_find(&ak_keyshare, &key, &hash, 1, &found, false, NULL, 0);
	e = found;
	if (e && e->size > 0 &&
		e->generation == pg_atomic_read_u64(&ak_keyshare_shared->generation))
	{
		size = e->size;
		base = e->base;
		memcpy(copy.data, e->data, size);
		ak_shash_lock(&e->header);
		e->referenced = true;
		ak_shash_unlock(&e->header);
	}
	ak_shash_release(&ak_keyshare, hash);
	if (size == 0)
	{
		ak_count(AK_SHARED_KEY_MISSES);
		return NULL;
	}
	ak_count(AK_SHARED_KEY_HITS);

	info = MemoryContextAlloc(dest, size);
	memcpy(info, copy.data, size);
	ak_keyinfo_relocate(info, base);
	return info;
}

/*
 * Shares the key just read for digest (packed in one chunk, its limiter
 * hints still empty), if the ring has not moved since ak_keyshare_begin
 * and there is room.
 */
void
ak_keyshare_put(const AkKeyShareRead *r, const uint8 *digest, const AkKeyInfo *info)
{
	AkKeyShareKey key;
	uint32		hash;
	void	   *found;
	AkKeyShareEntry *e;
	Size		size = ak_keyinfo_size(info);

	if (!OidIsValid(r->keys_relid) || size > AK_KEYSHARE_ROOM)
		return;
	ak_keyshare_key(&key, digest, r->keys_relid);
	hash = ak_keyshare_hash(&key, sizeof(key));
	if (!ak_shash_find_exclusive(&ak_keyshare, &key, hash, &found, true, NULL,
								 ak_now_us()))
		return;					/* no room: not shared */
	e = found;
	if (pg_atomic_read_u64(unconstify(pg_atomic_uint64 *, r->ring_next)) == r->ring_seen)
	{
		memcpy(e->data, info, size);
		e->size = size;
		e->base = (uintptr_t) info;
		e->generation = r->generation;
	}
	ak_shash_release(&ak_keyshare, hash);
}


/* ---- invalidation ---- */

/*
 * The key of digest changed (NULL: every key): empties its entry, or makes
 * every entry stale.  Called by the ring's publisher holding the
 * ring's lock, at commit, where an error would be a PANIC: the area is
 * attached, and the segments of the digest's partition mapped, since
 * ak_keyshare_prepare -- unless the area grew a segment in between, which
 * this backend then maps here (as dsa_get_address does), the one way left
 * for this to fail.
 */
void
ak_keyshare_forget(const uint8 *digest)
{
	AkKeyShareKey key;

	if (ak_keyshare_shared == NULL)
		return;
	if (digest == NULL)
	{
		pg_atomic_fetch_add_u64(&ak_keyshare_shared->generation, 1);
		return;
	}
	/* this database's entry: no other database's key changed */
	ak_keyshare_key(&key, digest, ak_keyshare_changed_relid);
	if (OidIsValid(key.keys_relid))
	{
		uint32		hash = ak_keyshare_hash(&key, sizeof(key));
		void	   *found;

		(void) ak_shash_find_exclusive(&ak_keyshare, &key, hash, &found, false, NULL, 0);
		if (found)
			((AkKeyShareEntry *) found)->size = 0;
		ak_shash_release(&ak_keyshare, hash);
	}
}

/*
 * A transaction is changing the key of digest in relation relid
 * (apikey.keys; digest NULL: any key, of another table): attaches the area
 * and looks the entry up now, while an error is still allowed, so that
 * ak_keyshare_forget at commit finds what it needs mapped; and remembers
 * which apikey.keys the digests are of.
 */
void
ak_keyshare_prepare(Oid relid, const uint8 *digest)
{
	AkKeyShareKey key;
	uint32		hash;
	void	   *found;

	if (ak_keyshare_shared == NULL)
		return;
	(void) ak_area();
	if (digest == NULL)
		return;
	ak_keyshare_changed_relid = relid;
	ak_keyshare_key(&key, digest, relid);
	hash = ak_keyshare_hash(&key, sizeof(key));
	(void) ak_shash_find(&ak_keyshare, &key, &hash, 1, &found, false, NULL, 0);
	ak_shash_release(&ak_keyshare, hash);
}

/* Entries in the shared cache now, empty or stale ones included. */
int64
ak_keyshare_count(void)
{
	return ak_shash_count(&ak_keyshare);
}
