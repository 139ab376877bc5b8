/*-------------------------------------------------------------------------
 *
 * apikey.c
 *	  Module load: libsodium, the settings, shared memory, the worker, and
 *	  the hooks at transaction end and on the server log.
 *
 * Everything but sodium_init() happens only while the postmaster loads
 * shared_preload_libraries: without shared memory there is nothing apikey
 * can do correctly, so a library loaded any other way (CREATE EXTENSION in
 * a server that does not preload it) only makes each entry point report
 * SQLSTATE 55000 (core/preload.c).
 *
 * Shared memory is requested and attached here, part by part, in one
 * fixed order; each part documents its own locking protocol where it is
 * declared (doc/architecture.md lists them).
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include <sodium.h>

#include "auth/keyinval.h"
#include "auth/keyshare.h"
#include "auth/nonces.h"
#include "core/counters.h"
#include "core/guc.h"
#include "core/secretsource.h"
#include "core/tokenpath.h"
#include "limit/blocklist.h"
#include "limit/cells.h"
#include "limit/named.h"
#include "limit/persist.h"
#include "limit/quotastore.h"
#include "limit/slots.h"
#include "miscadmin.h"
#include "shmem/area.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "usage/events.h"
#include "usage/store.h"
#include "worker/ddl.h"
#include "worker/launcher.h"
#include "xact.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
ak_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();

	RequestAddinShmemSpace(ak_counters_shmem_size());
	RequestAddinShmemSpace(ak_inval_shmem_size());
	RequestNamedLWLockTranche("apikey invalidation", 1);
	RequestAddinShmemSpace(ak_area_shmem_size());
	ak_persist_request();
	ak_cells_request();
	ak_named_request();
	RequestAddinShmemSpace(ak_inflight_shmem_size());
	ak_quota_store_request();
	ak_usage_store_request();
	ak_events_request();
	ak_launcher_request();
	ak_nonces_request();
	ak_keyshare_request();
	RequestAddinShmemSpace(ak_blocklist_shmem_size());
}

static void
ak_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	ak_counters_shmem_init();
	ak_inval_shmem_init();
	ak_area_shmem_init();
	ak_persist_shmem_init();
	ak_cells_attach();
	ak_named_attach();
	ak_inflight_shmem_init();
	ak_quota_store_attach();
	ak_usage_store_attach();
	ak_events_attach();
	ak_launcher_shmem_init();
	ak_nonces_persist_start(ak_nonces_attach());
	ak_blocklist_shmem_init();
	ak_keyshare_attach();
	LWLockRelease(AddinShmemInitLock);
}

void
_PG_init(void)
{
	if (sodium_init() < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not initialize libsodium")));

	if (!process_shared_preload_libraries_in_progress)
		return;

	ak_define_gucs();

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = ak_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = ak_shmem_startup;
	ak_area_on_attach(ak_persist_on_attach);

	if (!IsBinaryUpgrade)
		ak_launcher_register();

	ak_tokenpath_install_hook();
	ak_ddl_install_hook();
	ak_secretsource_install_hook();
	ak_xact_register_callbacks();
	ak_preloaded = true;
}
