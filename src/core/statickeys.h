/*-------------------------------------------------------------------------
 *
 * statickeys.h
 *	  The static development keys of apikey.static_keys_file, and what is
 *	  logged about static keys at start (statickeys.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_STATICKEYS_H
#define AK_STATICKEYS_H

#define AK_MAX_STATIC_KEYS	100 /* keys of apikey.static_keys_file */

extern void ak_static_keys_load(const char *path);
extern void ak_static_keys_announce(bool one_more, bool production);
extern int	ak_static_file_key_count(void);
extern int	ak_static_file_key_match(const uint8 *digest);
extern const char *ak_static_file_key_owner(int n);
extern const char *ak_static_file_key_org(int n);

#endif							/* AK_STATICKEYS_H */
