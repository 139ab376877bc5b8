/*-------------------------------------------------------------------------
 *
 * fn_worker.c
 *	  apikey._serve_database(): the extension's script asks the launcher
 *	  for a worker in this database, once the installation commits.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "fmgr.h"
#include "worker/launcher.h"

PG_FUNCTION_INFO_V1(apikey_serve_database);

/*
 * apikey._serve_database() RETURNS void.  Without the library preloaded
 * there is no launcher: nothing to do, and no error, so that the extension
 * can be created anyway (each entry point then says what is missing).
 */
Datum
apikey_serve_database(PG_FUNCTION_ARGS)
{
	if (ak_preloaded)
		ak_launcher_want_at_commit();
	PG_RETURN_VOID();
}
