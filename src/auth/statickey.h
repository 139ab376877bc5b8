/*-------------------------------------------------------------------------
 *
 * statickey.h
 *	  The key the static development key verifies as (statickey.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_STATICKEY_H
#define AK_STATICKEY_H

#include "auth/keyinfo.h"

extern const AkKeyInfo *ak_static_key_info(void);

#endif							/* AK_STATICKEY_H */
