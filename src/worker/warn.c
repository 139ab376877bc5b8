/*-------------------------------------------------------------------------
 *
 * warn.c
 *	  Two maintenance tasks of the worker, each in its own transaction:
 *	  - warn expiring keys: each key whose expires_at comes within
 *		apikey.expiry_warning gets an "expiry_warning" audit row and a
 *		NOTIFY apikey_expiry, once per expires_at (a key given a new one is
 *		warned again).  Rotated keys, whose expiry is their grace, are not.
 *		A key whose row another transaction holds is warned next time:
 *		the worker never waits for owners' row locks;
 *	  - expire blocks: address blocks past their end leave the table.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "catalog/pg_type_d.h"
#include "core/guc.h"
#include "core/spi.h"
#include "executor/spi.h"
#include "worker/task.h"
#include "worker/warn.h"

static void
ak_warn_expiring(void *arg)
{
	static const char *sql =
		"WITH due AS ("
		"  SELECT id FROM apikey.keys"
		"   WHERE revoked_at IS NULL AND rotated_to IS NULL"
		"     AND expires_at OPERATOR(pg_catalog.>) pg_catalog.now()"
		"     AND expires_at OPERATOR(pg_catalog.<=) (pg_catalog.now()"
		"         OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => $1))"
		"     AND expiry_warned_for IS DISTINCT FROM expires_at"
		"   ORDER BY id FOR UPDATE SKIP LOCKED),"
		" warned AS ("
		"  UPDATE apikey.keys AS k SET expiry_warned_for = k.expires_at FROM due"
		"   WHERE k.id OPERATOR(pg_catalog.=) due.id"
		"  RETURNING k.id, k.owner, k.prefix, k.expires_at),"
		" audited AS ("
		"  INSERT INTO apikey.audit_log (action, key_id, owner, actor, detail)"
		"  SELECT 'expiry_warning', id, owner, '" AK_WORKER_NAME "',"
		"         pg_catalog.jsonb_build_object('display_prefix', prefix,"
		"                                       'expires_at', expires_at)"
		"    FROM warned"
		"  RETURNING id, key_id, owner, detail)"
		" SELECT pg_catalog.pg_notify('apikey_expiry',"
		"          (pg_catalog.jsonb_build_object('audit_id', id, 'key_id', key_id,"
		"            'owner', owner) OPERATOR(pg_catalog.||) detail)::text)"
		"   FROM audited";
	AkParams	p = {0};

	ak_param(&p, INT4OID, Int32GetDatum(ak_expiry_warning), false);
	(void) ak_spi_exec(sql, &p, SPI_OK_SELECT);
}

void
ak_worker_warn_expiring(void)
{
	if (ak_expiry_warning > 0)
		(void) ak_task_run("warn expiring keys", ak_warn_expiring, NULL);
}

static void
ak_expire_blocks(void *arg)
{
	(void) ak_spi_exec("DELETE FROM apikey.address_blocks"
					   " WHERE expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()",
					   NULL, SPI_OK_DELETE);
}

void
ak_worker_expire_blocks(void)
{
	(void) ak_task_run("expire blocks", ak_expire_blocks, NULL);
}
