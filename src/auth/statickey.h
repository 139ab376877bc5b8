/*-------------------------------------------------------------------------
 *
 * statickey.h
 *	  The keys the static development keys verify as (statickey.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_STATICKEY_H
#define AK_STATICKEY_H

#include "auth/keyinfo.h"

extern const AkKeyInfo *ak_static_key_lookup(const uint8 *digest);

#endif							/* AK_STATICKEY_H */
