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
#include "usage/events.h"

/*
 * The access event of a failed verification, held back until the
 * application says how it answered (finish(); limit/apprequest.c).
 */
typedef struct AkDenial
{
	bool		pending;
	AkCode		code;
	bool		has_key;
	pg_uuid_t	key_id;
	bool		has_ip;
	inet		ip;
	char		display[AK_EVENT_DISPLAY_LEN];
	size_t		display_len;
} AkDenial;

extern AkCode ak_verify_request(text *token, text *scope, inet *client_ip,
								int64 now_us, const AkKeyInfo **key,
								int64 *blocked_until, AkDenial *defer);
extern void ak_denial_queue(const AkDenial *denial, int status,
							const char *method, const char *path);

#endif							/* AK_ADMISSION_H */
