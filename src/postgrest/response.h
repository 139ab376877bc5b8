/*-------------------------------------------------------------------------
 *
 * response.h
 *	  Headers added to PostgREST's response (response.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_RESPONSE_H
#define AK_RESPONSE_H

#include "limit/headerset.h"

extern void ak_append_response_headers(const AkHeaders *h);
extern void ak_set_response_status(int status);

#endif							/* AK_RESPONSE_H */
