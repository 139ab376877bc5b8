/*-------------------------------------------------------------------------
 *
 * held.c
 *	  The slots an admitted check() holds -- one in-flight slot, and one
 *	  concurrency slot of its key and of its owner -- until its transaction
 *	  ends: commit, abort, or the backend exiting.  An application's
 *	  request (check() with an endpoint) holds them until finish() instead,
 *	  across transactions, so that an autocommit client's requests count
 *	  as in flight while they are (limit/apprequest.c).
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "core/util.h"
#include "core/xactevent.h"
#include "limit/held.h"
#include "limit/slots.h"
#include "storage/ipc.h"

typedef struct AkHeldSlot
{
	AkCell	   *slot;
	int			count;
	bool		until_finish;
} AkHeldSlot;

static AkHeldSlot *ak_held = NULL;
static int	ak_nheld = 0;
static int	ak_held_size = 0;
static int	ak_inflight_held[2] = {0, 0};	/* [until_finish] */
static bool ak_exit_registered = false;

/* Releases the slots held until the transaction ends, or until finish(). */
static void
ak_release(bool until_finish)
{
	int			kept = 0;

	for (int i = 0; i < ak_nheld; i++)
	{
		if (ak_held[i].until_finish != until_finish)
		{
			ak_held[kept++] = ak_held[i];
			continue;
		}
		while (ak_held[i].count-- > 0)
			ak_slot_release(ak_held[i].slot);
	}
	ak_nheld = kept;
	for (; ak_inflight_held[until_finish] > 0; ak_inflight_held[until_finish]--)
		ak_inflight_release();
}

void
ak_held_at_xact_end(XactEvent event)
{
	if (ak_xact_ends(event) && (ak_nheld > 0 || ak_inflight_held[false] > 0))
		ak_release(false);
}

/* finish(), or the next application request: what the last one held. */
void
ak_held_release_finished(void)
{
	ak_release(true);
}

static void
ak_release_at_exit(int code, Datum arg)
{
	ak_release(false);
	ak_release(true);
}

/*
 * Makes sure the slots taken next (a key's and its owner's) can be held;
 * call before taking any.
 */
void
ak_held_prepare(void)
{
	if (!ak_exit_registered)
	{
		before_shmem_exit(ak_release_at_exit, (Datum) 0);
		ak_exit_registered = true;
	}
	while (ak_nheld + 2 > ak_held_size)
		ak_held = ak_array_grow(ak_held, &ak_held_size, sizeof(AkHeldSlot));
}

void
ak_held_add_slot(AkCell *slot, bool until_finish)
{
	for (int i = 0; i < ak_nheld; i++)
		if (ak_held[i].slot == slot && ak_held[i].until_finish == until_finish)
		{
			ak_held[i].count++;
			return;
		}
	ak_held[ak_nheld].slot = slot;
	ak_held[ak_nheld].count = 1;
	ak_held[ak_nheld].until_finish = until_finish;
	ak_nheld++;
}

void
ak_held_add_inflight(bool until_finish)
{
	ak_inflight_held[until_finish]++;
}
