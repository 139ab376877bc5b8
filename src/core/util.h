/*-------------------------------------------------------------------------
 *
 * util.h
 *	  Small helpers every layer uses (util.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_UTIL_H
#define AK_UTIL_H

#include "access/tupdesc.h"
#include "fmgr.h"

extern void *ak_array_grow(void *array, int *size, Size elem_size);
extern TupleDesc ak_result_tupdesc(FunctionCallInfo fcinfo);
extern AttrNumber ak_attnum(TupleDesc desc, const char *name);

#endif							/* AK_UTIL_H */
