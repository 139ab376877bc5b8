/*-------------------------------------------------------------------------
 *
 * named.h
 *	  throttle()'s buckets: private to a database and a role unless an
 *	  administrator shares the name, remembering their parameters, and
 *	  capped per role (named.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_NAMED_H
#define AK_NAMED_H

#include "limit/cells.h"

extern void ak_named_request(void);
extern void ak_named_attach(void);

extern AkDebit ak_named_debit(const char *name, size_t len, const AkLimit *limit,
							  int64 cost, int64 now_us, AkLimitOutcome *out);
extern bool ak_named_restore(const AkCellKey *key, const AkGcra *gcra,
							 Oid dboid, Oid roleid, int64 rate,
							 int64 period_us, int64 burst);
extern void ak_named_shared_changed(Oid relid);
extern int64 ak_named_clear(Oid roleid, const char *name, size_t len);

typedef void (*AkNamedOwnerFn) (Oid dboid, Oid roleid, int64 buckets, void *arg);
extern void ak_named_owners(AkNamedOwnerFn fn, void *arg);

#endif							/* AK_NAMED_H */
