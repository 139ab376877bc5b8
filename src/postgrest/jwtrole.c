/*-------------------------------------------------------------------------
 *
 * jwtrole.c
 *	  Which roles a JWT minted by exchange() may name.  PostgREST switches
 *	  to the JWT's role for the request, so a key whose jwt_role is a
 *	  privileged role makes every holder of the key that role.  A JWT's
 *	  role must therefore be a role for requests:
 *	  - NOLOGIN (not an account someone logs in with),
 *	  - not a superuser, never, whatever the settings say,
 *	  - without CREATEROLE, BYPASSRLS or REPLICATION,
 *	  - not a member of apikey_admin (keys would manage every key) nor of
 *		a predefined role (pg_read_all_data, pg_execute_server_program...),
 *	  unless apikey.jwt_privileged_roles lists it: that is how an admin
 *	  lets keys mint Supabase's service_role (BYPASSRLS), knowingly.
 *	  update() checks a key's jwt_role when it is set; exchange() checks it
 *	  again each time, since roles change.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "catalog/pg_type_d.h"
#include "core/guc.h"
#include "core/spi.h"
#include "executor/spi.h"
#include "postgrest/jwtrole.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

const char *ak_jwt_role_rule =
"A JWT's role must be a NOLOGIN role without SUPERUSER, CREATEROLE, BYPASSRLS "
"or REPLICATION, and not a member of apikey_admin or of a predefined pg_* role, "
"unless apikey.jwt_privileged_roles lists it (a superuser never).";

/* What makes a role privileged, as one statement over pg_roles. */
static const char *ak_role_sql =
"SELECT r.rolsuper, r.rolcanlogin, r.rolcreaterole, r.rolbypassrls,"
"       r.rolreplication,"
"       (SELECT pg_catalog.min(g.rolname::pg_catalog.text) FROM pg_catalog.pg_roles AS g"
"         WHERE (g.rolname OPERATOR(pg_catalog.=) 'apikey_admin'"
"                OR g.rolname OPERATOR(pg_catalog.~~) 'pg\\_%')"
"           AND pg_catalog.pg_has_role(r.oid, g.oid, 'MEMBER'))"
"  FROM pg_catalog.pg_roles AS r"
" WHERE r.rolname OPERATOR(pg_catalog.=) $1::pg_catalog.text";

static bool
ak_flag(int col)
{
	bool		isnull;

	return DatumGetBool(ak_spi_value(0, col, &isnull));
}

/* The first privilege of the role ak_role_sql found, or NULL. */
static const char *
ak_role_privilege(bool *superuser)
{
	bool		isnull;
	Datum		member;

	*superuser = ak_flag(1);
	if (*superuser)
		return "It is a superuser";
	if (ak_flag(2))
		return "It can log in (LOGIN)";
	if (ak_flag(3))
		return "It has CREATEROLE";
	if (ak_flag(4))
		return "It has BYPASSRLS";
	if (ak_flag(5))
		return "It has REPLICATION";
	member = ak_spi_value(0, 6, &isnull);
	if (!isnull)
		return psprintf("It is %s or a member of it", TextDatumGetCString(member));
	return NULL;
}

/*
 * Why role may not be a JWT's role, as a phrase ("It has BYPASSRLS", "it
 * does not exist"), or NULL when it may.
 */
const char *
ak_jwt_role_problem(const char *role)
{
	MemoryContext caller = CurrentMemoryContext;
	AkParams	p = {0};
	const char *problem = "It does not exist";
	bool		superuser = false;

	SPI_connect();
	ak_param(&p, TEXTOID, CStringGetTextDatum(role), false);
	if (ak_spi_exec(ak_role_sql, &p, SPI_OK_SELECT) == 1)
	{
		problem = ak_role_privilege(&superuser);
		if (problem != NULL)
			problem = MemoryContextStrdup(caller, problem);
	}
	SPI_finish();

	if (problem != NULL && !superuser &&
		strcmp(problem, "It does not exist") != 0 &&
		ak_role_in_list(ak_jwt_privileged_roles, role))
		return NULL;
	return problem;
}
