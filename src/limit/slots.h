/*-------------------------------------------------------------------------
 *
 * slots.h
 *	  Requests in flight: per key (concurrency counters) and across the
 *	  server (slots.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_SLOTS_H
#define AK_SLOTS_H

#include "limit/cells.h"

extern Size ak_inflight_shmem_size(void);
extern void ak_inflight_shmem_init(void);

extern AkDebit ak_slot_acquire(const uint8 *subject, int32 max, AkCell **slot);
extern void ak_slot_release(AkCell *slot);
extern int32 ak_slot_in_use(const uint8 *subject);
extern bool ak_inflight_acquire(int max);
extern void ak_inflight_release(void);
extern int	ak_inflight_in_use(void);

#endif							/* AK_SLOTS_H */
