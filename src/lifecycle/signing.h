/*-------------------------------------------------------------------------
 *
 * signing.h
 *	  A key's signing secret, handed to its owner (signing.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_SIGNING_H
#define AK_SIGNING_H

#include "core/signkey.h"

extern void ak_key_signing_secret(Datum key_id, char *out);

#endif							/* AK_SIGNING_H */
