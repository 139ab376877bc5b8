/*-------------------------------------------------------------------------
 *
 * certificate.h
 *	  Client certificates: their registration in apikey.certificates, the
 *	  decision on one, and the limits of its owner (certificate.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_CERTIFICATE_H
#define AK_CERTIFICATE_H

#include <sys/socket.h>			/* AF_INET, for utils/inet.h */

#include "core/codes.h"
#include "core/limits.h"
#include "core/x509.h"
#include "utils/inet.h"
#include "utils/uuid.h"

#define AK_CERT_DISPLAY_LEN		(5 + 16)	/* "cert:" and 16 hex digits */

/* A registration of a fingerprint, as verification reads it. */
typedef struct AkCertificate
{
	pg_uuid_t	id;
	char	   *owner;
	char	   *org;			/* NULL: none */
	char	   *subject_cn;		/* NULL: none */
	char	   *tier;
	char	  **scopes;
	int			nscopes;
	TimestampTz not_before;
	TimestampTz not_after;
	bool		active;
	TimestampTz revoked_at;		/* DT_NOEND while active */
	char		display[AK_CERT_DISPLAY_LEN + 1];
} AkCertificate;

extern AkCode ak_certificate_verify(const uint8 *fingerprint, int64 now_us,
									AkCertificate *out);
extern int	ak_certificate_limits(const AkCertificate *cert, AkLimit *limits,
								  int *nenforced, char **policy);
extern void ak_certificate_display(const uint8 *fingerprint, char *out);
extern void ak_certificate_denied(AkCode code, const uint8 *fingerprint,
								  inet *client_ip);

#endif							/* AK_CERTIFICATE_H */
