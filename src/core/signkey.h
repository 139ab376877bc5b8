/*-------------------------------------------------------------------------
 *
 * signkey.h
 *	  The root secrets of request signing, and the signing secret of each
 *	  key derived from them (signkey.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_SIGNKEY_H
#define AK_SIGNKEY_H

#include "utils/uuid.h"

#define AK_SIGNING_ROOT_LEN		32	/* bytes of a root secret */
#define AK_MAX_SIGNING_ROOTS	4	/* the current root and earlier ones */
#define AK_SIGNING_SECRET_TAG	"aksig_"
/* "aksig_" and 32 bytes in unpadded base64url */
#define AK_SIGNING_SECRET_LEN	(sizeof(AK_SIGNING_SECRET_TAG) - 1 + 43)

extern void ak_signing_roots_load(const char *path);
extern int	ak_signing_root_count(void);
extern void ak_signing_secret(const pg_uuid_t *key_id, int root, char *out);

#endif							/* AK_SIGNKEY_H */
