/*-------------------------------------------------------------------------
 *
 * held.h
 *	  The slots an admitted request holds until its transaction ends, or,
 *	  for an application's request, until finish() (held.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_HELD_H
#define AK_HELD_H

#include "access/xact.h"
#include "limit/cells.h"

extern void ak_held_prepare(void);
extern void ak_held_add_slot(AkCell *slot, bool until_finish);
extern void ak_held_add_inflight(bool until_finish);
extern void ak_held_release_finished(void);
extern void ak_held_at_xact_end(XactEvent event);

#endif							/* AK_HELD_H */
