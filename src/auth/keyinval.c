/*-------------------------------------------------------------------------
 *
 * keyinval.c
 *	  Transactional, cluster-wide invalidation of the verification caches
 *	  (keycache.c).
 *
 * Triggers on apikey.keys (every change to a column verification uses)
 * and apikey.tiers (every change) record the affected digests in a list
 * kept for the current transaction.  When the transaction commits, at
 * XACT_EVENT_COMMIT (after it became visible to new snapshots), the list is
 * appended to a ring of messages in shared memory and the ring's sequence
 * number advances.  On abort nothing is published.  A transaction that
 * changes more keys than the ring holds, or a tier, publishes one message:
 * empty every cache.
 *
 * Hot standbys run no triggers.  The same triggers queue a relcache
 * invalidation of the changed table, which is written into the commit
 * record; replayed on a standby it makes every backend there empty its
 * cache (keycache.c).
 *
 * Locking protocol
 *	  AkInvalRing.lock (an LWLock of tranche "apikey invalidation"):
 *	  publishers hold it LW_EXCLUSIVE to write messages and then advance
 *	  AkInvalRing.next; readers hold it LW_SHARED to copy messages out, and
 *	  apply them after releasing it.  AkInvalRing.next is also read without
 *	  the lock, as the fast "anything new?" test; a reader that sees it move
 *	  takes the lock before touching a message, so it never reads one that
 *	  is half written.  The publisher also empties the shared key cache's
 *	  entries of the changed digests while it holds the lock (taking their
 *	  partition locks after it: the one nesting; keyshare.c), so that a
 *	  reader that took the lock after the ring moved finds them emptied.
 *	  Nothing else is done while the lock is held.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "auth/keyinval.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/inval.h"
#include "utils/memutils.h"

typedef struct AkInvalRing
{
	LWLock	   *lock;
	pg_atomic_uint64 next;		/* sequence number of the next message */
	AkInvalMessage messages[AK_INVAL_RING_SIZE];
} AkInvalRing;

static AkInvalRing *ak_ring = NULL;
pg_atomic_uint64 *ak_inval_next = NULL;

/* digests changed by the current transaction (in TopTransactionContext) */
static List *ak_pending = NIL;
static bool ak_pending_all = false;
static bool ak_pending_relcache_queued = false;


/* ---- shared memory ---- */

Size
ak_inval_shmem_size(void)
{
	return MAXALIGN(sizeof(AkInvalRing));
}

/* Caller holds AddinShmemInitLock; the tranche was requested with the space. */
void
ak_inval_shmem_init(void)
{
	bool		found;

	ak_ring = ShmemInitStruct("apikey invalidation ring",
							  sizeof(AkInvalRing), &found);
	if (!found)
	{
		ak_ring->lock = &(GetNamedLWLockTranche("apikey invalidation"))->lock;
		pg_atomic_init_u64(&ak_ring->next, 0);
	}
	ak_inval_next = &ak_ring->next;
}


/* ---- the ring ---- */

/*
 * Copies the messages from sequence number "from" on into out (room for
 * AK_INVAL_RING_SIZE), sets *next to the sequence number after them, and
 * returns how many there are -- or -1 when the reader fell more than the
 * ring's size behind, and must empty its cache.
 */
int
ak_inval_ring_read(uint64 from, uint64 *next, AkInvalMessage *out)
{
	uint64		count;

	LWLockAcquire(ak_ring->lock, LW_SHARED);
	*next = pg_atomic_read_u64(&ak_ring->next);
	count = *next - from;
	if (count <= AK_INVAL_RING_SIZE)
		for (uint64 i = 0; i < count; i++)
			out[i] = ak_ring->messages[(from + i) % AK_INVAL_RING_SIZE];
	LWLockRelease(ak_ring->lock);
	return count <= AK_INVAL_RING_SIZE ? (int) count : -1;
}

/*
 * The ring's sequence number, read under its lock: after any publisher
 * that advanced it has also emptied the shared cache's entries (see
 * ak_inval_publish).
 */
uint64
ak_inval_ring_position(void)
{
	uint64		next;

	LWLockAcquire(ak_ring->lock, LW_SHARED);
	next = pg_atomic_read_u64(&ak_ring->next);
	LWLockRelease(ak_ring->lock);
	return next;
}

/*
 * Appends this transaction's changes to the ring, then, still holding its
 * lock, calls forget for each changed digest (NULL: every key), so that a
 * backend that read the ring under the lock is past both (keyshare.c).
 * Cannot fail, nor may forget.
 */
void
ak_inval_publish(void (*forget) (const uint8 *digest))
{
	uint64		next;

	LWLockAcquire(ak_ring->lock, LW_EXCLUSIVE);
	next = pg_atomic_read_u64(&ak_ring->next);
	if (ak_pending_all)
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
			memcpy(msg->digest, lfirst(lc), AK_DIGEST_LEN);
			next++;
		}
	}
	pg_atomic_write_u64(&ak_ring->next, next);
	if (ak_pending_all)
		forget(NULL);
	else
	{
		ListCell   *lc;

		foreach(lc, ak_pending)
			forget(lfirst(lc));
	}
	LWLockRelease(ak_ring->lock);
}


/* ---- this transaction's changes ---- */

/*
 * Records that the current transaction changed the key of digest in
 * relation relid (digest NULL: any key, as a change of a tier does).
 */
AkInvalNote
ak_inval_note(Oid relid, const uint8 *digest)
{
	MemoryContext old;

	if (!ak_pending_relcache_queued)
	{
		/* for hot standbys: travels in the commit record */
		CacheInvalidateRelcacheByRelid(relid);
		ak_pending_relcache_queued = true;
	}
	if (digest == NULL || list_length(ak_pending) >= AK_INVAL_RING_SIZE)
	{
		ak_pending_all = true;
		return AK_INVAL_ALL;
	}
	if (ak_pending_all)
		return AK_INVAL_ALL_ALREADY;
	old = MemoryContextSwitchTo(TopTransactionContext);
	ak_pending = lappend(ak_pending, memcpy(palloc(AK_DIGEST_LEN), digest, AK_DIGEST_LEN));
	MemoryContextSwitchTo(old);
	return AK_INVAL_ONE;
}

bool
ak_inval_changed(void)
{
	return ak_pending != NIL || ak_pending_all;
}

/* The digests changed so far; *all when every key counts as changed. */
const List *
ak_inval_pending(bool *all)
{
	*all = ak_pending_all;
	return ak_pending;
}

/* A prepared transaction could not tell other backends when it commits. */
void
ak_inval_check_prepare(void)
{
	if (ak_inval_changed())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot PREPARE a transaction that changed API keys or tiers"),
				 errdetail("Other backends could not be told of the change when it commits.")));
}

/* The transaction ended: the list lived in TopTransactionContext. */
void
ak_inval_forget(void)
{
	ak_pending = NIL;
	ak_pending_all = false;
	ak_pending_relcache_queued = false;
}
