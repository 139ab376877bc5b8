/*-------------------------------------------------------------------------
 *
 * refresh.h
 *	  Refresh tokens of exchange()'s JWT sessions: single use, rotating,
 *	  reuse revoking their family (refresh.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_REFRESH_H
#define AK_REFRESH_H

#include "core/codes.h"
#include "datatype/timestamp.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

#define AK_REFRESH_PREFIX	"ak_refresh"

extern Jsonb *ak_refresh_exchange(text *token, const Interval *ttl);
extern Jsonb *ak_refresh(text *refresh_token);
extern bool ak_refresh_family_revoke(const uint8 *digest, const char *reason,
									 pg_uuid_t *key_id, bool *was_live);

#endif							/* AK_REFRESH_H */
