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

/* The columns of an audit row after action, key_id, owner and detail. */
#define AK_AUDIT_ORIGIN_COLUMNS \
	"actor, client_ip, request_method, request_path, session_role, subject, actor_key_id"

/*
 * Appends the parameters of AK_AUDIT_ORIGIN_COLUMNS for the caller: the
 * real roles, current and session; what the caller claimed (a JWT
 * subject) and the key it proved (check_request()), in columns of their
 * own; where the request came from.
 */
static void
ak_audit_origin_params(AkParams *p)
{
	AkActor		actor;
	const char *method = ak_request_setting("request.method");
	const char *path = ak_request_setting("request.path");

	ak_current_actor(&actor);
	ak_param(p, TEXTOID, CStringGetTextDatum(actor.role), false);
	ak_param_ptr(p, INETOID, ak_request_client_ip());
	ak_param_ptr(p, TEXTOID, method ? cstring_to_text(method) : NULL);
	ak_param_ptr(p, TEXTOID, path ? cstring_to_text(path) : NULL);
	ak_param(p, TEXTOID, CStringGetTextDatum(actor.session_role), false);
	ak_param_ptr(p, TEXTOID, actor.subject ? cstring_to_text(actor.subject) : NULL);
	/* the parameters outlive this frame: the key id is copied */
	ak_param_ptr(p, UUIDOID, actor.has_key ?
				 memcpy(palloc(sizeof(pg_uuid_t)), &actor.key_id, sizeof(pg_uuid_t)) : NULL);
}

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
	ak_param(&p, TEXTOID, CStringGetTextDatum(detail), false);
	ak_audit_origin_params(&p);
	ak_spi_exec("INSERT INTO apikey.audit_log"
				" (action, key_id, owner, detail, " AK_AUDIT_ORIGIN_COLUMNS ")"
				" VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10, $11)",
				&p, AK_SPI_ANY);
}

/* The columns of ak_audit_rows(), $2 to $4 */
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
	ak_columns_params(&c, &p);
	ak_audit_origin_params(&p);
	ak_spi_exec("INSERT INTO apikey.audit_log"
				" (action, key_id, owner, detail, " AK_AUDIT_ORIGIN_COLUMNS ")"
				" SELECT $1, u.key_id, u.owner, u.detail::jsonb, $5, $6, $7, $8, $9, $10, $11"
				" FROM (SELECT unnest($2) AS key_id, unnest($3) AS owner,"
				"        unnest($4) AS detail) AS u", &p, AK_SPI_ANY);
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
