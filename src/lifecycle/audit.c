/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  The audit log: one row per change, written by the management
 *	  functions in the caller's transaction, and never changed or removed --
 *	  but by the worker's retention purge, which says so while it runs.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "auth/identity.h"
#include "catalog/pg_type_d.h"
#include "core/request.h"
#include "core/spi.h"
#include "lifecycle/audit.h"
#include "utils/builtins.h"

/* Set by the worker while it purges old rows: the one allowed DELETE. */
static bool ak_audit_purging = false;

/*
 * Appends one audit row for the caller; detail is a JSON object.  Requires
 * an SPI connection.
 */
void
ak_audit(const char *action, const pg_uuid_t *key_id, text *owner,
		 const char *detail)
{
	AkParams	p = {0};

	ak_param(&p, TEXTOID, CStringGetTextDatum(action), false);
	ak_param_ptr(&p, UUIDOID, key_id);
	ak_param_ptr(&p, TEXTOID, owner);
	ak_param(&p, TEXTOID, CStringGetTextDatum(ak_current_actor()), false);
	ak_param_ptr(&p, INETOID, ak_request_client_ip());
	ak_param(&p, TEXTOID, CStringGetTextDatum(detail), false);
	ak_spi_exec("INSERT INTO apikey.audit_log"
				" (action, key_id, owner, actor, client_ip,"
				"  request_method, request_path, detail)"
				" VALUES ($1, $2, $3, $4, $5,"
				"  nullif(current_setting('request.method', true), ''),"
				"  nullif(current_setting('request.path', true), ''),"
				"  $6::jsonb)", &p, AK_SPI_ANY);
}

/* The columns of ak_audit_rows(), $3 to $5 */
static const Oid ak_audit_row_columns[] = {UUIDOID, TEXTOID, TEXTOID};

/*
 * Appends n audit rows for the caller in one statement, in the order
 * given: the rows ak_audit() would write one by one.  details are JSON
 * objects.  Requires an SPI connection.
 *
 * The arrays are unnested in the select list, where rows stream, rather
 * than in FROM, where they would be stored first, on disk past work_mem.
 */
void
ak_audit_rows(const char *action, int n, const pg_uuid_t *key_ids,
			  text *const *owners, char *const *details)
{
	AkColumns	c;
	AkParams	p = {0};

	if (n == 0)
		return;
	ak_columns_init(&c, ak_audit_row_columns, lengthof(ak_audit_row_columns), n, false);
	for (int i = 0; i < n; i++)
	{
		ak_column_set(&c, 0, i, UUIDPGetDatum(&key_ids[i]));
		if (owners[i])
			ak_column_set(&c, 1, i, PointerGetDatum(owners[i]));
		else
			ak_column_set_null(&c, 1, i);
		ak_column_set(&c, 2, i, CStringGetTextDatum(details[i]));
	}
	ak_param(&p, TEXTOID, CStringGetTextDatum(action), false);
	ak_param(&p, TEXTOID, CStringGetTextDatum(ak_current_actor()), false);
	ak_columns_params(&c, &p);
	ak_param_ptr(&p, INETOID, ak_request_client_ip());
	ak_spi_exec("INSERT INTO apikey.audit_log"
				" (action, key_id, owner, actor, client_ip,"
				"  request_method, request_path, detail)"
				" SELECT $1, u.key_id, u.owner, $2, $6,"
				"  nullif(current_setting('request.method', true), ''),"
				"  nullif(current_setting('request.path', true), ''),"
				"  u.detail::jsonb"
				" FROM (SELECT unnest($3) AS key_id, unnest($4) AS owner,"
				"        unnest($5) AS detail) AS u", &p, AK_SPI_ANY);
}

/* The worker's retention purge runs between these two. */
void
ak_audit_purge_begin(void)
{
	ak_audit_purging = true;
}

void
ak_audit_purge_end(void)
{
	ak_audit_purging = false;
}

/* Whether a change to an audit row may go on: a DELETE by the purge only. */
bool
ak_audit_change_allowed(bool is_delete)
{
	return ak_audit_purging && is_delete;
}
