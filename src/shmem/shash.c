/*-------------------------------------------------------------------------
 *
 * shash.c
 *	  A bounded, partitioned hash table in shared memory whose entries can
 *	  be found again through a remembered address (a hint), without any
 *	  table lock.  The locking protocol is in shash.h.
 *
 * The table is a dynahash of fixed size.  Its hints rest on one property
 * of that: an element's memory is never given back, only moved between the
 * table and its free lists, and dynahash never writes to an element's
 * entry area but for the key at insertion.  So every element's spinlock is
 * initialized once, when the shared memory is created (ak_shash_prepare),
 * and a backend holding an old address can always take that spinlock and
 * look at "live" and the key to learn whether the entry is still the one
 * it remembers.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "port/atomics.h"
#include "shmem/shash.h"
#include "storage/shmem.h"

/* After a sweep that freed nothing, the next one waits this long. */
#define AK_SWEEP_BACKOFF_US		(100 * 1000)

typedef struct AkShashShared
{
	int			max_entries;
	pg_atomic_uint64 futile_sweep_at;	/* when a sweep last freed nothing */
} AkShashShared;

/* The longest key a table may have: preparation writes keys of its own. */
#define AK_SHASH_MAX_KEY		64


void
ak_shash_request(const AkShashSpec *spec, int max_entries)
{
	RequestAddinShmemSpace(add_size(MAXALIGN(sizeof(AkShashShared)),
									hash_estimate_size(max_entries, spec->entrysize)));
	RequestNamedLWLockTranche(spec->name, spec->partitions);
}

/*
 * Gives every element of the table its spinlock and a false "live", once:
 * each element is drawn from the free lists with a made-up key and given
 * back.  Runs when the shared memory is created.
 */
static void
ak_shash_prepare(AkShash *sh)
{
	char		key[AK_SHASH_MAX_KEY];
	uint64		n;

	Assert(sh->spec->keysize <= sizeof(key) && sh->spec->keysize >= sizeof(n));
	memset(key, 0, sizeof(key));
	for (n = 0;; n++)
	{
		char	   *element;
		AkShashEntry *header;

		memcpy(key, &n, sizeof(n));
		element = hash_search(sh->table, key, HASH_ENTER_NULL, NULL);
		if (element == NULL)
			break;
		header = AK_SHASH_HEADER(element, sh->spec->header_offset);
		SpinLockInit(&header->mutex);
		header->live = false;
	}
	for (uint64 i = 0; i < n; i++)
	{
		memcpy(key, &i, sizeof(i));
		hash_search(sh->table, key, HASH_REMOVE, NULL);
	}
}

/*
 * Creates or attaches the table; returns true if it was created.  Caller
 * holds AddinShmemInitLock.
 */
bool
ak_shash_attach(AkShash *sh, const AkShashSpec *spec, int max_entries)
{
	char		name[SHMEM_INDEX_KEYSIZE];
	HASHCTL		info;
	int			flags = HASH_ELEM | HASH_PARTITION | HASH_FIXED_SIZE;
	bool		found;

	Assert(spec->partitions > 0 && (spec->partitions & (spec->partitions - 1)) == 0);
	sh->spec = spec;
	sh->partition_mask = spec->partitions - 1;
	snprintf(name, sizeof(name), "%s state", spec->name);
	sh->shared = ShmemInitStruct(name, sizeof(AkShashShared), &found);
	if (!found)
	{
		sh->shared->max_entries = max_entries;
		pg_atomic_init_u64(&sh->shared->futile_sweep_at, 0);
	}
	sh->locks = GetNamedLWLockTranche(spec->name);

	memset(&info, 0, sizeof(info));
	info.keysize = spec->keysize;
	info.entrysize = spec->entrysize;
	info.num_partitions = spec->partitions;
	if (spec->hash)
	{
		info.hash = spec->hash;
		flags |= HASH_FUNCTION;
	}
	else
		flags |= HASH_BLOBS;
	sh->table = ShmemInitHash(spec->name, max_entries, max_entries, &info, flags);
	if (!found)
		ak_shash_prepare(sh);
	return !found;
}

uint32
ak_shash_hash(const AkShash *sh, const void *key)
{
	return get_hash_value(sh->table, key);
}

static void ak_shash_make_room(AkShash *sh, int64 now_us);

/* Makes a new entry live.  Caller holds its partition lock exclusively. */
static void
ak_shash_publish(const AkShash *sh, void *entry)
{
	AkShashEntry *header = AK_SHASH_HEADER(entry, sh->spec->header_offset);

	SpinLockAcquire(&header->mutex);
	header->live = true;
	SpinLockRelease(&header->mutex);
}

/*
 * Finds or creates each of the n entries, all in one partition.  Caller
 * holds that partition's lock exclusively.  If one cannot be created, the
 * entries this call created -- never live -- are removed and false is
 * returned.
 */
static bool
ak_shash_enter_all(AkShash *sh, const char *keys, const uint32 *hash, int n,
				   void **found, const void *init_arg)
{
	Size		keysize = sh->spec->keysize;
	bool		created[AK_SHASH_MAX_BATCH];

	Assert(n <= AK_SHASH_MAX_BATCH);
	for (int i = 0; i < n; i++)
	{
		bool		existed;

		found[i] = hash_search_with_hash_value(sh->table, keys + i * keysize,
											   hash[i], HASH_ENTER_NULL, &existed);
		created[i] = (found[i] != NULL && !existed);
		if (found[i] == NULL)
		{
			for (int j = 0; j < i; j++)
				if (created[j])
					hash_search_with_hash_value(sh->table, keys + j * keysize,
												hash[j], HASH_REMOVE, NULL);
			return false;
		}
	}
	for (int i = 0; i < n; i++)
		if (created[i])
		{
			sh->spec->init(found[i], init_arg);
			ak_shash_publish(sh, found[i]);
		}
	return true;
}

/*
 * Finds the n entries keys[] (contiguous keys, all in the partition of
 * hash[0]).  Returns with the partition lock held -- in shared mode if all
 * existed, exclusive otherwise -- with the entries in found[] (NULL for
 * those missing when !create); or false, without the lock, when there is
 * no room (after a sweep at now_us, for a table that sweeps when full).
 * New entries are set up by spec->init(entry, init_arg).
 */
bool
ak_shash_find(AkShash *sh, const void *keys, const uint32 *hash, int n,
			  void **found, bool create, const void *init_arg, int64 now_us)
{
	LWLock	   *lock = ak_shash_partition_lock(sh, hash[0]);
	const char *k = keys;
	bool		missing = false;

	LWLockAcquire(lock, LW_SHARED);
	for (int i = 0; i < n; i++)
	{
		found[i] = hash_search_with_hash_value(sh->table, k + i * sh->spec->keysize,
											   hash[i], HASH_FIND, NULL);
		missing |= (found[i] == NULL);
	}
	if (!missing || !create)
		return true;
	LWLockRelease(lock);

	for (int attempt = 0; attempt < 2; attempt++)
	{
		LWLockAcquire(lock, LW_EXCLUSIVE);
		if (ak_shash_enter_all(sh, k, hash, n, found, init_arg))
			return true;
		LWLockRelease(lock);
		if (attempt == 0)
			ak_shash_make_room(sh, now_us);
	}
	return false;
}

/*
 * Calls visit(entry, arg) for every entry, holding every partition lock in
 * mode (ascending order).  With LW_EXCLUSIVE, an entry for which visit
 * returns true -- after making it not live -- is removed.
 */
void
ak_shash_scan(AkShash *sh, LWLockMode mode, AkShashVisit visit, void *arg)
{
	HASH_SEQ_STATUS seq;
	void	   *entry;

	for (int i = 0; i < sh->spec->partitions; i++)
		LWLockAcquire(&sh->locks[i].lock, mode);
	hash_seq_init(&seq, sh->table);
	while ((entry = hash_seq_search(&seq)) != NULL)
	{
		if (visit(entry, arg))
		{
			Assert(mode == LW_EXCLUSIVE);
			hash_search(sh->table, entry, HASH_REMOVE, NULL);
		}
	}
	for (int i = sh->spec->partitions - 1; i >= 0; i--)
		LWLockRelease(&sh->locks[i].lock);
}

typedef struct AkSweep
{
	AkShash    *sh;
	int64		now_us;
	int64		freed;
} AkSweep;

static bool
ak_shash_retire_visit(void *entry, void *arg)
{
	AkSweep    *sweep = arg;

	if (!sweep->sh->spec->retire(entry, sweep->now_us))
		return false;
	sweep->freed++;
	return true;
}

/*
 * Removes every entry that holds nothing (spec->retire) at now_us, holding
 * every partition lock exclusively; returns how many.
 */
int64
ak_shash_sweep(AkShash *sh, int64 now_us)
{
	AkSweep		sweep = {sh, now_us, 0};

	ak_shash_scan(sh, LW_EXCLUSIVE, ak_shash_retire_visit, &sweep);
	return sweep.freed;
}

/*
 * A table without room sweeps, if spec->sweep_when_full, at most once per
 * AK_SWEEP_BACKOFF_US after a sweep that found nothing: a sweep stops the
 * whole table.  Another backend may make room too: the caller tries again.
 */
static void
ak_shash_make_room(AkShash *sh, int64 now_us)
{
	if (!sh->spec->sweep_when_full ||
		now_us - (int64) pg_atomic_read_u64(&sh->shared->futile_sweep_at) < AK_SWEEP_BACKOFF_US)
		return;
	if (ak_shash_sweep(sh, now_us) == 0)
		pg_atomic_write_u64(&sh->shared->futile_sweep_at, (uint64) now_us);
}

/* Every entry, without locks: for the postmaster alone (visit must not remove). */
void
ak_shash_scan_unlocked(AkShash *sh, AkShashVisit visit, void *arg)
{
	HASH_SEQ_STATUS seq;
	void	   *entry;

	hash_seq_init(&seq, sh->table);
	while ((entry = hash_seq_search(&seq)) != NULL)
		(void) visit(entry, arg);
}

/*
 * Finds or creates one entry without locks, for the postmaster alone
 * (loading saved state); NULL when the table is full.
 */
void *
ak_shash_insert_unlocked(AkShash *sh, const void *key, const void *init_arg)
{
	bool		found;
	void	   *entry = hash_search(sh->table, key, HASH_ENTER_NULL, &found);

	if (entry != NULL && !found)
	{
		sh->spec->init(entry, init_arg);
		AK_SHASH_HEADER(entry, sh->spec->header_offset)->live = true;
	}
	return entry;
}

int64
ak_shash_count(const AkShash *sh)
{
	return sh->table ? hash_get_num_entries(sh->table) : 0;
}

int64
ak_shash_capacity(const AkShash *sh)
{
	return sh->shared ? sh->shared->max_entries : 0;
}
