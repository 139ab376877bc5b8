/*-------------------------------------------------------------------------
 *
 * named.c
 *	  throttle()'s buckets (doc/apikey.md, "throttle()").  A name belongs to
 *	  the database and the role that calls it (current_user), so no role
 *	  can touch another's buckets; a name an administrator lists in
 *	  apikey.shared_throttles is shared by every role of the database, with
 *	  the parameters listed there.  A bucket remembers the rate, period and
 *	  burst it was made with: a call with others is an error (22023) until
 *	  the bucket is full again, when the new ones replace them.  A role may
 *	  keep apikey.max_named_buckets_per_role buckets live per database;
 *	  beyond that its new names are treated as a full table
 *	  (apikey.on_table_full).
 *
 * Locking protocol
 *	  The owners table is a shash (shmem/shash.h), tranche "apikey throttle
 *	  owners", of one entry per (database, role) that ever made a bucket,
 *	  never removed (there are as many as roles that throttle).  Its count
 *	  of live buckets is an atomic: reserved before a bucket is made,
 *	  given back by whoever retires the bucket (cells.c).  A named cell's
 *	  parameters are its spinlock's.
 *
 *	  Each backend caches apikey.shared_throttles; a statement trigger on
 *	  the table invalidates the cache of every backend at commit through
 *	  the relation cache's invalidation messages.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "catalog/namespace.h"
#include "core/guc.h"
#include "core/limits.h"
#include "core/spi.h"
#include "executor/spi.h"
#include "limit/named.h"
#include "miscadmin.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#define AK_OWNER_PARTITIONS		16

static void ak_owner_init(void *entry, const void *arg);
static bool ak_owner_retire(void *entry, int64 now_us);

static const AkShashSpec ak_owners_spec = {
	.name = "apikey throttle owners",
	.mem_class = AK_MEM_OTHER,
	.keysize = sizeof(AkNamedOwnerKey),
	.entrysize = sizeof(AkNamedOwner),
	.header_offset = offsetof(AkNamedOwner, header),
	.partitions = AK_OWNER_PARTITIONS,
	.init = ak_owner_init,
	.retire = ak_owner_retire,
};

static AkShash ak_owners;

/* After a sweep for a role at its cap, the next waits this long. */
#define AK_NAMED_SWEEP_BACKOFF_US	(100 * 1000)

typedef struct AkNamedShared
{
	pg_atomic_uint64 last_sweep;	/* when a role at its cap last swept */
} AkNamedShared;

static AkNamedShared *ak_named_shared = NULL;

/* A name of apikey.shared_throttles, as this backend last read it. */
typedef struct AkSharedName
{
	char		name[NAMEDATALEN * 4];	/* hash key; longer names are not shared */
	AkLimit		limit;
} AkSharedName;

static HTAB *ak_shared_names = NULL;
static bool ak_shared_names_valid = false;
static Oid	ak_shared_names_relid = InvalidOid;


void
ak_named_request(void)
{
	ak_shash_request(&ak_owners_spec);
	RequestAddinShmemSpace(sizeof(AkNamedShared));
}

/* Caller holds AddinShmemInitLock. */
void
ak_named_attach(void)
{
	bool		found;

	ak_shash_attach(&ak_owners, &ak_owners_spec);
	ak_named_shared = ShmemInitStruct("apikey named", sizeof(AkNamedShared), &found);
	if (!found)
		pg_atomic_init_u64(&ak_named_shared->last_sweep, 0);
}

static void
ak_owner_init(void *entry, const void *arg)
{
	pg_atomic_init_u32(&((AkNamedOwner *) entry)->buckets, 0);
}

/* Owners stay: their count is what caps the role. */
static bool
ak_owner_retire(void *entry, int64 now_us)
{
	return false;
}


/* ---- the shared names ---- */

static void
ak_shared_names_invalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == ak_shared_names_relid)
		ak_shared_names_valid = false;
}

/* Reads apikey.shared_throttles into this backend's cache. */
static void
ak_shared_names_load(void)
{
	HASHCTL		ctl;
	uint64		n;

	if (ak_shared_names == NULL)
	{
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(((AkSharedName *) NULL)->name);
		ctl.entrysize = sizeof(AkSharedName);
		ak_shared_names = hash_create("apikey shared throttles", 64, &ctl,
									  HASH_ELEM | HASH_STRINGS);
		CacheRegisterRelcacheCallback(ak_shared_names_invalidate, (Datum) 0);
	}
	else
	{
		hash_destroy(ak_shared_names);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(((AkSharedName *) NULL)->name);
		ctl.entrysize = sizeof(AkSharedName);
		ak_shared_names = hash_create("apikey shared throttles", 64, &ctl,
									  HASH_ELEM | HASH_STRINGS);
	}

	/* valid from here: an invalidation during the read makes it read again */
	ak_shared_names_valid = true;
	ak_shared_names_relid = get_relname_relid("shared_throttles",
											  get_namespace_oid("apikey", false));
	SPI_connect();
	n = ak_spi_exec("SELECT name, rate, period, coalesce(burst, rate) "
					"FROM apikey.shared_throttles", NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		char	   *name = TextDatumGetCString(ak_spi_value(i, 1, &isnull));
		AkSharedName *entry;

		if (strlen(name) >= sizeof(entry->name))
			continue;
		entry = hash_search(ak_shared_names, name, HASH_ENTER, NULL);
		memset(&entry->limit, 0, sizeof(entry->limit));
		strcpy(entry->limit.name, "throttle");
		entry->limit.limit = DatumGetInt32(ak_spi_value(i, 2, &isnull));
		entry->limit.period_us =
			ak_interval_to_us(DatumGetIntervalP(ak_spi_value(i, 3, &isnull)));
		entry->limit.burst = DatumGetInt32(ak_spi_value(i, 4, &isnull));
	}
	SPI_finish();
}

/*
 * The trigger on apikey.shared_throttles: every backend reads the list
 * again once the change commits.
 */
void
ak_named_shared_changed(Oid relid)
{
	CacheInvalidateRelcacheByRelid(relid);
}

/* The declared limit of a shared name, or NULL when the name is private. */
static const AkLimit *
ak_shared_name(const char *name, size_t len)
{
	char		key[NAMEDATALEN * 4];
	AkSharedName *entry;

	if (!ak_shared_names_valid)
		ak_shared_names_load();
	if (len >= sizeof(key))
		return NULL;
	memset(key, 0, sizeof(key));
	memcpy(key, name, len);
	entry = hash_search(ak_shared_names, key, HASH_FIND, NULL);
	return entry ? &entry->limit : NULL;
}


/* ---- the buckets ---- */

static bool
ak_same_limit(const AkNamedCell *n, const AkLimit *limit)
{
	return n->rate == limit->limit && n->period_us == limit->period_us &&
		n->burst == limit->burst;
}

pg_noreturn static void
ak_named_mismatch(const char *name, size_t len, const AkLimit *have, bool shared)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("throttle \"%.*s\" has other parameters", (int) len, name),
			 shared ?
			 errdetail("The name is shared; apikey.shared_throttles gives it rate " INT64_FORMAT
					   ", a period of " INT64_FORMAT " seconds and burst " INT64_FORMAT ".",
					   have->limit, have->period_us / USECS_PER_SEC, have->burst) :
			 errdetail("Its bucket counts rate " INT64_FORMAT ", a period of " INT64_FORMAT
					   " seconds and burst " INT64_FORMAT " until it is full again.",
					   have->limit, have->period_us / USECS_PER_SEC, have->burst)));
}

/* One more live bucket for the owner, if it is under its cap. */
static bool
ak_owner_take(AkNamedOwner *owner)
{
	if (pg_atomic_add_fetch_u32(&owner->buckets, 1) <= (uint32) ak_max_named_buckets_per_role)
		return true;
	pg_atomic_fetch_sub_u32(&owner->buckets, 1);
	return false;
}

/*
 * Reserves one live bucket of the caller's quota of named buckets into
 * proto->owner; false when the role has apikey.max_named_buckets_per_role
 * that are not idle.  A role at its cap has the named buckets that are
 * full again retired first (all roles', as they are found: at most once
 * per AK_NAMED_SWEEP_BACKOFF_US).
 */
static bool
ak_named_reserve(AkNamedCell *proto, int64 now_us)
{
	pg_atomic_uint64 *last_sweep = &ak_named_shared->last_sweep;
	AkNamedOwnerKey key = {proto->dboid, proto->roleid};
	uint32		hash = ak_shash_hash(&ak_owners, &key);
	void	   *found;
	AkNamedOwner *owner;

	if (!ak_shash_find(&ak_owners, &key, &hash, 1, &found, true, NULL, now_us))
		return false;
	owner = found;
	proto->owner = owner->header.self;
	ak_shash_release(&ak_owners, hash);
	if (ak_owner_take(owner))
		return true;

	if (now_us - (int64) pg_atomic_read_u64(last_sweep) < AK_NAMED_SWEEP_BACKOFF_US)
		return false;
	pg_atomic_write_u64(last_sweep, (uint64) now_us);
	(void) ak_cells_sweep(AK_TABLE_NAMED, now_us);
	return ak_owner_take(owner);
}

static void
ak_named_unreserve(const AkNamedCell *proto)
{
	AkNamedOwner *owner = ak_shash_entry_at(proto->owner);

	pg_atomic_fetch_sub_u32(&owner->buckets, 1);
}

/*
 * Finds the bucket of key, making it (with proto's owner and parameters)
 * if missing and the role may have one more.  Returns with the partition
 * lock held, or false without it.
 */
static bool
ak_named_find(const AkCellKey *key, uint32 hash, AkNamedCell *proto,
			  int64 now_us, AkCell **cell)
{
	(void) ak_cells_find(key, &hash, 1, cell, now_us, false);
	if (*cell != NULL)
		return true;
	ak_cells_release(key, hash);

	if (!ak_named_reserve(proto, now_us))
		return false;
	proto->cell.count = 0;		/* ak_named_cell_init sets it: reservation used */
	if (!ak_cells_find_with(key, &hash, 1, cell, now_us, proto))
	{
		ak_named_unreserve(proto);
		return false;
	}
	if (proto->cell.count == 0)
		ak_named_unreserve(proto);	/* another backend made it meanwhile */
	return true;
}

/*
 * Debits cost from a throttle() bucket of the caller: limit is what it
 * asked for.  Raises 22023 when the bucket has other parameters.
 */
AkDebit
ak_named_debit(const char *name, size_t len, const AkLimit *limit,
			   int64 cost, int64 now_us, AkLimitOutcome *out)
{
	const AkLimit *shared = ak_shared_name(name, len);
	AkNamedCell proto;
	AkCellKey	key;
	uint32		hash;
	uint8		subject[AK_SUBJECT_ID_LEN];
	AkCell	   *cell;
	AkNamedCell *n;
	AkLimit		have;
	AkGcraDecision d;
	bool		mismatch;

	if (shared && !(shared->limit == limit->limit && shared->period_us == limit->period_us &&
					shared->burst == limit->burst))
		ak_named_mismatch(name, len, shared, true);

	memset(&proto, 0, sizeof(proto));
	proto.dboid = MyDatabaseId;
	proto.roleid = shared ? InvalidOid : GetUserId();
	proto.rate = limit->limit;
	proto.period_us = limit->period_us;
	proto.burst = limit->burst;
	ak_named_subject_id(proto.dboid, proto.roleid, name, len, subject);
	ak_cell_key(&key, AK_CELL_NAMED, subject, 0);
	hash = ak_cell_hash(&key);
	if (!ak_named_find(&key, hash, &proto, now_us, &cell))
		return AK_DEBIT_NO_ROOM;

	n = (AkNamedCell *) cell;
	ak_cell_lock(cell);
	mismatch = !ak_same_limit(n, limit) && !ak_gcra_full(&cell->u.gcra, now_us);
	if (mismatch)
	{
		have = *limit;
		have.limit = n->rate;
		have.period_us = n->period_us;
		have.burst = n->burst;
	}
	else
	{
		n->rate = limit->limit;
		n->period_us = limit->period_us;
		n->burst = limit->burst;
		ak_gcra_decide(&cell->u.gcra, limit, cost, now_us, &d);
		if (d.admit)
			ak_gcra_take(&cell->u.gcra, limit, &d);
	}
	ak_cell_unlock(cell);
	ak_cells_release(&key, hash);

	if (mismatch)
		ak_named_mismatch(name, len, &have, false);
	ak_gcra_outcome(limit, &d, d.admit, out);
	return d.admit ? AK_DEBIT_OK : AK_DEBIT_REJECTED;
}


/*
 * Puts back a bucket saved at the last shutdown (persist.c), counted for
 * its owner; false when there is no room or the owner has its share.
 */
bool
ak_named_restore(const AkCellKey *key, const AkGcra *gcra, Oid dboid,
				 Oid roleid, int64 rate, int64 period_us, int64 burst)
{
	AkNamedCell proto;
	uint32		hash = ak_cell_hash(key);
	AkCell	   *cell;

	memset(&proto, 0, sizeof(proto));
	proto.dboid = dboid;
	proto.roleid = roleid;
	proto.rate = rate;
	proto.period_us = period_us;
	proto.burst = burst;
	if (!ak_named_find(key, hash, &proto, 0, &cell))
		return false;
	ak_cell_lock(cell);
	if (proto.cell.count == 1)	/* made now: nobody used it yet */
	{
		cell->u.gcra = *gcra;
		cell->u.gcra.scale = Max(cell->u.gcra.scale, 1);
	}
	ak_cell_unlock(cell);
	ak_cells_release(key, hash);
	return true;
}


/* ---- administration ---- */

typedef struct AkClear
{
	Oid			dboid;
	Oid			roleid;
	bool		one;
	AkCellKey	key;
} AkClear;

static bool
ak_named_matches(const AkCell *cell, void *arg)
{
	const AkNamedCell *n = (const AkNamedCell *) cell;
	const AkClear *c = arg;

	return n->dboid == c->dboid && n->roleid == c->roleid &&
		(!c->one || memcmp(&cell->key, &c->key, sizeof(AkCellKey)) == 0);
}

/*
 * Removes a role's throttle() buckets in this database (roleid InvalidOid:
 * the shared names'), or only that of name when given; returns how many.
 */
int64
ak_named_clear(Oid roleid, const char *name, size_t len)
{
	AkClear		c = {MyDatabaseId, roleid, name != NULL};

	if (name != NULL)
	{
		uint8		subject[AK_SUBJECT_ID_LEN];

		ak_named_subject_id(c.dboid, roleid, name, len, subject);
		ak_cell_key(&c.key, AK_CELL_NAMED, subject, 0);
	}
	return ak_cells_remove_if(AK_TABLE_NAMED, ak_named_matches, &c);
}

typedef struct AkOwnersVisit
{
	AkNamedOwnerFn fn;
	void	   *arg;
} AkOwnersVisit;

static bool
ak_named_owner_visit(void *entry, void *arg)
{
	AkNamedOwner *owner = entry;
	AkOwnersVisit *v = arg;
	uint32		buckets = pg_atomic_read_u32(&owner->buckets);

	if (buckets > 0)
		v->fn(owner->key.dboid, owner->key.roleid, buckets, v->arg);
	return false;
}

/* Calls fn for every (database, role) that has live throttle() buckets. */
void
ak_named_owners(AkNamedOwnerFn fn, void *arg)
{
	AkOwnersVisit v = {fn, arg};

	ak_shash_scan(&ak_owners, LW_SHARED, ak_named_owner_visit, &v);
}
