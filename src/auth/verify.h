/*-------------------------------------------------------------------------
 *
 * verify.h
 *	  Whether a token names a key that may make this request (verify.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_VERIFY_H
#define AK_VERIFY_H

#include "auth/keyinfo.h"
#include "core/codes.h"

/* The status of a key, as apikey.key_list shows it. */
typedef enum AkKeyStatus
{
	AK_STATUS_ACTIVE,
	AK_STATUS_ROTATING,			/* rotated, within its grace period */
	AK_STATUS_REVOKED,
	AK_STATUS_EXPIRED,
	AK_STATUS_DISABLED			/* paused by disable() */
} AkKeyStatus;

extern const char *const ak_key_status_names[];

extern AkKeyStatus ak_key_status_at(TimestampTz revoked_at, TimestampTz expires_at,
									bool rotated, bool disabled, TimestampTz now);
extern AkCode ak_key_status(const AkKeyInfo *key, TimestampTz now);
extern AkCode ak_key_admits(const AkKeyInfo *key, inet *client_ip, int64 now_us);
extern AkCode ak_verify_token(text *token, text *scope, inet *client_ip,
							  int64 now_us, const AkKeyInfo **key,
							  size_t *prefix_len);

#endif							/* AK_VERIFY_H */
