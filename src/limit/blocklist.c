/*-------------------------------------------------------------------------
 *
 * blocklist.c
 *	  Blocked client addresses (doc/apikey.md, "Address blocks"): the rows
 *	  of apikey.address_blocks, as each backend keeps them to answer
 *	  BLOCKED before a token is even hashed.
 *
 * A backend reads the table once into sorted, disjoint ranges of 16-byte
 * addresses (IPv4 as IPv4-mapped IPv6): overlapping and adjacent blocks
 * are merged, each merged range blocked until the latest end of the blocks
 * it merges.  A lookup is a binary search: O(log n) for thousands of
 * blocks, and one atomic read when there are none.  A block that applies
 * to one owner's keys only is kept in a second list, searched after
 * verification, by owner.
 *
 * The ranges are read again
 *	  - when a transaction that changed the table commits: it advances a
 *		generation number in shared memory, which every lookup compares
 *		with the one its ranges were read at (one atomic read);
 *	  - when the earliest end of a block passes: a merged range must not
 *		outlive a shorter block it swallowed; and when the clock goes back
 *		before the time they were read at, which left out the blocks that
 *		had ended then;
 *	  - on a hot standby, where no trigger runs, when the relcache
 *		invalidation the change carries in its commit record is replayed;
 *	  - in the changing backend, at once, and again if it rolls back.
 *
 * Locking protocol
 *	  The generation is one atomic: committing writers add one, readers
 *	  read it.  Nothing else is shared.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "core/util.h"
#include "core/xactevent.h"
#include "limit/blocklist.h"
#include "port/atomics.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#define AK_ADDRESS_LEN		16

typedef struct AkRange
{
	uint8		lo[AK_ADDRESS_LEN];
	uint8		hi[AK_ADDRESS_LEN];
	int64		until_us;		/* DT_NOEND: for good */
	char	   *owner;			/* NULL: every request */
} AkRange;

/* what this backend knows of the table */
AkBlocklistState ak_blocklist;
static MemoryContext ak_blocks_cxt = NULL;
static AkRange *ak_global = NULL;	/* blocks of every request */
static AkRange *ak_owned = NULL;	/* blocks of one owner's keys, by owner */
static uint64 ak_invals = 0;	/* invalidations received */
static Oid	ak_blocks_relid = InvalidOid;

/* this transaction changed the table */
static bool ak_changed_here = false;


/* ---- shared memory ---- */

Size
ak_blocklist_shmem_size(void)
{
	return sizeof(pg_atomic_uint64);
}

/* Caller holds AddinShmemInitLock. */
void
ak_blocklist_shmem_init(void)
{
	bool		found;

	ak_blocklist.generation = ShmemInitStruct("apikey blocklist",
											  sizeof(pg_atomic_uint64), &found);
	if (!found)
		pg_atomic_init_u64(ak_blocklist.generation, 1);
}


/* ---- addresses ---- */

void
ak_address_bytes(const inet *ip, uint8 *out)
{
	memset(out, 0, AK_ADDRESS_LEN);
	if (ip_family(ip) == PGSQL_AF_INET)
	{
		out[10] = out[11] = 0xff;
		memcpy(out + 12, ip_addr(ip), 4);
	}
	else
		memcpy(out, ip_addr(ip), AK_ADDRESS_LEN);
}

/* The first and last address of a cidr (or inet: its network). */
void
ak_cidr_range(const inet *cidr, uint8 *lo, uint8 *hi)
{
	int			bits = ip_bits(cidr) + (ip_family(cidr) == PGSQL_AF_INET ? 96 : 0);

	ak_address_bytes(cidr, lo);
	for (int i = 0; i < AK_ADDRESS_LEN; i++)
	{
		int			keep = Max(Min(bits - 8 * i, 8), 0);
		uint8		mask = (uint8) (0xff00 >> keep);

		lo[i] &= mask;
		hi[i] = lo[i] | (uint8) ~mask;
	}
}

/* a + 1 == b, as 128-bit numbers: adjacent ranges merge */
static bool
ak_address_follows(const uint8 *a, const uint8 *b)
{
	uint8		next[AK_ADDRESS_LEN];
	int			i;

	memcpy(next, a, AK_ADDRESS_LEN);
	for (i = AK_ADDRESS_LEN - 1; i >= 0 && ++next[i] == 0; i--)
		;
	return i >= 0 && memcmp(next, b, AK_ADDRESS_LEN) == 0;
}


/* ---- reading the table ---- */

static void
ak_blocks_inval(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == ak_blocks_relid)
	{
		ak_blocklist.valid = false;
		ak_invals++;
	}
}

static int
ak_range_cmp(const void *a, const void *b)
{
	const AkRange *x = a;
	const AkRange *y = b;
	int			c;

	if ((x->owner == NULL) != (y->owner == NULL))
		return x->owner == NULL ? -1 : 1;
	if (x->owner != NULL && (c = strcmp(x->owner, y->owner)) != 0)
		return c;
	return memcmp(x->lo, y->lo, AK_ADDRESS_LEN);
}

/*
 * Merges sorted ranges in place -- overlapping or adjacent ones of the
 * same owner, blocked until the later end -- and returns how many remain.
 */
static int
ak_ranges_merge(AkRange *r, int n)
{
	int			m = 0;

	for (int i = 0; i < n; i++)
	{
		AkRange    *last = m > 0 ? &r[m - 1] : NULL;
		bool		same_owner = last != NULL &&
			(last->owner == NULL ? r[i].owner == NULL
			 : r[i].owner != NULL && strcmp(last->owner, r[i].owner) == 0);

		if (same_owner && (memcmp(r[i].lo, last->hi, AK_ADDRESS_LEN) <= 0 ||
						   ak_address_follows(last->hi, r[i].lo)))
		{
			if (memcmp(r[i].hi, last->hi, AK_ADDRESS_LEN) > 0)
				memcpy(last->hi, r[i].hi, AK_ADDRESS_LEN);
			last->until_us = Max(last->until_us, r[i].until_us);
		}
		else
			r[m++] = r[i];
	}
	return m;
}

/* Appends a row of the table to ranges (in ak_blocks_cxt), unless it ended. */
static void
ak_blocks_add(HeapTuple tuple, TupleDesc desc, const AttrNumber *cols,
			  int64 now_us, AkRange **ranges, int *n, int *size)
{
	bool		isnull;
	Datum		d;
	AkRange    *r;
	int64		until;

	d = heap_getattr(tuple, cols[2], desc, &isnull);
	until = isnull ? DT_NOEND : DatumGetTimestampTz(d);
	if (until <= now_us)
		return;
	d = heap_getattr(tuple, cols[0], desc, &isnull);
	if (isnull)
		return;
	if (*n == *size)
	{
		*size *= 2;
		*ranges = repalloc(*ranges, *size * sizeof(AkRange));
	}
	r = &(*ranges)[(*n)++];
	ak_cidr_range(DatumGetInetPP(d), r->lo, r->hi);
	r->until_us = until;
	d = heap_getattr(tuple, cols[1], desc, &isnull);
	r->owner = isnull ? NULL : TextDatumGetCString(d);
	if (until != DT_NOEND)
		ak_blocklist.next_end_us = Min(ak_blocklist.next_end_us, until);
}

/* Reads every block in force, sorted: global ones first, then by owner. */
static int
ak_blocks_read(Relation rel, int64 now_us, AkRange **ranges)
{
	TupleDesc	desc = RelationGetDescr(rel);
	AttrNumber	cols[3];
	int			n = 0;
	int			size = 16;
	Snapshot	snapshot;
	TableScanDesc scan;
	HeapTuple	tuple;

	cols[0] = ak_attnum(desc, "addresses");
	cols[1] = ak_attnum(desc, "owner");
	cols[2] = ak_attnum(desc, "expires_at");
	*ranges = palloc(size * sizeof(AkRange));
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(rel, snapshot, 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
		ak_blocks_add(tuple, desc, cols, now_us, ranges, &n, &size);
	table_endscan(scan);
	UnregisterSnapshot(snapshot);
	qsort(*ranges, n, sizeof(AkRange), ak_range_cmp);
	return ak_ranges_merge(*ranges, n);
}

/*
 * Reads the table again.  The generation is read first: a change that
 * commits during the read advances it, and the next lookup reads again;
 * an invalidation received during the read (a standby's) does the same.
 * The ranges count as read only once the whole read is done: an error
 * half-way leaves them to be read again, never partial.
 */
void
ak_blocklist_load(int64 now_us)
{
	AkBlocklistState *b = &ak_blocklist;
	Oid			nsp = get_namespace_oid(AK_SCHEMA, true);
	uint64		generation = pg_atomic_read_u64(b->generation);
	uint64		invals = ak_invals;
	MemoryContext old;
	AkRange    *ranges = NULL;
	int			n = 0;
	Relation	rel;

	if (ak_blocks_cxt == NULL)
	{
		ak_blocks_cxt = AllocSetContextCreate(CacheMemoryContext, "apikey blocklist",
											  ALLOCSET_SMALL_SIZES);
		CacheRegisterRelcacheCallback(ak_blocks_inval, (Datum) 0);
	}
	MemoryContextReset(ak_blocks_cxt);
	ak_global = ak_owned = NULL;
	b->nglobal = b->nowned = 0;
	b->next_end_us = DT_NOEND;
	b->read_at_us = now_us;
	b->valid = false;

	ak_blocks_relid = OidIsValid(nsp) ? get_relname_relid("address_blocks", nsp) : InvalidOid;
	if (OidIsValid(ak_blocks_relid))
	{
		old = MemoryContextSwitchTo(ak_blocks_cxt);
		rel = table_open(ak_blocks_relid, AccessShareLock);
		n = ak_blocks_read(rel, now_us, &ranges);
		table_close(rel, AccessShareLock);
		MemoryContextSwitchTo(old);
	}
	ak_global = ranges;
	while (b->nglobal < n && ranges[b->nglobal].owner == NULL)
		b->nglobal++;
	ak_owned = ranges + b->nglobal;
	b->nowned = n - b->nglobal;
	b->read_generation = generation;
	b->valid = (ak_invals == invals);
}


/* ---- lookups ---- */

/* The range of ranges[0..n) holding addr, or NULL. */
static const AkRange *
ak_ranges_find(const AkRange *ranges, int n, const uint8 *addr)
{
	int			lo = 0;
	int			hi = n - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (memcmp(addr, ranges[mid].lo, AK_ADDRESS_LEN) < 0)
			hi = mid - 1;
		else if (memcmp(addr, ranges[mid].hi, AK_ADDRESS_LEN) > 0)
			lo = mid + 1;
		else
			return &ranges[mid];
	}
	return NULL;
}

static bool
ak_range_blocks(const AkRange *r, int64 *until_us)
{
	if (r == NULL)
		return false;
	*until_us = r->until_us;
	return true;
}

/*
 * Whether ip is blocked for every request; *until_us is when the block
 * ends (DT_NOEND: never).  After ak_blocklist_any(): the ranges are
 * current.
 */
bool
ak_blocklist_match(const inet *ip, int64 *until_us)
{
	uint8		addr[AK_ADDRESS_LEN];

	if (ak_blocklist.nglobal == 0)
		return false;
	ak_address_bytes(ip, addr);
	return ak_range_blocks(ak_ranges_find(ak_global, ak_blocklist.nglobal, addr),
						   until_us);
}

/* Whether ip is blocked for the keys of owner: the same, after verification. */
bool
ak_blocklist_match_owner(const text *owner, const inet *ip, int64 *until_us)
{
	uint8		addr[AK_ADDRESS_LEN];
	int			lo = 0;
	int			hi;
	int			nowned = ak_blocklist.nowned;
	char	   *name;

	if (nowned == 0)
		return false;
	name = text_to_cstring(owner);
	/* the first range of this owner, then its ranges */
	for (hi = nowned; lo < hi;)
	{
		int			mid = (lo + hi) / 2;

		if (strcmp(ak_owned[mid].owner, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (hi = lo; hi < nowned && strcmp(ak_owned[hi].owner, name) == 0; hi++)
		;
	pfree(name);
	ak_address_bytes(ip, addr);
	return ak_range_blocks(ak_ranges_find(ak_owned + lo, hi - lo, addr), until_us);
}


/* ---- changes ---- */

/*
 * A statement changed apikey.address_blocks (relid): this backend reads
 * it again at once; every other one once the change commits (and a
 * standby once it replays it).
 */
void
ak_blocklist_changed(Oid relid)
{
	CacheInvalidateRelcacheByRelid(relid);
	ak_changed_here = true;
	ak_blocklist.valid = false;
}

void
ak_blocklist_at_xact_end(XactEvent event)
{
	if (!ak_changed_here || !ak_xact_ends(event))
		return;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
		pg_atomic_fetch_add_u64(ak_blocklist.generation, 1);
	ak_changed_here = false;
	ak_blocklist.valid = false;
}

void
ak_blocklist_at_subxact_end(SubXactEvent event)
{
	if (event == SUBXACT_EVENT_ABORT_SUB && ak_changed_here)
		ak_blocklist.valid = false;
}
