/*-------------------------------------------------------------------------
 *
 * apikey.h
 *	  What every file of the apikey extension needs, and nothing more.
 *
 * The code is layered, each folder of src/ a layer, each file one concern;
 * includes and calls point down only (doc/architecture.md, checked by
 * scripts/depgraph.py):
 *
 *	  core/       settings, outcome codes, the clock and periods, limit
 *	              specifications, SPI, JSON, subjects, counters, secrets
 *	  shmem/      the shared hash table with hints, and its locking protocol
 *	  usage/      usage per key and hour, latency histograms, access events
 *	  auth/       tokens, the key cache and its invalidation, verification,
 *	              the caller's identity
 *	  limit/      token buckets, slots, abuse cooldowns, quotas, headers,
 *	              and the limiter that orders them
 *	  postgrest/  check_request(), its errors and headers, the scope map,
 *	              exchange()
 *	  lifecycle/  issue, rotate, revoke, update, introspect, the audit log
 *	  worker/     the background worker and its tasks
 *	  api/        the SQL-callable functions, thin
 *	  apikey.c, xact.c   module load, shared memory, transaction end
 *
 * Each module has its own header, included by path from src/ ("core/guc.h").
 *
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_H
#define APIKEY_H

#include "postgres.h"

#include "compat.h"

/* the extension, and its schema (apikey.control: relocatable = false) */
#define AK_EXTENSION		"apikey"
#define AK_SCHEMA			"apikey"

/*
 * Set by _PG_init once the library was loaded by shared_preload_libraries
 * (core/preload.c).  Every SQL entry point starts with AK_REQUIRE_PRELOAD:
 * without shared memory there is nothing apikey can do correctly.
 */
extern bool ak_preloaded;

pg_noreturn extern void ak_report_not_preloaded(void);

#define AK_REQUIRE_PRELOAD() \
	do { \
		if (unlikely(!ak_preloaded)) \
			ak_report_not_preloaded(); \
	} while (0)

#endif							/* APIKEY_H */
