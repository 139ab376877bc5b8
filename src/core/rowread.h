/*-------------------------------------------------------------------------
 *
 * rowread.h
 *	  Reading one row of an apikey table through an index, with a snapshot
 *	  of the caller's, bypassing the executor as the catalogs are read
 *	  (rowread.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_ROWREAD_H
#define AK_ROWREAD_H

#include "access/htup.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"

extern Oid	ak_relation_oid(Oid nsp, const char *name);
extern HeapTuple ak_fetch_one(Relation rel, Oid indexid, AttrNumber attnum,
							  RegProcedure eqproc, Oid collation, Datum value,
							  Snapshot snapshot);

#endif							/* AK_ROWREAD_H */
