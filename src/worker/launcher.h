/*-------------------------------------------------------------------------
 *
 * launcher.h
 *	  The apikey launcher: a worker per database where the extension is
 *	  installed (launcher.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_LAUNCHER_H
#define AK_LAUNCHER_H

#include "access/xact.h"

extern void ak_launcher_register(void);
extern void ak_launcher_request(void);
extern void ak_launcher_shmem_init(void);

extern void ak_launcher_want_at_commit(void);
extern void ak_launcher_at_xact_end(XactEvent event);
extern void ak_launcher_worker_running(void);
extern void ak_launcher_worker_leaves(bool extension_gone);
extern void ak_launcher_pause(Oid dboid);
extern void ak_launcher_resume(Oid dboid, bool dropped);

PGDLLEXPORT extern void apikey_launcher_main(Datum arg);

#endif							/* AK_LAUNCHER_H */
