/*-------------------------------------------------------------------------
 *
 * exchange.h
 *	  exchange(): a key for a JWT PostgREST accepts (exchange.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_EXCHANGE_H
#define AK_EXCHANGE_H

#include "datatype/timestamp.h"
#include "utils/jsonb.h"

extern Jsonb *ak_exchange(text *token, const Interval *ttl);

#endif							/* AK_EXCHANGE_H */
