/*-------------------------------------------------------------------------
 *
 * admission.h
 *	  Verification as a request sees it: the token, the abuse cooldowns,
 *	  the counters and the access event of a failure (admission.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_ADMISSION_H
#define AK_ADMISSION_H

#include "auth/keyinfo.h"
#include "core/codes.h"

extern AkCode ak_verify_request(text *token, text *scope, inet *client_ip,
								int64 now_us, const AkKeyInfo **key,
								int64 *blocked_until);

#endif							/* AK_ADMISSION_H */
