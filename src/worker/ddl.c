/*-------------------------------------------------------------------------
 *
 * ddl.c
 *	  DROP DATABASE, ALTER DATABASE and CREATE DATABASE from a template
 *	  refuse to run while anyone is connected to the database -- the apikey
 *	  worker too.  So they stop the worker first and keep it stopped until
 *	  they are done (worker/launcher.c), as TimescaleDB does for its
 *	  scheduler.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "worker/ddl.h"
#include "worker/launcher.h"

static ProcessUtility_hook_type prev_process_utility = NULL;

/* The template of CREATE DATABASE: template1 unless it says otherwise. */
static const char *
ak_createdb_template(const CreatedbStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->options)
	{
		DefElem    *opt = lfirst(lc);

		if (strcmp(opt->defname, "template") == 0 && opt->arg != NULL)
			return defGetString(opt);
	}
	return "template1";
}

/* The database a statement needs alone, or NULL; *drop if it drops it. */
static const char *
ak_database_needed_alone(Node *stmt, bool *drop)
{
	*drop = false;
	switch (nodeTag(stmt))
	{
		case T_DropdbStmt:
			*drop = true;
			return ((DropdbStmt *) stmt)->dbname;
		case T_CreatedbStmt:
			return ak_createdb_template((CreatedbStmt *) stmt);
		case T_AlterDatabaseStmt:
			return ((AlterDatabaseStmt *) stmt)->dbname;
		case T_RenameStmt:
			if (((RenameStmt *) stmt)->renameType == OBJECT_DATABASE)
				return ((RenameStmt *) stmt)->subname;
			return NULL;
		default:
			return NULL;
	}
}

static void
ak_process_utility(PlannedStmt *pstmt, const char *queryString,
				   bool readOnlyTree, ProcessUtilityContext context,
				   ParamListInfo params, QueryEnvironment *queryEnv,
				   DestReceiver *dest, QueryCompletion *qc)
{
	bool		drop_it;
	const char *dbname = ak_database_needed_alone(pstmt->utilityStmt, &drop_it);
	volatile bool drop = drop_it;
	volatile Oid dboid = dbname ? get_database_oid(dbname, true) : InvalidOid;

	if (OidIsValid(dboid))
		ak_launcher_pause(dboid);
	PG_TRY();
	{
		if (prev_process_utility)
			prev_process_utility(pstmt, queryString, readOnlyTree, context,
								 params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
	}
	PG_CATCH();
	{
		if (OidIsValid(dboid))
			ak_launcher_resume(dboid, false);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (OidIsValid(dboid))
		ak_launcher_resume(dboid, drop);
}

void
ak_ddl_install_hook(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = ak_process_utility;
}
