/*-------------------------------------------------------------------------
 *
 * shash.c
 *	  A partitioned hash table in apikey's dynamic shared memory that grows
 *	  with the work and whose entries can be found again through a
 *	  remembered address (a hint), without any table lock.  The locking
 *	  protocol is in shash.h.
 *
 * Each partition is a small hash table of its own: an array of chains in
 * the area, doubled when the partition holds more entries than chains, and
 * a free list.  Entries are taken from the area in chunks (each chunk the
 * size of what the partition already has, up to 64 kB), so memory follows
 * use; they are never given back, which is what makes hints safe: the
 * spinlock of an entry is initialized when its chunk is taken, and a
 * backend holding an old address can always take that spinlock and look at
 * "live" and the key to learn whether the entry is still the one it
 * remembers.  PostgreSQL's dshash frees its entries, so it cannot offer
 * that; the cumulative statistics system, which also keeps addresses of
 * shared entries, solves it with reference counts that a rate limiter's
 * hot path cannot afford.
 *
 * When a partition needs an entry and neither its free list nor the area
 * (within the class's share of apikey.shared_memory_budget, or the table's
 * optional cap) gives one, idle entries (spec->retire) are reused: first
 * the partition's own, then other partitions', taken only if their lock is
 * free at that moment.  A search that finds nothing idle is not repeated
 * for AK_REUSE_BACKOFF_US, so a full table answers quickly.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "common/hashfn.h"
#include "port/atomics.h"
#include "port/pg_bitutils.h"
#include "shmem/shash.h"
#include "storage/shmem.h"

#define AK_SHASH_MIN_BUCKETS	8
#define AK_SHASH_MIN_CHUNK		4	/* entries */
#define AK_SHASH_MAX_CHUNK_BYTES (64 * 1024)

/* Entries moved to a partition that found none, from another's idle ones. */
#define AK_SHASH_STEAL			16

/*
 * After a search for idle entries that found none, the next one waits this
 * long -- unless the table's module said that entries may have become idle
 * since (ak_shash_note_idle).
 */
#define AK_REUSE_BACKOFF_US		(100 * 1000)

/* A partition's state: its lock's. */
typedef struct AkShashPartition
{
	dsa_pointer buckets;		/* nbuckets chain heads */
	dsa_pointer free;			/* entries not in use */
	uint32		nbuckets;		/* 0 or a power of 2 */
	uint32		count;			/* entries in the chains */
	uint32		allocated;		/* entries in the chains and the free list */
	int64		futile_at;		/* when a search for idle entries found none */
	uint64		futile_epoch;	/* and the idle epoch then */
	uint64		evictions;		/* entries removed from the chains, ever */
} AkShashPartition;

typedef struct AkShashShared
{
	pg_atomic_uint64 count;		/* entries in the chains of all partitions */
	pg_atomic_uint64 allocated; /* entries taken from the area */
	pg_atomic_uint32 cursor;	/* the next partition to look in for idle
								 * entries */
	pg_atomic_uint64 futile_at; /* when a search of them all found none */
	pg_atomic_uint64 futile_epoch;	/* and the idle epoch then */
	pg_atomic_uint64 idle_epoch;	/* ak_shash_note_idle: entries may be idle */
	AkShashPartition partition[FLEXIBLE_ARRAY_MEMBER];
} AkShashShared;


static Size
ak_shash_shared_size(const AkShashSpec *spec)
{
	return add_size(offsetof(AkShashShared, partition),
					mul_size(spec->partitions, sizeof(AkShashPartition)));
}

void
ak_shash_request(const AkShashSpec *spec)
{
	RequestAddinShmemSpace(ak_shash_shared_size(spec));
	RequestNamedLWLockTranche(spec->name, spec->partitions);
}

/* Creates or attaches the table.  Caller holds AddinShmemInitLock. */
void
ak_shash_attach(AkShash *sh, const AkShashSpec *spec)
{
	char		name[SHMEM_INDEX_KEYSIZE];
	bool		found;

	Assert(spec->partitions > 0 && (spec->partitions & (spec->partitions - 1)) == 0);
	sh->spec = spec;
	sh->partition_mask = spec->partitions - 1;
	sh->partition_bits = pg_leftmost_one_pos32(spec->partitions);
	snprintf(name, sizeof(name), "%s table", spec->name);
	sh->shared = ShmemInitStruct(name, ak_shash_shared_size(spec), &found);
	if (!found)
	{
		AkShashShared *s = sh->shared;

		pg_atomic_init_u64(&s->count, 0);
		pg_atomic_init_u64(&s->allocated, 0);
		pg_atomic_init_u32(&s->cursor, 0);
		pg_atomic_init_u64(&s->futile_at, 0);
		pg_atomic_init_u64(&s->futile_epoch, 0);
		pg_atomic_init_u64(&s->idle_epoch, 0);
		for (int p = 0; p < spec->partitions; p++)
		{
			memset(&s->partition[p], 0, sizeof(AkShashPartition));
			s->partition[p].buckets = InvalidDsaPointer;
			s->partition[p].free = InvalidDsaPointer;
		}
	}
	sh->locks = GetNamedLWLockTranche(spec->name);
}

uint32
ak_shash_hash(const AkShash *sh, const void *key)
{
	if (sh->spec->hash)
		return sh->spec->hash(key, sh->spec->keysize);
	return hash_bytes((const unsigned char *) key, (int) sh->spec->keysize);
}

void *
ak_shash_entry_at(dsa_pointer dp)
{
	return dsa_get_address(ak_area(), dp);
}


/* ---- one partition; caller holds its lock ---- */

static inline AkShashEntry *
ak_header(const AkShash *sh, void *entry)
{
	return AK_SHASH_HEADER(entry, sh->spec->header_offset);
}

static inline dsa_pointer *
ak_chain(const AkShash *sh, dsa_area *a, AkShashPartition *part, uint32 hash)
{
	dsa_pointer *buckets = dsa_get_address(a, part->buckets);

	return &buckets[(hash >> sh->partition_bits) & (part->nbuckets - 1)];
}

static void *
ak_shash_lookup(const AkShash *sh, dsa_area *a, AkShashPartition *part,
				const void *key, uint32 hash)
{
	dsa_pointer dp;

	if (part->nbuckets == 0)
		return NULL;
	for (dp = *ak_chain(sh, a, part, hash); DsaPointerIsValid(dp);)
	{
		char	   *entry = dsa_get_address(a, dp);
		AkShashEntry *h = ak_header(sh, entry);

		if (h->hash == hash && memcmp(entry, key, sh->spec->keysize) == 0)
			return entry;
		dp = h->next;
	}
	return NULL;
}

/*
 * Takes a chunk of entries from the area for the partition's free list,
 * each with its spinlock, never to be initialized again.  False when the
 * budget or the table's cap does not allow it.
 */
static bool
ak_shash_take_chunk(AkShash *sh, dsa_area *a, AkShashPartition *part)
{
	const AkShashSpec *spec = sh->spec;
	int			cap = spec->max_entries ? *spec->max_entries : 0;
	uint64		n = Min(Max(part->allocated, AK_SHASH_MIN_CHUNK),
						AK_SHASH_MAX_CHUNK_BYTES / spec->entrysize);
	uint64		before = pg_atomic_fetch_add_u64(&sh->shared->allocated, n);
	dsa_pointer chunk;
	char	   *base;

	if (cap > 0 && before + n > (uint64) cap)
	{
		uint64		over = before + n - Max((uint64) cap, before);

		pg_atomic_fetch_sub_u64(&sh->shared->allocated, over);
		n -= over;
		if (n == 0)
			return false;
	}
	chunk = ak_area_allocate(spec->mem_class, n * spec->entrysize);
	if (!DsaPointerIsValid(chunk))
	{
		pg_atomic_fetch_sub_u64(&sh->shared->allocated, n);
		return false;
	}
	base = dsa_get_address(a, chunk);
	for (int64 i = n - 1; i >= 0; i--)
	{
		AkShashEntry *h = ak_header(sh, base + i * spec->entrysize);

		SpinLockInit(&h->mutex);
		h->live = false;
		h->self = chunk + i * spec->entrysize;
		h->next = part->free;
		part->free = h->self;
	}
	part->allocated += n;
	return true;
}

/*
 * Doubles the partition's chains (or makes its first ones).  When the
 * budget does not allow it the chains just get longer, unless there are
 * none yet.
 */
static void
ak_shash_grow_chains(AkShash *sh, dsa_area *a, AkShashPartition *part)
{
	uint32		n = part->nbuckets ? part->nbuckets * 2 : AK_SHASH_MIN_BUCKETS;
	dsa_pointer dp = ak_area_allocate(sh->spec->mem_class, n * sizeof(dsa_pointer));
	dsa_pointer *chains;

	if (!DsaPointerIsValid(dp))
		return;
	chains = dsa_get_address(a, dp);
	for (uint32 i = 0; i < n; i++)
		chains[i] = InvalidDsaPointer;
	if (part->nbuckets > 0)
	{
		dsa_pointer *old = dsa_get_address(a, part->buckets);

		for (uint32 b = 0; b < part->nbuckets; b++)
			for (dsa_pointer e = old[b]; DsaPointerIsValid(e);)
			{
				AkShashEntry *h = ak_header(sh, dsa_get_address(a, e));
				dsa_pointer next = h->next;
				uint32		i = (h->hash >> sh->partition_bits) & (n - 1);

				h->next = chains[i];
				chains[i] = e;
				e = next;
			}
		ak_area_free(sh->spec->mem_class, part->buckets,
					 part->nbuckets * sizeof(dsa_pointer));
	}
	part->buckets = dp;
	part->nbuckets = n;
}

/* Puts an entry out of its chain on a free list. */
static inline void
ak_shash_free_entry(AkShashEntry *h, AkShashPartition *to)
{
	h->next = to->free;
	to->free = h->self;
}

/*
 * Walks every chain of the partition calling visit(entry, arg); with
 * remove, an entry for which visit returns true (it made the entry not
 * live) leaves its chain for the free list.  Returns how many left.
 */
static int64
ak_shash_walk(AkShash *sh, dsa_area *a, AkShashPartition *part, bool remove,
			  AkShashVisit visit, void *arg)
{
	dsa_pointer *chains;
	int64		removed = 0;

	if (part->nbuckets == 0)
		return 0;
	chains = dsa_get_address(a, part->buckets);
	for (uint32 b = 0; b < part->nbuckets; b++)
	{
		dsa_pointer *link = &chains[b];

		while (DsaPointerIsValid(*link))
		{
			char	   *entry = dsa_get_address(a, *link);
			AkShashEntry *h = ak_header(sh, entry);

			if (visit(entry, arg) && remove)
			{
				*link = h->next;
				ak_shash_free_entry(h, part);
				removed++;
			}
			else
				link = &h->next;
		}
	}
	part->count -= removed;
	part->evictions += removed;
	pg_atomic_fetch_sub_u64(&sh->shared->count, removed);
	return removed;
}

typedef struct AkRetire
{
	const AkShashSpec *spec;
	int64		now_us;
} AkRetire;

static bool
ak_shash_retire_visit(void *entry, void *arg)
{
	AkRetire   *r = arg;

	return r->spec->retire(entry, r->now_us);
}

/* Moves the partition's idle entries to its free list; returns how many. */
static int64
ak_shash_retire_idle(AkShash *sh, dsa_area *a, AkShashPartition *part, int64 now_us)
{
	AkRetire	r = {sh->spec, now_us};

	return ak_shash_walk(sh, a, part, true, ak_shash_retire_visit, &r);
}

/* Moves up to n entries from one partition's free list to another's. */
static void
ak_shash_move_free(AkShash *sh, dsa_area *a, AkShashPartition *from,
				   AkShashPartition *to, int n)
{
	for (; n > 0 && DsaPointerIsValid(from->free); n--)
	{
		AkShashEntry *h = ak_header(sh, dsa_get_address(a, from->free));

		from->free = h->next;
		from->allocated--;
		ak_shash_free_entry(h, to);
		to->allocated++;
	}
}

/*
 * Finds idle entries in the other partitions for partition p, whose lock
 * the caller holds: each is locked only if free right now, so two backends
 * doing this never wait on each other.
 */
static bool
ak_shash_reuse_elsewhere(AkShash *sh, dsa_area *a, uint32 p, int64 now_us)
{
	AkShashShared *s = sh->shared;
	uint64		epoch = pg_atomic_read_u64(&s->idle_epoch);

	if (now_us - (int64) pg_atomic_read_u64(&s->futile_at) < AK_REUSE_BACKOFF_US &&
		pg_atomic_read_u64(&s->futile_epoch) == epoch)
		return false;
	for (int i = 0; i < sh->spec->partitions; i++)
	{
		uint32		q = pg_atomic_fetch_add_u32(&s->cursor, 1) & sh->partition_mask;
		LWLock	   *lock = &sh->locks[q].lock;
		bool		found;

		if (q == p || !LWLockConditionalAcquire(lock, LW_EXCLUSIVE))
			continue;
		(void) ak_shash_retire_idle(sh, a, &s->partition[q], now_us);
		found = DsaPointerIsValid(s->partition[q].free);
		ak_shash_move_free(sh, a, &s->partition[q], &s->partition[p], AK_SHASH_STEAL);
		LWLockRelease(lock);
		if (found)
			return true;
	}
	pg_atomic_write_u64(&s->futile_at, (uint64) now_us);
	pg_atomic_write_u64(&s->futile_epoch, epoch);
	return false;
}

/*
 * Gives partition p a free entry if there is room anywhere: more memory,
 * or idle entries of its own or of other partitions.
 */
static bool
ak_shash_make_room(AkShash *sh, dsa_area *a, uint32 p, int64 now_us)
{
	AkShashPartition *part = &sh->shared->partition[p];
	uint64		epoch = pg_atomic_read_u64(&sh->shared->idle_epoch);

	if (ak_shash_take_chunk(sh, a, part))
		return true;
	if (now_us - part->futile_at >= AK_REUSE_BACKOFF_US || part->futile_epoch != epoch)
	{
		if (ak_shash_retire_idle(sh, a, part, now_us) > 0)
			return true;
		part->futile_at = now_us;
		part->futile_epoch = epoch;
	}
	return ak_shash_reuse_elsewhere(sh, a, p, now_us);
}

/* Takes a free entry for key and links it into its chain, not live yet. */
static void *
ak_shash_link_new(AkShash *sh, dsa_area *a, uint32 p, const void *key,
				  uint32 hash, int64 now_us)
{
	AkShashPartition *part = &sh->shared->partition[p];
	dsa_pointer *chain;
	char	   *entry;
	AkShashEntry *h;

	if (part->nbuckets == 0)
		ak_shash_grow_chains(sh, a, part);
	if (part->nbuckets == 0 ||
		(!DsaPointerIsValid(part->free) && !ak_shash_make_room(sh, a, p, now_us)))
		return NULL;

	entry = dsa_get_address(a, part->free);
	h = ak_header(sh, entry);
	part->free = h->next;
	memcpy(entry, key, sh->spec->keysize);
	h->hash = hash;
	chain = ak_chain(sh, a, part, hash);
	h->next = *chain;
	*chain = h->self;
	part->count++;
	pg_atomic_fetch_add_u64(&sh->shared->count, 1);
	return entry;
}

/* Takes an entry that was never live out of its chain again. */
static void
ak_shash_unlink(AkShash *sh, dsa_area *a, AkShashPartition *part, void *entry)
{
	AkShashEntry *h = ak_header(sh, entry);
	dsa_pointer *link = ak_chain(sh, a, part, h->hash);

	while (*link != h->self)
		link = &ak_header(sh, dsa_get_address(a, *link))->next;
	*link = h->next;
	ak_shash_free_entry(h, part);
	part->count--;
	pg_atomic_fetch_sub_u64(&sh->shared->count, 1);
}

/*
 * Finds or creates each of the n entries, all in partition p.  Caller
 * holds that partition's lock exclusively.  If one cannot be created, the
 * entries this call created -- never live -- are removed and false is
 * returned.
 */
static bool
ak_shash_enter_all(AkShash *sh, dsa_area *a, uint32 p, const char *keys,
				   const uint32 *hash, int n, void **found,
				   const void *init_arg, int64 now_us)
{
	AkShashPartition *part = &sh->shared->partition[p];
	Size		keysize = sh->spec->keysize;
	bool		created[AK_SHASH_MAX_BATCH];

	Assert(n <= AK_SHASH_MAX_BATCH);
	for (int i = 0; i < n; i++)
	{
		found[i] = ak_shash_lookup(sh, a, part, keys + i * keysize, hash[i]);
		created[i] = (found[i] == NULL);
		if (found[i] == NULL)
			found[i] = ak_shash_link_new(sh, a, p, keys + i * keysize, hash[i], now_us);
		if (found[i] == NULL)
		{
			for (int j = 0; j < i; j++)
				if (created[j])
					ak_shash_unlink(sh, a, part, found[j]);
			return false;
		}
	}
	for (int i = 0; i < n; i++)
		if (created[i])
		{
			AkShashEntry *h = ak_header(sh, found[i]);

			sh->spec->init(found[i], init_arg);
			SpinLockAcquire(&h->mutex);
			h->live = true;
			SpinLockRelease(&h->mutex);
		}
	if (part->count > part->nbuckets)
		ak_shash_grow_chains(sh, a, part);
	return true;
}


/* ---- the table ---- */

/*
 * Finds the n entries keys[] (contiguous keys, all in the partition of
 * hash[0]).  Returns with the partition lock held -- in shared mode if all
 * existed, exclusive otherwise -- with the entries in found[] (NULL for
 * those missing when !create); or false, without the lock, when there is
 * no room even for idle entries' reuse at now_us.  New entries are set up
 * by spec->init(entry, init_arg).  Not to be called holding a spinlock or
 * another partition's lock.
 */
bool
ak_shash_find(AkShash *sh, const void *keys, const uint32 *hash, int n,
			  void **found, bool create, const void *init_arg, int64 now_us)
{
	dsa_area   *a = ak_area();
	uint32		p = hash[0] & sh->partition_mask;
	AkShashPartition *part = &sh->shared->partition[p];
	LWLock	   *lock = &sh->locks[p].lock;
	const char *k = keys;
	bool		missing = false;

	LWLockAcquire(lock, LW_SHARED);
	for (int i = 0; i < n; i++)
	{
		found[i] = ak_shash_lookup(sh, a, part, k + i * sh->spec->keysize, hash[i]);
		missing |= (found[i] == NULL);
	}
	if (!missing || !create)
		return true;
	LWLockRelease(lock);

	LWLockAcquire(lock, LW_EXCLUSIVE);
	if (ak_shash_enter_all(sh, a, p, k, hash, n, found, init_arg, now_us))
		return true;
	LWLockRelease(lock);
	return false;
}

/*
 * Finds the entry key -- or, with create, creates it if missing -- and
 * returns with its partition's lock held exclusively, for a module whose
 * entries' state is the partition lock's rather than the spinlock's (the
 * shared key cache: it copies a whole value in and out).  *found is NULL
 * when it is missing and !create.  Returns false, without the lock, when
 * there is no room even for idle entries' reuse at now_us.  Not to be
 * called holding a spinlock or another partition's lock.
 */
bool
ak_shash_find_exclusive(AkShash *sh, const void *key, uint32 hash, void **found,
						bool create, const void *init_arg, int64 now_us)
{
	dsa_area   *a = ak_area();
	uint32		p = hash & sh->partition_mask;
	LWLock	   *lock = &sh->locks[p].lock;

	LWLockAcquire(lock, LW_EXCLUSIVE);
	if (!create)
	{
		*found = ak_shash_lookup(sh, a, &sh->shared->partition[p], key, hash);
		return true;
	}
	if (ak_shash_enter_all(sh, a, p, key, &hash, 1, found, init_arg, now_us))
		return true;
	LWLockRelease(lock);
	return false;
}

/*
 * How many entries ever left the partition of hash: a reader that saw an
 * entry missing can learn whether one left since.  Caller holds that
 * partition's lock.
 */
uint64
ak_shash_evictions(const AkShash *sh, uint32 hash)
{
	return sh->shared->partition[hash & sh->partition_mask].evictions;
}

/*
 * Calls visit(entry, arg) for every entry, one partition at a time, holding
 * its lock in mode.  With LW_EXCLUSIVE, an entry for which visit returns
 * true -- after making it not live -- is removed.
 */
void
ak_shash_scan(AkShash *sh, LWLockMode mode, AkShashVisit visit, void *arg)
{
	dsa_area   *a = ak_area();

	for (int p = 0; p < sh->spec->partitions; p++)
	{
		LWLockAcquire(&sh->locks[p].lock, mode);
		(void) ak_shash_walk(sh, a, &sh->shared->partition[p],
							 mode == LW_EXCLUSIVE, visit, arg);
		LWLockRelease(&sh->locks[p].lock);
	}
}

/* Removes every entry that holds nothing (spec->retire) at now_us; returns how many. */
int64
ak_shash_sweep(AkShash *sh, int64 now_us)
{
	dsa_area   *a = ak_area();
	int64		freed = 0;

	for (int p = 0; p < sh->spec->partitions; p++)
	{
		LWLockAcquire(&sh->locks[p].lock, LW_EXCLUSIVE);
		freed += ak_shash_retire_idle(sh, a, &sh->shared->partition[p], now_us);
		LWLockRelease(&sh->locks[p].lock);
	}
	return freed;
}

/*
 * Says that entries may have become idle -- written, released -- so that a
 * creation that finds no room looks for them again at once.
 */
void
ak_shash_note_idle(AkShash *sh)
{
	pg_atomic_fetch_add_u64(&sh->shared->idle_epoch, 1);
}

/* Entries in the table now. */
int64
ak_shash_count(const AkShash *sh)
{
	return sh->shared ? (int64) pg_atomic_read_u64(&sh->shared->count) : 0;
}

/* Entries taken from the area, in use or free. */
int64
ak_shash_allocated(const AkShash *sh)
{
	return sh->shared ? (int64) pg_atomic_read_u64(&sh->shared->allocated) : 0;
}
