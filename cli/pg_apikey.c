/*-------------------------------------------------------------------------
 *
 * pg_apikey.c
 *	  The command-line tool of the apikey extension: issue, list, show,
 *	  revoke, rotate, update, usage, export, bulk-issue and bulk-revoke,
 *	  through libpq, with PostgreSQL's usual connection options.
 *
 * Every command checks its input completely before it connects, sends
 * user input only as parameters of PQexecParams, schema-qualifies every
 * name (and runs with an empty search_path, as pg_dump does), and prints a
 * new token once, on stdout, with a warning on stderr.  Bulk commands run
 * in one transaction, so a file is applied whole or not at all.
 *
 * Exit status: 0 success, 1 usage error or bad input, 2 cannot connect,
 * 3 server error, 4 key not found.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <getopt.h>

#include "common/connect.h"
#include "common/string.h"
#include "pg_apikey.h"

#ifndef APIKEY_VERSION
#define APIKEY_VERSION "unknown"
#endif

const char *const progname = "pg_apikey";

static const char *const token_warning =
"this token will not be shown again; store it now";

/* ---- options ---- */

enum
{
	OPT_JSON = 256,
	OPT_OWNER,
	OPT_NAME,
	OPT_SCOPE,
	OPT_TIER,
	OPT_EXPIRES,
	OPT_ALLOW_IP,
	OPT_PREFIX,
	OPT_ORG,
	OPT_METADATA,
	OPT_RATE_LIMIT,
	OPT_STATUS,
	OPT_REASON,
	OPT_GRACE,
	OPT_SET,
	OPT_DAYS,
	OPT_FORMAT,
	OPT_DRY_RUN
};

Options		opts;
PGconn	   *conn;

typedef struct Command
{
	const char *name;
	int			(*run) (void);
	const struct option *options;
	int			minpos;
	int			maxpos;			/* -1: any number */
	const char *usage;
	const char *help;
} Command;

static const Command *command;	/* the one being run */

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

/*
 * Connects as psql does: -d may be a conninfo string or URI (expanded in
 * place, so later keywords win), PG* variables and .pgpass fill the rest,
 * and a password is asked for only if the server wants one (-W: always,
 * -w: never).  Exits 2 if that fails.
 */
void
connect_db(void)
{
	const char *keywords[8];
	const char *values[8];
	char	   *password = NULL;
	bool		again;

	if (opts.prompt == PROMPT_ALWAYS)
		password = prompt_password(opts.user);
	do
	{
		int			i = 0;

		keywords[i] = "host";
		values[i++] = opts.host;
		keywords[i] = "port";
		values[i++] = opts.port;
		keywords[i] = "user";
		values[i++] = opts.user;
		keywords[i] = "password";
		values[i++] = password;
		keywords[i] = "dbname";
		values[i++] = opts.dbname;
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

		conn = PQconnectdbParams(keywords, values, 1);
		if (conn == NULL)
			die(EXIT_CONNECT, "could not connect: out of memory");
		again = false;
		if (PQstatus(conn) == CONNECTION_BAD && PQconnectionNeedsPassword(conn) &&
			password == NULL && opts.prompt != PROMPT_NEVER)
		{
			char	   *user = pg_strdup(PQuser(conn));

			PQfinish(conn);
			password = prompt_password(user);
			free(user);
			again = true;
		}
	} while (again);
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
		exit(report_server_error(conn, res, NULL));
	return res;
}

/* Appends ", <fmt with $n>" to sql and value to params. */
void
add_arg(PQExpBuffer sql, const char **params, int *n, const char *fmt, const char *value)
{
	params[*n] = value;
	(*n)++;
	appendPQExpBufferStr(sql, ", ");
	appendPQExpBuffer(sql, fmt, *n);
}

char *
sql_json(const char *sql)
{
	PQExpBufferData b;

	initPQExpBuffer(&b);
	appendPQExpBuffer(&b, "SELECT pg_catalog.row_to_json(r) FROM (%s) AS r", sql);
	return b.data;
}

/* ---- keys given on the command line ---- */

void
check_key_arg(const char *arg)
{
	KeyRefKind	kind = classify_key_ref(arg);

	if (kind != KEYREF_ID && kind != KEYREF_PREFIX)
		usage_error(command->name, "invalid key argument: %s", key_ref_problem(kind));
}

/* A key by id or display prefix, as the caller may see it; else exit 4. */
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

/*
 * Prints the result of issue or rotate: the token's one appearance.  If it
 * cannot be written, the key exists all the same: name it, to be revoked.
 */
int
print_new_token(PGresult *res)
{
	int			col = PQfnumber(res, "key_id");

	if (opts.json)
		print_json_object(res);
	else
		print_result(res, false);
	if (fflush(stdout) != 0 || ferror(stdout))
	{
		pg_log_info("could not write the new token to standard output: %s", strerror(errno));
		if (col >= 0 && PQntuples(res) > 0)
			pg_log_info("key %s was issued but its token is lost: revoke it", PQgetvalue(res, 0, col));
		PQclear(res);
		return EXIT_SERVER;
	}
	PQclear(res);
	pg_log_info("%s", token_warning);
	return EXIT_OK;
}

void
check_cidrs(const SimpleStringList *l, const char *option)
{
	for (SimpleStringListCell *cell = l->head; cell; cell = cell->next)
	{
		const char *why;

		if (!valid_cidr(cell->val, &why))
			usage_error(command->name, "invalid CIDR \"%s\" in %s: %s",
						cell->val, option, why);
	}
}

/*
 * An expiry: a duration from now (interval text into *interval) or a
 * timestamp (into *timestamp); exits 1 if it is neither.
 */
void
parse_expires(const char *s, const char *option, char **interval, const char **timestamp)
{
	long long	secs;

	*interval = NULL;
	*timestamp = NULL;
	if (parse_duration(s, &secs))
		*interval = psprintf("%lld seconds", secs);
	else if (looks_like_timestamp(s))
		*timestamp = s;
	else
		usage_error(command->name, "invalid %s \"%s\": expected a duration (30d, 12h, 1w) "
					"or a timestamp (2030-01-31, 2030-01-31T12:00:00Z)", option, s);
}

void
rollback(void)
{
	PQclear(PQexec(conn, "ROLLBACK"));
}

/* ---- commands and their options ---- */

#define END_OPTIONS {NULL, 0, NULL, 0}

static const struct option issue_options[] = {
	{"owner", required_argument, NULL, OPT_OWNER},
	{"name", required_argument, NULL, OPT_NAME},
	{"scope", required_argument, NULL, OPT_SCOPE},
	{"tier", required_argument, NULL, OPT_TIER},
	{"expires", required_argument, NULL, OPT_EXPIRES},
	{"allow-ip", required_argument, NULL, OPT_ALLOW_IP},
	{"prefix", required_argument, NULL, OPT_PREFIX},
	{"org", required_argument, NULL, OPT_ORG},
	{"metadata", required_argument, NULL, OPT_METADATA},
	{"rate-limit", required_argument, NULL, OPT_RATE_LIMIT},
	END_OPTIONS
};

static const struct option list_options[] = {
	{"owner", required_argument, NULL, OPT_OWNER},
	{"status", required_argument, NULL, OPT_STATUS},
	END_OPTIONS
};

static const struct option no_options[] = {END_OPTIONS};

static const struct option revoke_options[] = {
	{"reason", required_argument, NULL, OPT_REASON},
	END_OPTIONS
};

static const struct option rotate_options[] = {
	{"grace", required_argument, NULL, OPT_GRACE},
	END_OPTIONS
};

static const struct option update_options[] = {
	{"set", required_argument, NULL, OPT_SET},
	END_OPTIONS
};

static const struct option usage_options[] = {
	{"days", required_argument, NULL, OPT_DAYS},
	END_OPTIONS
};

static const struct option export_options[] = {
	{"format", required_argument, NULL, OPT_FORMAT},
	{"owner", required_argument, NULL, OPT_OWNER},
	END_OPTIONS
};

static const struct option bulk_revoke_options[] = {
	{"reason", required_argument, NULL, OPT_REASON},
	{"dry-run", no_argument, NULL, OPT_DRY_RUN},
	END_OPTIONS
};

static const Command commands[] = {
	{"issue", cmd_issue, issue_options, 0, 0,
		"issue --owner=OWNER [OPTION]...",
		"Issues a key and prints its token, once.\n"
		"\n"
		"Options:\n"
		"      --owner=OWNER          who the key belongs to (required)\n"
		"      --name=NAME            a label for the key\n"
		"      --scope=SCOPE          a scope, e.g. orders:read or orders:* (repeatable)\n"
		"      --tier=TIER            free (default), premium, enterprise or another tier\n"
		"      --expires=WHEN         a duration from now (30d, 12h, 1w) or a timestamp\n"
		"                             (2030-01-31, 2030-01-31T12:00:00Z)\n"
		"      --allow-ip=CIDR        accept the key only from this network (repeatable)\n"
		"      --prefix=PREFIX        token prefix (default ak_live)\n"
		"      --org=ORG              organisation\n"
		"      --metadata=JSON        a JSON object kept with the key\n"
		"      --rate-limit=NAME=LIMIT/PERIOD[:BURST]\n"
		"                             a rate limit instead of the tier's, e.g.\n"
		"                             minute=100/1m:20 (repeatable; admins only)\n"},
	{"list", cmd_list, list_options, 0, 0,
		"list [--owner=OWNER] [--status=STATUS]",
		"Lists the keys you may see (all of them for apikey_admin).\n"
		"\n"
		"Options:\n"
		"      --owner=OWNER          only this owner's keys\n"
		"      --status=STATUS        only active, rotating, revoked or expired keys\n"},
	{"show", cmd_show, no_options, 1, 1,
		"show KEY",
		"Shows everything known about a key (apikey.introspect): settings, usage\n"
		"counters and the live state of its rate limits.  Needs apikey_admin.\n"
		"KEY is a key id or a display prefix.\n"},
	{"revoke", cmd_revoke, revoke_options, 1, 1,
		"revoke KEY [--reason=TEXT]",
		"Revokes a key at once.  KEY is a key id or a display prefix.\n"
		"\n"
		"Options:\n"
		"      --reason=TEXT          why, kept with the key and in the audit log\n"},
	{"rotate", cmd_rotate, rotate_options, 1, 1,
		"rotate KEY [--grace=DURATION]",
		"Issues a new key with the same settings and prints its token, once; the old\n"
		"key keeps working for the grace period.  KEY is a key id or a display prefix.\n"
		"\n"
		"Options:\n"
		"      --grace=DURATION       how long the old key still works: 7d (default),\n"
		"                             12h, 30m, ... or 0 to revoke it now\n"},
	{"update", cmd_update, update_options, 1, -1,
		"update KEY --set FIELD=VALUE [--set FIELD=VALUE]...",
		"Changes a key's settings.  KEY is a key id or a display prefix.\n"
		"\n"
		"Options:\n"
		"      --set=FIELD=VALUE      a change (repeatable); FIELD is one of\n"
		"            name, tier, jwt_role              text\n"
		"            scopes, allowed_ips               comma-separated lists\n"
		"            expires_at                        a duration from now or a timestamp\n"
		"            metadata                          a JSON object\n"
		"            rate_limits                       JSON, or NAME=LIMIT/PERIOD[:BURST],...\n"
		"            daily_quota, monthly_quota,\n"
		"            max_concurrency                   whole numbers\n"
		"                             An empty VALUE clears the field (metadata: {}).\n"
		"                             tier, rate_limits, quotas, max_concurrency and\n"
		"                             jwt_role may be changed by apikey_admin only.\n"},
	{"usage", cmd_usage, usage_options, 1, 1,
		"usage KEY [--days=N]",
		"Shows a key's requests per UTC day (apikey.usage_daily), with latency and\n"
		"cost.  KEY is a key id or a display prefix.\n"
		"\n"
		"Options:\n"
		"      --days=N               the last N days, today included (default 30)\n"},
	{"export", cmd_export, export_options, 0, 0,
		"export [--format=csv|json] [--owner=OWNER]",
		"Writes every key you may see, without any secret (no token, no digest),\n"
		"as CSV with a header line or as JSON lines (one object per line).\n"
		"\n"
		"Options:\n"
		"      --format=FORMAT        csv (default) or json (as --json)\n"
		"      --owner=OWNER          only this owner's keys\n"},
	{"bulk-issue", cmd_bulk_issue, no_options, 1, 1,
		"bulk-issue FILE",
		"Issues the keys described in FILE (\"-\": standard input), all or nothing,\n"
		"and prints their tokens once: CSV (line,key_id,display_prefix,owner,name,\n"
		"token), or JSON lines with --json.\n"
		"\n"
		"FILE is either CSV with a header line naming issue()'s arguments (owner,\n"
		"name, scopes, tier, expires_at, allowed_ips, prefix, org, metadata,\n"
		"rate_limits; lists separated by ';'), or JSON lines: one object per line\n"
		"with the same keys.  The whole file is checked before anything is sent;\n"
		"a broken line stops the command with its line number.\n"},
	{"bulk-revoke", cmd_bulk_revoke, bulk_revoke_options, 1, 1,
		"bulk-revoke FILE [--reason=TEXT] [--dry-run]",
		"Revokes the keys listed in FILE (\"-\": standard input), one key id or\n"
		"display prefix per line (blank lines and lines starting with # are\n"
		"skipped), all or nothing.\n"
		"\n"
		"Options:\n"
		"      --reason=TEXT          why, kept with each key and in the audit log\n"
		"      --dry-run              check everything and show what would be revoked,\n"
		"                             changing nothing\n"},
	{NULL, NULL, NULL, 0, 0, NULL, NULL}
};

static const struct option global_options[] = {
	{"dbname", required_argument, NULL, 'd'},
	{"host", required_argument, NULL, 'h'},
	{"port", required_argument, NULL, 'p'},
	{"username", required_argument, NULL, 'U'},
	{"no-password", no_argument, NULL, 'w'},
	{"password", no_argument, NULL, 'W'},
	{"json", no_argument, NULL, OPT_JSON},
	{"help", no_argument, NULL, '?'},
	{"version", no_argument, NULL, 'V'},
	END_OPTIONS
};

#define SHORT_OPTIONS "d:h:p:U:wWV?"

static void
help(void)
{
	printf("%s manages the API keys of the apikey extension.\n\n", progname);
	printf("Usage:\n  %s [OPTION]... COMMAND [ARGUMENT]... [OPTION]...\n\n", progname);
	printf("Commands:\n"
		   "  issue        issue a key; its token is printed once\n"
		   "  list         list keys\n"
		   "  show         everything about a key (apikey_admin only)\n"
		   "  revoke       revoke a key\n"
		   "  rotate       replace a key; the old one works for a grace period\n"
		   "  update       change a key's settings\n"
		   "  usage        a key's requests per day\n"
		   "  export       every key, without secrets, as CSV or JSON lines\n"
		   "  bulk-issue   issue the keys of a CSV or JSON-lines file, all or nothing\n"
		   "  bulk-revoke  revoke the keys listed in a file, all or nothing\n");
	printf("\nOptions:\n"
		   "      --json               JSON output instead of a table\n"
		   "  -V, --version            output version information, then exit\n"
		   "  -?, --help               show this help (or a command's), then exit\n");
	printf("\nConnection options:\n"
		   "  -d, --dbname=DBNAME      database name or connection string (conninfo or URI)\n"
		   "  -h, --host=HOSTNAME      database server host or socket directory\n"
		   "  -p, --port=PORT          database server port\n"
		   "  -U, --username=USERNAME  database user name\n"
		   "  -w, --no-password        never prompt for password\n"
		   "  -W, --password           force password prompt\n");
	printf("\nThe PG* environment variables and ~/.pgpass are used as by psql.\n"
		   "A KEY is a key id (UUID) or a display prefix (ak_live_AbCd1234).\n"
		   "Run \"%s COMMAND --help\" for a command's options.\n", progname);
	printf("\nExit status: 0 success, 1 usage error or bad input, 2 cannot connect,\n"
		   "3 server error, 4 key not found.\n");
}

static void
command_help(const Command *c)
{
	printf("Usage:\n  %s [CONNECTION OPTION]... %s\n\n%s", progname, c->usage, c->help);
	printf("      --json                 JSON output instead of a table\n"
		   "  -?, --help                 show this help, then exit\n");
	printf("\nRun \"%s --help\" for the connection options.\n", progname);
}

/* Takes one option for the global table or the command's; false if unknown. */
static void
take_option(int c, const char *arg)
{
	switch (c)
	{
		case 'd':
			opts.dbname = arg;
			break;
		case 'h':
			opts.host = arg;
			break;
		case 'p':
			opts.port = arg;
			break;
		case 'U':
			opts.user = arg;
			break;
		case 'w':
			opts.prompt = PROMPT_NEVER;
			break;
		case 'W':
			opts.prompt = PROMPT_ALWAYS;
			break;
		case OPT_JSON:
			opts.json = true;
			break;
		case OPT_OWNER:
			opts.owner = arg;
			break;
		case OPT_NAME:
			opts.name = arg;
			break;
		case OPT_SCOPE:
			simple_string_list_append(&opts.scopes, arg);
			break;
		case OPT_TIER:
			opts.tier = arg;
			break;
		case OPT_EXPIRES:
			opts.expires = arg;
			break;
		case OPT_ALLOW_IP:
			simple_string_list_append(&opts.allow_ips, arg);
			break;
		case OPT_PREFIX:
			opts.prefix = arg;
			break;
		case OPT_ORG:
			opts.org = arg;
			break;
		case OPT_METADATA:
			opts.metadata = arg;
			break;
		case OPT_RATE_LIMIT:
			simple_string_list_append(&opts.rate_limits, arg);
			break;
		case OPT_STATUS:
			opts.status = arg;
			break;
		case OPT_REASON:
			opts.reason = arg;
			break;
		case OPT_GRACE:
			opts.grace = arg;
			break;
		case OPT_SET:
			simple_string_list_append(&opts.sets, arg);
			break;
		case OPT_DAYS:
			opts.days = arg;
			break;
		case OPT_FORMAT:
			opts.format = arg;
			break;
		case OPT_DRY_RUN:
			opts.dry_run = true;
			break;
	}
}

/* getopt_long's complaint about argv[optind - 1], as ours. */
pg_noreturn static void
bad_option(int c, char **argv, const char *cmd)
{
	char	   *arg = pg_strdup(argv[optind - 1]);

	/* the option's name only: its value may be a secret */
	if (strncmp(arg, "--", 2) == 0 && strchr(arg, '='))
		*strchr(arg, '=') = '\0';
	if (c == ':')
		usage_error(cmd, "option \"%s\" needs a value", arg);
	if (optopt != 0 && strncmp(arg, "--", 2) != 0)
		usage_error(cmd, "invalid option \"-%c\"", optopt);
	if (cmd)
		usage_error(cmd, "unrecognized option \"%s\" for command \"%s\"", arg, cmd);
	usage_error(cmd, "unrecognized option \"%s\"", arg);
}

int
main(int argc, char **argv)
{
	struct option all[64];
	int			nall = 0;
	int			c;
	int			sub_argc;
	char	  **sub_argv;

	pg_logging_init(progname);

	/* options before the command: connection, --json, --help, --version */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:" SHORT_OPTIONS, global_options, NULL)) != -1)
	{
		if (c == '?' && strcmp(argv[optind - 1], "-?") != 0 &&
			strcmp(argv[optind - 1], "--help") != 0)
			bad_option(c, argv, NULL);
		if (c == ':')
			bad_option(c, argv, NULL);
		if (c == '?')
		{
			help();
			exit(EXIT_OK);
		}
		if (c == 'V')
		{
			printf("%s (apikey) %s\n", progname, APIKEY_VERSION);
			exit(EXIT_OK);
		}
		take_option(c, optarg);
	}
	if (optind >= argc)
		usage_error(NULL, "no command given");
	for (command = commands; command->name; command++)
		if (strcmp(command->name, argv[optind]) == 0)
			break;
	if (command->name == NULL)
		usage_error(NULL, "unknown command \"%s\"", argv[optind]);

	/* the command's options and the global ones, in any order */
	for (const struct option *o = global_options; o->name; o++)
		all[nall++] = *o;
	for (const struct option *o = command->options; o->name; o++)
		all[nall++] = *o;
	all[nall] = (struct option) END_OPTIONS;

	sub_argc = argc - optind;
	sub_argv = argv + optind;
	optind = 0;					/* GNU getopt: start again */
	while ((c = getopt_long(sub_argc, sub_argv, ":" SHORT_OPTIONS, all, NULL)) != -1)
	{
		if (c == '?' && strcmp(sub_argv[optind - 1], "-?") != 0 &&
			strcmp(sub_argv[optind - 1], "--help") != 0)
			bad_option(c, sub_argv, command->name);
		if (c == ':')
			bad_option(c, sub_argv, command->name);
		if (c == '?')
		{
			command_help(command);
			exit(EXIT_OK);
		}
		if (c == 'V')
		{
			printf("%s (apikey) %s\n", progname, APIKEY_VERSION);
			exit(EXIT_OK);
		}
		take_option(c, optarg);
	}
	opts.npos = sub_argc - optind;
	opts.pos = sub_argv + optind;
	if (opts.npos < command->minpos)
		usage_error(command->name, "%s needs %s", command->name,
					strncmp(command->name, "bulk-", 5) == 0 ? "a FILE (or - for standard input)"
					: "a KEY (a key id or a display prefix)");
	/* (arguments are not echoed: a token pasted by mistake stays unprinted) */
	if (command->maxpos >= 0 && opts.npos > command->maxpos)
		usage_error(command->name, "too many arguments");
	if (command->run == cmd_update)
	{
		for (int i = 1; i < opts.npos; i++)
			if (strchr(opts.pos[i], '=') == NULL)
				usage_error("update", "unexpected argument after KEY: changes are "
							"given as FIELD=VALUE");
	}

	c = command->run();
	if (conn)
		PQfinish(conn);
	return c;
}
