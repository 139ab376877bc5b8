/*-------------------------------------------------------------------------
 *
 * area.c
 *	  apikey's dynamic shared memory: one DSA area, created in place in the
 *	  main shared memory by the postmaster (which cannot use dynamic shared
 *	  memory segments itself, as the cumulative statistics system notes) and
 *	  attached by each process the first time it needs it.  It grows with
 *	  the work, segment by segment, up to apikey.shared_memory_budget: no
 *	  entry count to guess, and nothing allocated before it is needed.
 *
 * The budget is shared by classes of memory (AkMemClass), each guaranteed
 * a share of it: a class may always grow to its share, and beyond it only
 * into memory no other class still has a claim on.  So a flood of one kind
 * -- made-up throttle() names, addresses -- cannot take the room of the
 * others.  The unreserved rest goes to whoever asks first.
 *
 * Locking protocol
 *	  AkAreaShared.mutex (a spinlock) protects the accounting: a few
 *	  additions under it, never an allocation.  The DSA area has its own
 *	  locks.  AkAreaShared.attached is an atomic.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "core/guc.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "port/pg_bitutils.h"
#include "shmem/area.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/memutils.h"

/*
 * The DSA's control segment, in the main shared memory: room for its
 * header and its first small allocations.
 */
#define AK_AREA_PLACE_SIZE		(256 * 1024)

/* The use, of what a class may take, at which the launcher warns, once. */
#define AK_AREA_WARN_PERCENT	80

const char *const ak_mem_class_names[AK_MEM_NUM] = {
	[AK_MEM_KEY] = "key",
	[AK_MEM_ADDRESS] = "address",
	[AK_MEM_NAMED] = "named",
	[AK_MEM_COOLDOWN] = "cooldown",
	[AK_MEM_QUOTA] = "quota",
	[AK_MEM_USAGE] = "usage",
	[AK_MEM_KEYCACHE] = "keycache",
	[AK_MEM_NONCE] = "nonce",
	[AK_MEM_OTHER] = "other",
};

/*
 * Each class's guaranteed share of the budget, in percent.  Together 92%:
 * the last 8% is unreserved.
 */
static const int ak_mem_share[AK_MEM_NUM] = {
	[AK_MEM_KEY] = 30,
	[AK_MEM_ADDRESS] = 10,
	[AK_MEM_NAMED] = 8,
	[AK_MEM_COOLDOWN] = 5,
	[AK_MEM_QUOTA] = 10,
	[AK_MEM_USAGE] = 15,
	[AK_MEM_KEYCACHE] = 10,
	[AK_MEM_NONCE] = 2,
	[AK_MEM_OTHER] = 2,
};

typedef struct AkAreaShared
{
	int			tranche_id;		/* of the DSA area's locks */
	pg_atomic_uint32 attached;	/* processes attached to the area */
	slock_t		mutex;			/* protects the rest */
	int64		total;			/* bytes taken, all classes */
	int64		used[AK_MEM_NUM];
	uint32		warning_due;	/* bit c: class c passed AK_AREA_WARN_PERCENT */
	uint32		warned;			/* bit c: and the launcher said so */
	char		place[FLEXIBLE_ARRAY_MEMBER];	/* the DSA's control segment */
} AkAreaShared;

static AkAreaShared *ak_area_shared = NULL;
static dsa_area *ak_dsa = NULL;
static void (*ak_attach_callback) (void) = NULL;


Size
ak_area_shmem_size(void)
{
	return add_size(MAXALIGN(offsetof(AkAreaShared, place)), AK_AREA_PLACE_SIZE);
}

/*
 * Creates the area, in the postmaster (or attaches the struct in an
 * EXEC_BACKEND child).  Caller holds AddinShmemInitLock.
 */
void
ak_area_shmem_init(void)
{
	bool		found;

	ak_area_shared = ShmemInitStruct("apikey area", ak_area_shmem_size(), &found);
	if (found)
		return;
	ak_area_shared->tranche_id = LWLockNewTrancheId();
	pg_atomic_init_u32(&ak_area_shared->attached, 0);
	SpinLockInit(&ak_area_shared->mutex);
	ak_area_shared->total = 0;
	memset(ak_area_shared->used, 0, sizeof(ak_area_shared->used));
	ak_area_shared->warning_due = 0;
	ak_area_shared->warned = 0;

	if (!IsUnderPostmaster)
	{
		dsa_area   *dsa = dsa_create_in_place(ak_area_shared->place, AK_AREA_PLACE_SIZE,
											  ak_area_shared->tranche_id, NULL);

		/* it outlives every process that attaches, until shutdown */
		dsa_pin(dsa);
		dsa_detach(dsa);
	}
}

/* The function the first process to attach calls: loading saved state. */
void
ak_area_on_attach(void (*callback) (void))
{
	ak_attach_callback = callback;
}

static void
ak_area_detach(int code, Datum arg)
{
	pg_atomic_fetch_sub_u32(&ak_area_shared->attached, 1);
	dsa_release_in_place(ak_area_shared->place);
	ak_dsa = NULL;
}

/*
 * The area, attached in this process the first time, for the rest of its
 * life.  Not to be called with a spinlock held: attaching can fail.
 */
dsa_area *
ak_area(void)
{
	MemoryContext old;

	if (likely(ak_dsa != NULL))
		return ak_dsa;

	old = MemoryContextSwitchTo(TopMemoryContext);
	LWLockRegisterTranche(ak_area_shared->tranche_id, "apikey area");
	ak_dsa = dsa_attach_in_place(ak_area_shared->place, NULL);
	dsa_pin_mapping(ak_dsa);
	MemoryContextSwitchTo(old);
	pg_atomic_fetch_add_u32(&ak_area_shared->attached, 1);
	before_shmem_exit(ak_area_detach, (Datum) 0);

	if (ak_attach_callback)
		ak_attach_callback();
	return ak_dsa;
}

/* How many processes are attached to the area now. */
uint32
ak_area_attached(void)
{
	return pg_atomic_read_u32(&ak_area_shared->attached);
}

static int64
ak_area_budget(void)
{
	return (int64) ak_shared_memory_budget * 1024 * 1024;
}

/*
 * The most class may use now: the budget but what the other classes use
 * or still have a claim on (their shares).  Caller holds the mutex.
 */
static int64
ak_area_ceiling(AkMemClass class, int64 budget)
{
	int64		others = 0;

	for (int c = 0; c < AK_MEM_NUM; c++)
		if (c != class)
			others += Max(budget / 100 * ak_mem_share[c], ak_area_shared->used[c]);
	return Max(budget - others, budget / 100 * ak_mem_share[class]);
}

/*
 * Whether class may take size more bytes: within its share, or beyond it
 * if every other class can still reach its own.  Caller holds the mutex.
 */
static bool
ak_area_allows(AkMemClass class, Size size, int64 budget)
{
	return ak_area_shared->used[class] + (int64) size <= ak_area_ceiling(class, budget) &&
		ak_area_shared->total + (int64) size <= budget;
}

/*
 * Takes size bytes of the area for class, or returns InvalidDsaPointer
 * when the budget does not allow it.  A failure of the operating system to
 * give the memory (a full /dev/shm) is an ERROR, as in any allocation.
 */
dsa_pointer
ak_area_allocate(AkMemClass class, Size size)
{
	dsa_area   *dsa = ak_area();
	int64		budget = ak_area_budget();
	bool		allowed;
	dsa_pointer dp;

	SpinLockAcquire(&ak_area_shared->mutex);
	allowed = ak_area_allows(class, size, budget);
	if (allowed)
	{
		ak_area_shared->used[class] += size;
		ak_area_shared->total += size;
		if (ak_area_shared->used[class] * 100 >=
			ak_area_ceiling(class, budget) * AK_AREA_WARN_PERCENT)
			ak_area_shared->warning_due |= (uint32) 1 << class;
	}
	SpinLockRelease(&ak_area_shared->mutex);
	if (!allowed)
		return InvalidDsaPointer;

	dp = dsa_allocate_extended(dsa, size, DSA_ALLOC_NO_OOM | DSA_ALLOC_HUGE);
	if (!DsaPointerIsValid(dp))
		ak_area_free(class, InvalidDsaPointer, size);
	return dp;
}

/* Gives back what ak_area_allocate took (dp may be invalid: accounting only). */
void
ak_area_free(AkMemClass class, dsa_pointer dp, Size size)
{
	if (DsaPointerIsValid(dp))
		dsa_free(ak_area(), dp);
	SpinLockAcquire(&ak_area_shared->mutex);
	ak_area_shared->used[class] -= size;
	ak_area_shared->total -= size;
	SpinLockRelease(&ak_area_shared->mutex);
}

void
ak_area_usage(AkAreaUsage *usage)
{
	usage->budget = ak_area_budget();
	SpinLockAcquire(&ak_area_shared->mutex);
	usage->total = ak_area_shared->total;
	memcpy(usage->used, ak_area_shared->used, sizeof(usage->used));
	SpinLockRelease(&ak_area_shared->mutex);
}

/*
 * Caps the area's memory (what the operating system gives it) a little
 * above the budget: the classes' accounting counts what they asked for,
 * the area also its own bookkeeping.  Called when the budget may have
 * changed.
 */
void
ak_area_limit_to_budget(void)
{
	int64		budget = ak_area_budget();

	dsa_set_size_limit(ak_area(), budget + budget / 8 + AK_AREA_PLACE_SIZE);
}

/* The bytes a class is guaranteed. */
int64
ak_area_share(AkMemClass class)
{
	return ak_area_budget() / 100 * ak_mem_share[class];
}

/*
 * Whether a class passed AK_AREA_WARN_PERCENT of the memory it may use and
 * nobody said so yet: true once per class, to the one process (the
 * launcher) that then warns; *class is the class.
 */
bool
ak_area_warning_due(AkMemClass *class)
{
	uint32		due;

	SpinLockAcquire(&ak_area_shared->mutex);
	due = ak_area_shared->warning_due & ~ak_area_shared->warned;
	if (due != 0)
	{
		*class = (AkMemClass) pg_rightmost_one_pos32(due);
		ak_area_shared->warned |= (uint32) 1 << *class;
	}
	SpinLockRelease(&ak_area_shared->mutex);
	return due != 0;
}

/* The most a class may use now (see ak_area_allows). */
int64
ak_area_class_ceiling(AkMemClass class)
{
	int64		ceiling;

	SpinLockAcquire(&ak_area_shared->mutex);
	ceiling = ak_area_ceiling(class, ak_area_budget());
	SpinLockRelease(&ak_area_shared->mutex);
	return ceiling;
}
