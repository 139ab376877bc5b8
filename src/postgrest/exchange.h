/*-------------------------------------------------------------------------
 *
 * exchange.h
 *	  exchange(): a key for a JWT PostgREST accepts (exchange.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_EXCHANGE_H
#define AK_EXCHANGE_H

#include "auth/keyinfo.h"
#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

extern Jsonb *ak_exchange(text *token, const Interval *ttl);

/* the parts of exchange(), for refresh tokens (lifecycle/refresh.c) */
extern int64 ak_exchange_ttl_us(const Interval *ttl);
extern void ak_require_jwt_secret(void);
extern const AkKeyInfo *ak_exchange_key(text *token, int64 now_us);
extern void ak_exchange_mint(const AkKeyInfo *key, int64 ttl_us, int64 now_us,
							 StringInfo out);

#endif							/* AK_EXCHANGE_H */
