/*-------------------------------------------------------------------------
 *
 * certificates.h
 *	  Registering and revoking client certificates (certificates.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_CERTIFICATES_H
#define AK_CERTIFICATES_H

#include "core/x509.h"
#include "utils/array.h"
#include "utils/uuid.h"

typedef struct AkCertArgs
{
	text	   *pem;
	text	   *owner;
	text	   *name;
	ArrayType  *scopes;
	text	   *org;
	text	   *tier;
} AkCertArgs;

typedef struct AkRegistered
{
	pg_uuid_t	id;
	AkX509		cert;
} AkRegistered;

extern void ak_certificate_register(const AkCertArgs *args, AkRegistered *out);
extern bool ak_certificate_revoke(Datum cert_id);

#endif							/* AK_CERTIFICATES_H */
