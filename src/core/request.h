/*-------------------------------------------------------------------------
 *
 * request.h
 *	  The request PostgREST describes in transaction-local settings
 *	  (request.method, request.path, request.headers, request.jwt.claims),
 *	  read in one place, and only from a session PostgREST runs
 *	  (request.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_REQUEST_H
#define AK_REQUEST_H

#include "core/subject.h"

extern bool ak_request_trusted(void);
extern const char *ak_request_setting(const char *name);
extern const char *ak_request_setting_any_session(const char *name);
extern bool ak_in_request(void);
extern int	ak_request_copy(char *dst, int size, const char *name);
extern inet *ak_request_client_ip(void);

#endif							/* AK_REQUEST_H */
