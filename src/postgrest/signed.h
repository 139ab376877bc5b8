/*-------------------------------------------------------------------------
 *
 * signed.h
 *	  The signature of a PostgREST request, from its headers (signed.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_SIGNED_H
#define AK_SIGNED_H

#include "auth/keyinfo.h"
#include "core/codes.h"

extern AkCode ak_check_signature(text *token, text *scope, inet *client_ip,
								 const char *method, const char *path,
								 const AkKeyInfo **key, int64 *retry_after_us);

#endif							/* AK_SIGNED_H */
