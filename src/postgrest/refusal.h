/*-------------------------------------------------------------------------
 *
 * refusal.h
 *	  A refused request as the error PostgREST turns into its HTTP
 *	  response, or a plain error outside PostgREST (refusal.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_REFUSAL_H
#define AK_REFUSAL_H

#include "core/codes.h"
#include "limit/headerset.h"

pg_noreturn extern void ak_refuse(AkCode code, const AkHeaders *headers,
								  int64 retry_after_us, const text *scope,
								  bool token_sent);

#endif							/* AK_REFUSAL_H */
