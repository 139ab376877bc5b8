/*-------------------------------------------------------------------------
 *
 * blocks.h
 *	  Blocking client addresses and lifting blocks and cooldowns
 *	  (blocks.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_BLOCKS_H
#define AK_BLOCKS_H

#include "datatype/timestamp.h"
#include "utils/inet.h"

extern Datum ak_block(inet *addresses, text *reason, const Interval *duration,
					  text *owner);
extern int	ak_unblock(inet *addresses);
extern bool ak_unblock_key(text *display_prefix);

#endif							/* AK_BLOCKS_H */
