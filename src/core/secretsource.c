/*-------------------------------------------------------------------------
 *
 * secretsource.c
 *	  Secrets come only from trusted places (with the check hooks of
 *	  secret.c): apikey.static_key and
 *	  apikey.jwt_secret are accepted from postgresql.conf, the server's
 *	  environment (the static key), a session of a superuser, a file
 *	  (apikey.jwt_secret_file) or as a digest (the static key, which is
 *	  only ever compared); never where other roles read them.
 *
 * Where a setting can come from, and who reads it there:
 *	  ALTER ROLE / ALTER DATABASE ... SET (and CREATE FUNCTION ... SET):
 *		stored in pg_db_role_setting (pg_proc.proconfig), which every role
 *		can read.  PostgreSQL validates the value with source PGC_S_TEST,
 *		and applies it at session start with source PGC_S_GLOBAL,
 *		_DATABASE, _USER or _DATABASE_USER: the check hooks (secret.c)
 *		refuse a clear secret from all of these.
 *	  the server's command line (PGC_S_ARGV): shown by ps to every user of
 *		the machine; refused too.
 *	  ALTER SYSTEM: written as given to postgresql.auto.conf, and
 *		validated with source PGC_S_FILE, the same as postgresql.conf, so
 *		no check hook can tell them apart.  A ProcessUtility hook (here)
 *		refuses the statement instead, with the digest to write for the
 *		static key.
 *	  apikey.jwt_secret_file: a file only the server's user can read (here).
 *
 * A refused value is never quoted, and the statement that held it is not
 * logged with the error (core/tokenpath.c).
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include <sys/stat.h>

#include <sodium.h>

#include "core/secret.h"
#include "core/secretsource.h"
#include "core/tokenpath.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"

static ProcessUtility_hook_type prev_process_utility = NULL;

/* the secret of apikey.jwt_secret_file, in malloc'd memory, or NULL */
static char *ak_jwt_file_secret = NULL;

/* ---- apikey.jwt_secret_file ---- */

/* Reads a secret file into buf (NUL-terminated, trailing white space cut). */
static bool
ak_read_secret_file(const char *path, char *buf, size_t size)
{
	FILE	   *file = fopen(path, "r");
	struct stat st;
	size_t		len;

	if (file == NULL)
	{
		GUC_check_errdetail("Could not open \"%s\": %m.", path);
		return false;
	}
	if (fstat(fileno(file), &st) != 0 || (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
	{
		fclose(file);
		GUC_check_errdetail("The file \"%s\" must not be accessible to its group or to others.", path);
		GUC_check_errhint("Run chmod 0600 on the file.");
		return false;
	}
	len = fread(buf, 1, size - 1, file);
	fclose(file);
	while (len > 0 && isspace((unsigned char) buf[len - 1]))
		len--;
	buf[len] = '\0';
	if (len < AK_JWT_MIN_SECRET || len == size - 1 || strlen(buf) != len)
	{
		sodium_memzero(buf, size);
		GUC_check_errdetail("The file must hold one secret of %d to %zu characters.",
							AK_JWT_MIN_SECRET, size - 2);
		return false;
	}
	return true;
}

/*
 * Check hook of apikey.jwt_secret_file: reads the secret, in each process
 * that applies the setting (at start and at each reload), into extra.
 */
bool
ak_jwt_secret_file_check(char **newval, void **extra, GucSource source)
{
	char		buf[1024];
	char	   *copy;

	if (*newval == NULL || **newval == '\0')
		return true;
	if (!ak_read_secret_file(*newval, buf, sizeof(buf)))
		return false;
	copy = ak_guc_strdup(buf);
	sodium_memzero(buf, sizeof(buf));
	if (copy == NULL)
		return false;
	*extra = copy;
	return true;
}

/*
 * Assign hook of apikey.jwt_secret_file.  The old secret is freed by the
 * GUC machinery (it is the old extra), not wiped: it is still a secret of
 * the past that PostgREST may hold too, never written anywhere.
 */
void
ak_jwt_secret_file_assign(const char *newval, void *extra)
{
	ak_jwt_file_secret = (newval != NULL && *newval != '\0') ? extra : NULL;
}

/* The secret of apikey.jwt_secret_file, or NULL when it is not set. */
const char *
ak_jwt_file_secret_get(void)
{
	return ak_jwt_file_secret;
}


/* ---- ALTER SYSTEM ---- */

/*
 * Refuses ALTER SYSTEM SET of a secret in clear: it would be written as
 * given to postgresql.auto.conf.  RESET is fine, and so is a static key's
 * digest.
 */
static void
ak_check_alter_system(AlterSystemStmt *stmt)
{
	VariableSetStmt *set = stmt->setstmt;
	bool		static_key;
	char	   *value;

	if (set->kind != VAR_SET_VALUE || set->name == NULL)
		return;
	static_key = pg_strcasecmp(set->name, "apikey.static_key") == 0;
	if (!static_key && pg_strcasecmp(set->name, "apikey.jwt_secret") != 0)
		return;
	AK_TOKEN_PATH_BEGIN();
	value = ExtractSetVariableArgs(set);
	if (value == NULL || *value == '\0' || (static_key && ak_is_static_digest(value)))
		return;
	if (static_key)
	{
		char		digest_form[AK_STATIC_DIGEST_FORM_LEN];

		ak_static_digest_form(value, strlen(value), digest_form);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("ALTER SYSTEM cannot set %s in clear", "apikey.static_key"),
				 errdetail("ALTER SYSTEM writes the value as given to postgresql.auto.conf."),
				 errhint("Set its digest instead: ALTER SYSTEM SET apikey.static_key = '%s'.",
						 digest_form)));
	}
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("ALTER SYSTEM cannot set %s in clear", "apikey.jwt_secret"),
			 errdetail("ALTER SYSTEM writes the value as given to postgresql.auto.conf."),
			 errhint("Name a file holding it in apikey.jwt_secret_file, or set it in postgresql.conf.")));
}

static void
ak_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				   ProcessUtilityContext context, ParamListInfo params,
				   QueryEnvironment *queryEnv, DestReceiver *dest,
				   QueryCompletion *qc)
{
	if (IsA(pstmt->utilityStmt, AlterSystemStmt))
		ak_check_alter_system((AlterSystemStmt *) pstmt->utilityStmt);
	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context, params,
							 queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
}

void
ak_secretsource_install_hook(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = ak_process_utility;
}
