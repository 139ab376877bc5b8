/*-------------------------------------------------------------------------
 *
 * shash.h
 *	  A partitioned hash table in apikey's dynamic shared memory (area.h)
 *	  that grows with the work, within its class's share of the budget, and
 *	  whose entries a backend may remember (a hint) and go back to without
 *	  any table lock: the one implementation behind apikey's buckets,
 *	  slots, quota counters, cooldowns and usage (shash.c).
 *
 * Locking protocol (every table)
 *	  The table has spec->partitions partitions, each with an LWLock of the
 *	  tranche named after the table, which protects the partition's chains,
 *	  bucket array, free list and counts.  Each entry has a spinlock (the
 *	  AkShashEntry its struct embeds after the key), initialized once when
 *	  the entry's memory is first taken from the area, and never again:
 *	  an entry's memory is never given back, only moved between its
 *	  partition's chains and free lists (or another partition's, under both
 *	  partitions' locks).
 *	  - Membership: finding an entry takes its partition's lock in shared
 *		mode; creating one, in exclusive mode.  A new entry is initialized
 *		(spec->init) before it is live, then made live under its spinlock.
 *		Removing entries takes the partition's lock in exclusive mode; an
 *		entry is made not live under its spinlock (spec->retire) before it
 *		leaves its chain.  A creation that finds no room may take another
 *		partition's lock too, only conditionally, so no wait ever holds two.
 *	  - State: what an entry holds after its key is read and written only
 *		under its spinlock, "live" included, in critical sections of a few
 *		integer operations: no call, no allocation, no error.
 *	  - Hints: a backend may keep the address of an entry and lock it later
 *		with no partition lock.  The entry is trusted only if, under its
 *		spinlock, it is live and holds the expected key
 *		(ak_shash_lock_if_holds).  The memory stays an entry of this table
 *		for the life of the shared memory, so a stale hint is always safe to
 *		lock.
 *	  - Several entries of one partition changed together (a key's limits,
 *		all or nothing) are locked in address order, which makes the
 *		nesting deadlock-free, and released after every state is written.
 *	  - A module may pin an entry -- keep it from being removed -- by state
 *		its spec->retire callback honours (a held slot, a dirty counter);
 *		a pinned entry may be changed with its spinlock alone.
 *	  - A table whose values are too large for a spinlock's few operations
 *		(the shared key cache, auth/keyshare.c) may instead give them to the
 *		partition lock: read holding it shared (ak_shash_find), written
 *		holding it exclusively (ak_shash_find_exclusive); "live" stays the
 *		spinlock's.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_SHASH_H
#define AK_SHASH_H

#include "shmem/area.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "utils/hsearch.h"

/* The most entries one call finds or locks together (a key's limits). */
#define AK_SHASH_MAX_BATCH	8

/* What every entry carries right after its key. */
typedef struct AkShashEntry
{
	slock_t		mutex;
	bool		live;			/* in the table, and holding its key */
	uint32		hash;			/* of the key: the partition lock's */
	dsa_pointer self;			/* where the entry is in the area */
	dsa_pointer next;			/* in its chain or free list: the partition
								 * lock's */
} AkShashEntry;

typedef struct AkShashSpec
{
	const char *name;			/* of the table and its LWLock tranche */
	AkMemClass	mem_class;		/* whose share of the budget it uses */
	Size		keysize;
	Size		entrysize;
	Size		header_offset;	/* of the AkShashEntry in the entry */
	int			partitions;		/* a power of 2 */
	HashValueFunc hash;			/* NULL: a hash of the key's bytes */
	const int  *max_entries;	/* an optional cap (a setting); 0: none */

	/*
	 * Sets up a new entry's state (after the key) from arg, which the
	 * creator passed to ak_shash_find.  Called before the entry is live,
	 * with its partition locked exclusively: nobody else reads it.
	 */
	void		(*init) (void *entry, const void *arg);

	/*
	 * Whether the entry holds nothing worth keeping at now_us; if so, it
	 * clears the live flag (under the entry's spinlock: take it) and
	 * returns true.
	 */
	bool		(*retire) (void *entry, int64 now_us);
} AkShashSpec;

/* A table as a backend sees it. */
typedef struct AkShash
{
	const AkShashSpec *spec;
	struct AkShashShared *shared;
	LWLockPadded *locks;
	uint32		partition_mask; /* partitions - 1 */
	int			partition_bits; /* log2(partitions) */
} AkShash;

extern void ak_shash_request(const AkShashSpec *spec);
extern void ak_shash_attach(AkShash *sh, const AkShashSpec *spec);

extern uint32 ak_shash_hash(const AkShash *sh, const void *key);
extern bool ak_shash_find(AkShash *sh, const void *keys, const uint32 *hash,
						  int n, void **found, bool create, const void *init_arg,
						  int64 now_us);
extern bool ak_shash_find_exclusive(AkShash *sh, const void *key, uint32 hash,
									void **found, bool create, const void *init_arg,
									int64 now_us);
extern uint64 ak_shash_evictions(const AkShash *sh, uint32 hash);

typedef bool (*AkShashVisit) (void *entry, void *arg);
extern void ak_shash_scan(AkShash *sh, LWLockMode mode, AkShashVisit visit, void *arg);
extern int64 ak_shash_sweep(AkShash *sh, int64 now_us);
extern void ak_shash_note_idle(AkShash *sh);

extern int64 ak_shash_count(const AkShash *sh);
extern int64 ak_shash_allocated(const AkShash *sh);
extern void *ak_shash_entry_at(dsa_pointer dp);

/* The lock of the partition of a hash value. */
static inline LWLock *
ak_shash_partition_lock(const AkShash *sh, uint32 hash)
{
	return &sh->locks[hash & sh->partition_mask].lock;
}

/* Releases what ak_shash_find returned holding. */
static inline void
ak_shash_release(const AkShash *sh, uint32 hash)
{
	LWLockRelease(ak_shash_partition_lock(sh, hash));
}

/*
 * The protocol on the hot path, inline: each table wraps these in typed
 * functions (cells.h, store.c) so that the key size and the header's
 * offset are constants and the key comparison is a few instructions.
 */

static inline void
ak_shash_lock(AkShashEntry *header)
{
	SpinLockAcquire(&header->mutex);
}

static inline void
ak_shash_unlock(AkShashEntry *header)
{
	SpinLockRelease(&header->mutex);
}

/* Whether the entry is live and holds key.  Caller holds its spinlock. */
static inline bool
ak_shash_holds(const AkShashEntry *header, const void *entry, const void *key,
			   Size keysize)
{
	return header->live && memcmp(entry, key, keysize) == 0;
}

/*
 * Takes the spinlock of a remembered entry and returns true if it is live
 * and holds key; otherwise releases it and returns false.
 */
static inline bool
ak_shash_lock_if_holds(AkShashEntry *header, const void *entry, const void *key,
					   Size keysize)
{
	SpinLockAcquire(&header->mutex);
	if (ak_shash_holds(header, entry, key, keysize))
		return true;
	SpinLockRelease(&header->mutex);
	return false;
}

/* Takes the entry out of use (spec->retire).  Caller holds its spinlock. */
static inline void
ak_shash_retire_locked(AkShashEntry *header)
{
	header->live = false;
}

#define AK_SHASH_HEADER(entry, offset) \
	((AkShashEntry *) ((char *) (entry) + (offset)))

static inline void
ak_shash_unlock_all(void **entries, int n, Size header_offset)
{
	for (int i = n - 1; i >= 0; i--)
		SpinLockRelease(&AK_SHASH_HEADER(entries[i], header_offset)->mutex);
}

/*
 * Takes the spinlocks of n entries (n <= AK_SHASH_MAX_BATCH) in address
 * order.  With check, gives up -- releasing them all and returning false --
 * unless entry i is live and holds key i (keys contiguous).
 */
static inline bool
ak_shash_lock_all_if_hold(void **entries, int n, const void *keys, Size keysize,
						  Size header_offset, bool check)
{
	void	   *ordered[AK_SHASH_MAX_BATCH];
	const char *k = keys;

	memcpy(ordered, entries, n * sizeof(void *));
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && (uintptr_t) ordered[j - 1] > (uintptr_t) ordered[j]; j--)
		{
			void	   *t = ordered[j];

			ordered[j] = ordered[j - 1];
			ordered[j - 1] = t;
		}
	for (int i = 0; i < n; i++)
		SpinLockAcquire(&AK_SHASH_HEADER(ordered[i], header_offset)->mutex);

	if (check)
		for (int i = 0; i < n; i++)
			if (!ak_shash_holds(AK_SHASH_HEADER(entries[i], header_offset),
								entries[i], k + i * keysize, keysize))
			{
				ak_shash_unlock_all(entries, n, header_offset);
				return false;
			}
	return true;
}

#endif							/* AK_SHASH_H */
