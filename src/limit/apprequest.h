/*-------------------------------------------------------------------------
 *
 * apprequest.h
 *	  An application's request: open from check(..., endpoint => ...) to
 *	  finish() (apprequest.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_APPREQUEST_H
#define AK_APPREQUEST_H

#include "limit/limiter.h"

#define AK_METHOD_LEN		16	/* an HTTP method, and its NUL */

extern AkDenial *ak_app_request_begin(void);
extern void ak_app_request_open(const AkDecision *d, const char *endpoint,
								const char *method, int64 cost);
extern bool ak_app_request_finish(int status, int64 latency_us);

#endif							/* AK_APPREQUEST_H */
