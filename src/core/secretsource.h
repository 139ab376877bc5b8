/*-------------------------------------------------------------------------
 *
 * secretsource.h
 *	  Where the secrets of settings may come from (secretsource.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_SECRETSOURCE_H
#define AK_SECRETSOURCE_H

#include "utils/guc.h"

extern bool ak_jwt_secret_file_check(char **newval, void **extra, GucSource source);
extern void ak_jwt_secret_file_assign(const char *newval, void *extra);
extern const char *ak_jwt_file_secret_get(void);
extern void ak_secretsource_install_hook(void);

#endif							/* AK_SECRETSOURCE_H */
