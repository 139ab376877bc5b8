/*-------------------------------------------------------------------------
 *
 * held.h
 *	  The slots an admitted request holds until its transaction ends
 *	  (held.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_HELD_H
#define AK_HELD_H

#include "access/xact.h"
#include "limit/cells.h"

extern void ak_held_prepare(void);
extern void ak_held_add_slot(AkCell *slot);
extern void ak_held_add_inflight(void);
extern void ak_held_at_xact_end(XactEvent event);

#endif							/* AK_HELD_H */
