/*-------------------------------------------------------------------------
 *
 * token.h
 *	  The token format (doc/apikey.md, "Tokens"; token.c).
 *
 *	  token = <prefix> "_" <32 random base62> <6 base62 CRC-32 digits>
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_TOKEN_H
#define AK_TOKEN_H

#include "core/secret.h"
#include "fmgr.h"

#define AK_RANDOM_LEN		32	/* base62 characters of randomness */
#define AK_CHECKSUM_LEN		6	/* base62 digits of CRC-32 */
#define AK_BODY_LEN			(AK_RANDOM_LEN + AK_CHECKSUM_LEN)
#define AK_PREFIX_MAX_LEN	50	/* 16 + 2 * (1 + 16) */
#define AK_DISPLAY_BODY_LEN 8
#define AK_DISPLAY_MAX_LEN	(AK_PREFIX_MAX_LEN + 1 + AK_DISPLAY_BODY_LEN)
#define AK_DEFAULT_PREFIX	"ak_live"

extern bool ak_prefix_is_valid(const char *prefix, size_t len);
extern bool ak_token_is_well_formed(const char *token, size_t len,
									size_t *prefix_len);
extern void ak_token_generate(const char *prefix, size_t prefix_len,
							  char *out);
extern text *ak_token_arg(FunctionCallInfo fcinfo, int argno);

#endif							/* AK_TOKEN_H */
