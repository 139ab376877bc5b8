/*-------------------------------------------------------------------------
 *
 * certauth.h
 *	  check_request() for a request authenticated by a client certificate
 *	  that the proxy passes in a header (certauth.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_CERTAUTH_H
#define AK_CERTAUTH_H

#include <sys/socket.h>			/* AF_INET, for utils/inet.h */

#include "utils/inet.h"

extern bool ak_check_certificate(text *scope, bool signed_route, inet *client_ip);

#endif							/* AK_CERTAUTH_H */
