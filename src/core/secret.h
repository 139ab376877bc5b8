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

extern FILE *ak_secret_file_open(const char *path, const char *what);
extern void ak_pepper_load(const char *path);
extern void ak_digest(const char *secret, size_t len, uint8 *out);

/* apikey.static_key: its GUC hooks, and the test verification uses */
extern bool ak_static_key_check(char **newval, void **extra, GucSource source);
extern void ak_static_key_assign(const char *newval, void *extra);
extern bool ak_static_key_matches(const uint8 *digest);

#endif							/* AK_SECRET_H */
