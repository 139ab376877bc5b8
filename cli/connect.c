/*-------------------------------------------------------------------------
 *
 * connect.c
 *	  pg_apikey: the connection, running statements, and looking up the
 *	  key a command is about.
 *
 * User input reaches the server only as parameters of PQexecParams; the
 * session runs with an empty search_path and every name is qualified.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "common/connect.h"
#include "common/string.h"
#include "pg_apikey.h"

PGconn	   *conn;

/* ---- connecting ---- */

/* Asks for a password on the terminal, without echo, as psql does. */
static char *
prompt_password(const char *user)
{
	char	   *prompt;
	char	   *password;

	if (user && *user)
		prompt = psprintf("Password for user %s: ", user);
	else
		prompt = pg_strdup("Password: ");
	password = simple_prompt(prompt, false);
	pg_free(prompt);
	return password;
}

/* One attempt; the caller checks the result. */
static PGconn *
connect_once(const char *password)
{
	const char *keywords[8];
	const char *values[8];
	int			i = 0;
	PGconn	   *c;

	keywords[i] = "host";
	values[i++] = gopts.host;
	keywords[i] = "port";
	values[i++] = gopts.port;
	keywords[i] = "user";
	values[i++] = gopts.user;
	keywords[i] = "password";
	values[i++] = password;
	keywords[i] = "dbname";
	values[i++] = gopts.dbname;
	keywords[i] = "fallback_application_name";
	values[i++] = progname;
	if (getenv("PGCLIENTENCODING") == NULL)
	{
		/* files are read, and JSON written, as UTF-8 */
		keywords[i] = "client_encoding";
		values[i++] = "UTF8";
	}
	keywords[i] = NULL;
	values[i] = NULL;

	c = PQconnectdbParams(keywords, values, 1);
	if (c == NULL)
		die(EXIT_CONNECT, "could not connect: out of memory");
	return c;
}

/*
 * Connects as psql does: -d may be a conninfo string or URI (expanded in
 * place, so later keywords win), PG* variables and .pgpass fill the rest,
 * and a password is asked for only if the server wants one (-W: always,
 * -w: never).  Exits 2 if that fails.
 */
void
connect_db(void)
{
	char	   *password = NULL;

	if (gopts.prompt == PROMPT_ALWAYS)
		password = prompt_password(gopts.user);
	conn = connect_once(password);
	if (PQstatus(conn) == CONNECTION_BAD && PQconnectionNeedsPassword(conn) &&
		password == NULL && gopts.prompt != PROMPT_NEVER)
	{
		char	   *user = pg_strdup(PQuser(conn));

		PQfinish(conn);
		password = prompt_password(user);
		pg_free(user);
		conn = connect_once(password);
	}
	wipe_free(password);

	if (PQstatus(conn) != CONNECTION_OK)
		die(EXIT_CONNECT, "%s", PQerrorMessage(conn));

	/* as pg_dump does: nothing on the search_path but pg_catalog */
	PQclear(PQexec(conn, ALWAYS_SECURE_SEARCH_PATH_SQL));
}

/* ---- running statements ---- */

PGresult *
query_try(const char *sql, int nparams, const char *const *params)
{
	return PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
}

bool
query_ok(const PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	return st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
}

/* Runs a statement; on an error, reports it and exits (3, 4 or 2). */
PGresult *
query(const char *sql, int nparams, const char *const *params)
{
	PGresult   *res = query_try(sql, nparams, params);

	if (!query_ok(res))
		exit(report_server_error(res, NULL));
	return res;
}

PGresult *
query_rows(const char *sql, int nparams, const char *const *params, bool json)
{
	PQExpBufferData q;
	PGresult   *res;

	if (!json)
		return query(sql, nparams, params);
	initPQExpBuffer(&q);
	appendPQExpBuffer(&q, "SELECT pg_catalog.row_to_json(r) FROM (%s) AS r", sql);
	res = query(q.data, nparams, params);
	termPQExpBuffer(&q);
	return res;
}

void
rollback(void)
{
	PQclear(PQexec(conn, "ROLLBACK"));
}

void
stmt_init(Statement *st, const char *sql, const char *param1)
{
	initPQExpBuffer(&st->sql);
	appendPQExpBufferStr(&st->sql, sql);
	st->nparams = 0;
	if (param1)
		st->params[st->nparams++] = param1;
}

void
stmt_arg(Statement *st, const char *fmt, const char *value)
{
	Assert(st->nparams < lengthof(st->params));
	st->params[st->nparams++] = value;
	appendPQExpBufferStr(&st->sql, ", ");
	appendPQExpBuffer(&st->sql, fmt, st->nparams);
}

PGresult *
stmt_run(Statement *st, bool json)
{
	PGresult   *res = query_rows(st->sql.data, st->nparams, st->params, json);

	termPQExpBuffer(&st->sql);
	return res;
}

/* ---- the key a command is about ---- */

Key
resolve_key(const char *arg)
{
	bool		by_id = classify_key_ref(arg) == KEYREF_ID;
	PGresult   *res;
	Key			key;

	res = query(by_id
				? "SELECT id, prefix FROM apikey.key_list WHERE id = $1::pg_catalog.uuid"
				: "SELECT id, prefix FROM apikey.key_list WHERE prefix = $1",
				1, &arg);
	if (PQntuples(res) == 0)
		die(EXIT_NOT_FOUND, "no API key with %s \"%s\"",
			by_id ? "id" : "display prefix", arg);
	key.id = pg_strdup(PQgetvalue(res, 0, 0));
	key.prefix = pg_strdup(PQgetvalue(res, 0, 1));
	PQclear(res);
	return key;
}
