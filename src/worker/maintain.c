/*-------------------------------------------------------------------------
 *
 * maintain.c
 *	  The worker's maintenance, every apikey.maintenance_interval, each
 *	  task in its own transaction:
 *	  - expiry: keys past expires_at -- a rotated key's grace period is its
 *		expires_at -- get revoked_at = expires_at, which keeps them EXPIRED
 *		(rotated ones REVOKED), and an "expired" audit row;
 *	  - retention: audit_log and usage_hours rows older than
 *		apikey.audit_retention and apikey.usage_retention, in batches;
 *	  - warnings of keys about to expire, and expired address blocks
 *		(warn.c).
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "catalog/pg_type_d.h"
#include "core/guc.h"
#include "core/spi.h"
#include "executor/spi.h"
#include "lifecycle/audit.h"
#include "worker/maintain.h"
#include "worker/task.h"
#include "worker/warn.h"

#define AK_RETENTION_BATCH		10000
#define AK_RETENTION_BATCHES	100 /* per maintenance: a million rows */
#define AK_BATCH_STR			CppAsString2(AK_RETENTION_BATCH)

static void
ak_expire_keys(void *arg)
{
	static const char *sql =
		"WITH expired AS ("
		"  UPDATE apikey.keys SET revoked_at = expires_at,"
		"    revoke_reason = CASE WHEN rotated_to IS NULL THEN 'expired' ELSE 'rotated' END"
		"   WHERE revoked_at IS NULL AND expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()"
		"  RETURNING id, owner, expires_at, rotated_to)"
		" INSERT INTO apikey.audit_log (action, key_id, owner, actor, detail)"
		" SELECT 'expired', id, owner, '" AK_WORKER_NAME "',"
		"   pg_catalog.jsonb_build_object("
		"     'reason', CASE WHEN rotated_to IS NULL THEN 'expires_at passed'"
		"                    ELSE 'rotation grace ended' END,"
		"     'expires_at', expires_at, 'rotated_to', rotated_to)"
		"   FROM expired";

	(void) ak_spi_exec(sql, NULL, SPI_OK_INSERT);
}

typedef struct AkPurge
{
	const char *sql;			/* $1: the retention in seconds */
	int			retention;
	uint64		deleted;
} AkPurge;

static void
ak_purge_batch(void *arg)
{
	AkPurge    *purge = arg;
	AkParams	p = {0};

	ak_param(&p, INT4OID, Int32GetDatum(purge->retention), false);
	ak_audit_purge_begin();
	PG_TRY();
	{
		purge->deleted = ak_spi_exec(purge->sql, &p, SPI_OK_DELETE);
	}
	PG_FINALLY();
	{
		ak_audit_purge_end();
	}
	PG_END_TRY();
}

/* Deletes rows past their retention, AK_RETENTION_BATCH per transaction. */
static void
ak_purge(const char *what, const char *sql, int retention)
{
	AkPurge		purge = {sql, retention, 0};

	if (retention <= 0)
		return;
	for (int i = 0; i < AK_RETENTION_BATCHES && !ak_worker_stop_requested; i++)
	{
		purge.deleted = 0;
		if (!ak_task_run(what, ak_purge_batch, &purge) ||
			purge.deleted < AK_RETENTION_BATCH)
			break;
	}
}

void
ak_worker_maintain(void)
{
	(void) ak_task_run("expire keys", ak_expire_keys, NULL);
	ak_worker_warn_expiring();
	ak_worker_expire_blocks();
	ak_purge("purge audit_log",
			 "DELETE FROM apikey.audit_log WHERE id OPERATOR(pg_catalog.=) ANY (ARRAY("
			 "  SELECT id FROM apikey.audit_log"
			 "   WHERE at OPERATOR(pg_catalog.<) (pg_catalog.now()"
			 "         OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1))"
			 "   ORDER BY at LIMIT " AK_BATCH_STR "))",
			 ak_audit_retention);
	ak_purge("purge usage_hours",
			 "DELETE FROM apikey.usage_hours WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
			 "  SELECT ctid FROM apikey.usage_hours"
			 "   WHERE hour OPERATOR(pg_catalog.<) (pg_catalog.now()"
			 "         OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1))"
			 "   LIMIT " AK_BATCH_STR "))",
			 ak_usage_retention);
}
