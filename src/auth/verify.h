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

extern AkCode ak_key_status(const AkKeyInfo *key, TimestampTz now);
extern AkCode ak_verify_token(text *token, text *scope, inet *client_ip,
							  int64 now_us, const AkKeyInfo **key,
							  size_t *prefix_len);

#endif							/* AK_VERIFY_H */
