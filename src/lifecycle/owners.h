/*-------------------------------------------------------------------------
 *
 * owners.h
 *	  Owner limits: setting them, and max_keys at issue (owners.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_OWNERS_H
#define AK_OWNERS_H

#include "utils/jsonb.h"

extern bool ak_set_owner_limits(text *owner, Jsonb *limits, Datum *row);

#endif							/* AK_OWNERS_H */
