/*-------------------------------------------------------------------------
 *
 * x509.h
 *	  X.509 certificates as apikey knows them: the SHA-256 fingerprint of
 *	  the DER, the subject's CN, the issuer, the validity (x509.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_X509_H
#define AK_X509_H

#include "datatype/timestamp.h"

#define AK_FINGERPRINT_LEN		32	/* SHA-256 */
#define AK_FINGERPRINT_HEX_LEN	64
#define AK_PEM_MAX_LEN			(64 * 1024)

typedef struct AkX509
{
	uint8		fingerprint[AK_FINGERPRINT_LEN];
	char		fingerprint_hex[AK_FINGERPRINT_HEX_LEN + 1];
	char	   *subject_cn;		/* NULL: the subject has no CN */
	char	   *issuer;			/* RFC 2253 */
	TimestampTz not_before;
	TimestampTz not_after;
} AkX509;

extern const char *ak_x509_from_pem(const char *pem, size_t len, AkX509 *out);
extern bool ak_x509_peer(AkX509 *out);
extern bool ak_fingerprint_parse(const char *s, size_t len, uint8 *out);
extern void ak_fingerprint_hex(const uint8 *fingerprint, char *out);
extern bool ak_fingerprint_from_header(const char *value, uint8 *out);

#endif							/* AK_X509_H */
