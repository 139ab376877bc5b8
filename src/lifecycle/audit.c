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
 * an SPI connection.  The actor is the real roles, current and session;
 * what the caller claimed (a JWT subject) and the key it proved
 * (check_request()) are columns of their own.
 */
void
ak_audit(const char *action, const pg_uuid_t *key_id, text *owner,
		 const char *detail)
{
	AkParams	p = {0};
	AkActor		actor;
	const char *method = ak_request_setting("request.method");
	const char *path = ak_request_setting("request.path");

	ak_current_actor(&actor);
	ak_param(&p, TEXTOID, CStringGetTextDatum(action), false);
	ak_param_ptr(&p, UUIDOID, key_id);
	ak_param_ptr(&p, TEXTOID, owner);
	ak_param(&p, TEXTOID, CStringGetTextDatum(actor.role), false);
	ak_param_ptr(&p, INETOID, ak_request_client_ip());
	ak_param_ptr(&p, TEXTOID, method ? cstring_to_text(method) : NULL);
	ak_param_ptr(&p, TEXTOID, path ? cstring_to_text(path) : NULL);
	ak_param(&p, TEXTOID, CStringGetTextDatum(detail), false);
	ak_param(&p, TEXTOID, CStringGetTextDatum(actor.session_role), false);
	ak_param_ptr(&p, TEXTOID, actor.subject ? cstring_to_text(actor.subject) : NULL);
	ak_param_ptr(&p, UUIDOID, actor.has_key ? &actor.key_id : NULL);
	ak_spi_exec("INSERT INTO apikey.audit_log"
				" (action, key_id, owner, actor, client_ip,"
				"  request_method, request_path, detail,"
				"  session_role, subject, actor_key_id)"
				" VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11)",
				&p, AK_SPI_ANY);
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
