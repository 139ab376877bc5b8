/*-------------------------------------------------------------------------
 *
 * secret.h
 *	  The digests apikey stores instead of secrets: BLAKE2b-256 keyed with
 *	  the server pepper, and the static development key kept as its digest.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_SECRET_H
#define AK_SECRET_H

#include "utils/guc.h"

#define AK_DIGEST_LEN		32	/* BLAKE2b-256 */
#define AK_PEPPER_LEN		32
#define AK_TOKEN_MAX_LEN	255 /* the longest secret accepted, in bytes */

/* a static key as shown and configured: "blake2b:" and its hex digest */
#define AK_STATIC_DIGEST_TAG		"blake2b:"
#define AK_STATIC_DIGEST_FORM_LEN	(sizeof(AK_STATIC_DIGEST_TAG) + 2 * AK_DIGEST_LEN)

extern FILE *ak_secret_file_open(const char *path, const char *what);
extern void ak_pepper_load(const char *path);
extern void ak_digest(const char *secret, size_t len, uint8 *out);

/* apikey.static_key: its GUC hooks, and the test verification uses */
/* the shortest JWT secret: HS256 wants at least 256 bits */
#define AK_JWT_MIN_SECRET	32

extern bool ak_secret_source_ok(const char *setting, GucSource source,
								const char *digest_form);
extern bool ak_jwt_secret_check(char **newval, void **extra, GucSource source);
extern bool ak_static_key_check(char **newval, void **extra, GucSource source);
extern void ak_static_key_assign(const char *newval, void *extra);
extern bool ak_static_key_matches(const uint8 *digest);
extern bool ak_is_static_digest(const char *value);
extern void ak_static_digest_form(const char *key, size_t len, char *out);

#endif							/* AK_SECRET_H */
