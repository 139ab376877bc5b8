/*-------------------------------------------------------------------------
 *
 * preload.c
 *	  Whether the library was loaded by shared_preload_libraries, and the
 *	  error every SQL entry point raises when it was not.
 *
 * A library loaded any other way (CREATE EXTENSION in a server that does
 * not preload it) has no shared memory and no worker: each entry point then
 * reports SQLSTATE 55000 rather than doing anything half right.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

bool		ak_preloaded = false;

/*
 * The statement is hidden from the server log: it may carry a token.
 */
void
ak_report_not_preloaded(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("apikey must be loaded via shared_preload_libraries"),
			 errhint("Add apikey to shared_preload_libraries in postgresql.conf and restart the server."),
			 errhidestmt(true)));
	pg_unreachable();
}
