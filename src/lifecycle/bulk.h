/*-------------------------------------------------------------------------
 *
 * bulk.h
 *	  issue_bulk(): many keys in one call, written set-based (bulk.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_BULK_H
#define AK_BULK_H

#include "lifecycle/keys.h"

/* Receives each new key, in order; its token is wiped once it returns. */
typedef void (*AkNewKeyEmit) (const AkNewKey *key, void *arg);

extern void ak_keys_issue_bulk(Jsonb *specs, AkNewKeyEmit emit, void *arg);

#endif							/* AK_BULK_H */
