/*-------------------------------------------------------------------------
 *
 * held.c
 *	  The slots an admitted check() holds -- one in-flight slot, and one
 *	  concurrency slot of its key -- until its transaction ends: commit,
 *	  abort, or the backend exiting.
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
} AkHeldSlot;

static AkHeldSlot *ak_held = NULL;
static int	ak_nheld = 0;
static int	ak_held_size = 0;
static int	ak_inflight_held = 0;
static bool ak_exit_registered = false;

static void
ak_release_all(void)
{
	for (int i = 0; i < ak_nheld; i++)
		while (ak_held[i].count-- > 0)
			ak_slot_release(ak_held[i].slot);
	ak_nheld = 0;
	for (; ak_inflight_held > 0; ak_inflight_held--)
		ak_inflight_release();
}

void
ak_held_at_xact_end(XactEvent event)
{
	if (ak_xact_ends(event))
		ak_release_all();
}

static void
ak_release_at_exit(int code, Datum arg)
{
	ak_release_all();
}

/* Makes sure a slot taken next can be held; call before taking any. */
void
ak_held_prepare(void)
{
	if (!ak_exit_registered)
	{
		before_shmem_exit(ak_release_at_exit, (Datum) 0);
		ak_exit_registered = true;
	}
	if (ak_nheld == ak_held_size)
		ak_held = ak_array_grow(ak_held, &ak_held_size, sizeof(AkHeldSlot));
}

void
ak_held_add_slot(AkCell *slot)
{
	for (int i = 0; i < ak_nheld; i++)
		if (ak_held[i].slot == slot)
		{
			ak_held[i].count++;
			return;
		}
	ak_held[ak_nheld].slot = slot;
	ak_held[ak_nheld].count = 1;
	ak_nheld++;
}

void
ak_held_add_inflight(void)
{
	ak_inflight_held++;
}
