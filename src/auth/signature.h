/*-------------------------------------------------------------------------
 *
 * signature.h
 *	  Signed requests: HMAC-SHA-256 with the key's signing secret, a
 *	  timestamp within the skew window, a nonce seen once (signature.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_SIGNATURE_H
#define AK_SIGNATURE_H

#include "auth/keyinfo.h"
#include "core/codes.h"

#define AK_SIGNED_METHOD_MAX	16
#define AK_SIGNED_PATH_MAX		2048
#define AK_SIGNED_NONCE_MAX		128
#define AK_BODY_SHA256_LEN		64	/* lower-case hexadecimal */
#define AK_SIGNATURE_HEX_LEN	64

/* What a signature covers, and the signature (lengths in bytes). */
typedef struct AkSignedRequest
{
	const char *method;
	size_t		method_len;
	const char *path;
	size_t		path_len;
	int64		ts;				/* Unix seconds */
	const char *body_sha256;
	size_t		body_len;
	const char *nonce;			/* NULL: none */
	size_t		nonce_len;
	const char *signature;		/* NULL: none */
	size_t		signature_len;
} AkSignedRequest;

extern void ak_require_signing(void);
extern const char *ak_signed_request_problem(const AkSignedRequest *r,
											 const char **what);
extern AkCode ak_signature_check(const pg_uuid_t *key_id, const AkSignedRequest *r,
								 int64 now_us, int64 *retry_after_us);
extern const AkKeyInfo *ak_signature_key(text *key, int64 now_us, AkCode *code);
extern void ak_signature_denied(AkCode code, const AkKeyInfo *key, inet *client_ip);

#endif							/* AK_SIGNATURE_H */
