/*-------------------------------------------------------------------------
 *
 * util.c
 *	  Small helpers every layer uses.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "core/util.h"
#include "funcapi.h"
#include "utils/memutils.h"

/* Doubles the room of a backend-lifetime array (8 elements at first). */
void *
ak_array_grow(void *array, int *size, Size elem_size)
{
	int			new_size = Max(8, *size * 2);

	array = array ? repalloc(array, new_size * elem_size)
		: MemoryContextAlloc(TopMemoryContext, new_size * elem_size);
	*size = new_size;
	return array;
}

/* The blessed result row type of a function, cached for its call site. */
TupleDesc
ak_result_tupdesc(FunctionCallInfo fcinfo)
{
	TupleDesc	desc = (TupleDesc) fcinfo->flinfo->fn_extra;

	if (desc == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		desc = BlessTupleDesc(desc);
		MemoryContextSwitchTo(old);
		fcinfo->flinfo->fn_extra = desc;
	}
	return desc;
}

/* The number of a table's column, by name. */
AttrNumber
ak_attnum(TupleDesc desc, const char *name)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att->attnum;
	}
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("column \"%s\" of an apikey table does not exist", name),
			 errdetail("The tables were made by another version of apikey than the server's library (%s).",
					   APIKEY_VERSION),
			 errhint("Run ALTER EXTENSION apikey UPDATE.")));
	return InvalidAttrNumber;	/* keep compiler quiet */
}
