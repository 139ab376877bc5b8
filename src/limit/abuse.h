/*-------------------------------------------------------------------------
 *
 * abuse.h
 *	  Cooldowns after repeated failed verifications (abuse.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_ABUSE_H
#define AK_ABUSE_H

#include "limit/cells.h"

extern void ak_abuse_record(AkCellKind kind, const uint8 *subject, int threshold,
							int64 cooldown_us, int64 now_us);
extern void ak_abuse_block(AkCellKind kind, const uint8 *subject,
						   int64 cooldown_us, int64 now_us);
extern int64 ak_abuse_blocked_until(AkCellKind kind, const uint8 *subject,
									int64 now_us);

#endif							/* AK_ABUSE_H */
