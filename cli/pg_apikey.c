/*-------------------------------------------------------------------------
 *
 * pg_apikey.c
 *	  The command-line tool of the apikey extension: issue, list, show,
 *	  revoke, rotate, update, usage, export, bulk-issue and bulk-revoke,
 *	  and top and report to see what apikey does, through libpq, with
 *	  PostgreSQL's usual connection options.
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
 * This file: the global options, finding the command, help, and the
 * parsing of each command's options (the command itself owns them).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <getopt.h>

#include "pg_apikey.h"

#ifndef APIKEY_VERSION
#define APIKEY_VERSION "unknown"
#endif

const char *const progname = "pg_apikey";

GlobalOptions gopts;

static const Command *const commands[] = {
	&issue_command,
	&list_command,
	&show_command,
	&revoke_command,
	&rotate_command,
	&update_command,
	&usage_command,
	&export_command,
	&bulk_issue_command,
	&bulk_revoke_command,
	&top_command,
	&report_command,
	NULL
};

static const Command *running;	/* the command being run, once known */

/* getopt_long's codes for long options without a short form */
#define OPT_JSON	256
#define OPT_COMMAND 257			/* + the index of a command's own option */

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
	{NULL, 0, NULL, 0}
};

#define SHORT_OPTIONS "d:h:p:U:wWV?"
#define MAX_OPTIONS 32			/* global and one command's, together */

/* ---- messages ---- */

void
die(int code, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	pg_log_generic_v(PG_LOG_ERROR, PG_LOG_PRIMARY, fmt, ap);
	va_end(ap);
	exit(code);
}

void
usage_error(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	pg_log_generic_v(PG_LOG_ERROR, PG_LOG_PRIMARY, fmt, ap);
	va_end(ap);
	if (running)
		fprintf(stderr, "Try \"%s %s --help\" for more information.\n",
				progname, running->name);
	else
		fprintf(stderr, "Try \"%s --help\" for more information.\n", progname);
	exit(EXIT_USAGE);
}

/* ---- help ---- */

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
		   "  bulk-revoke  revoke the keys listed in a file, all or nothing\n"
		   "  top          a live view: requests, refusals, quotas, the worker\n"
		   "  report       a usage report with charts, as one HTML file\n");
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

/* ---- options ---- */

/* getopt_long's complaint about argv[optind - 1], as ours. */
pg_noreturn static void
bad_option(int c, char **argv)
{
	char	   *arg = pg_strdup(argv[optind - 1]);

	/* the option's name only: its value may be a secret */
	if (strncmp(arg, "--", 2) == 0 && strchr(arg, '='))
		*strchr(arg, '=') = '\0';
	if (c == ':')
		usage_error("option \"%s\" needs a value", arg);
	if (optopt != 0 && strncmp(arg, "--", 2) != 0)
		usage_error("invalid option \"-%c\"", optopt);
	if (running)
		usage_error("unrecognized option \"%s\" for command \"%s\"", arg, running->name);
	usage_error("unrecognized option \"%s\"", arg);
}

/*
 * Takes one of getopt_long's answers if it is about a global option (or a
 * bad one); false if it is the command's to take.
 */
static bool
take_global_option(int c, char **argv)
{
	const char *arg = argv[optind - 1];

	if (c == ':' || (c == '?' && strcmp(arg, "-?") != 0 && strcmp(arg, "--help") != 0))
		bad_option(c, argv);
	switch (c)
	{
		case '?':
			if (running)
				command_help(running);
			else
				help();
			exit(EXIT_OK);
		case 'V':
			printf("%s (apikey) %s\n", progname, APIKEY_VERSION);
			exit(EXIT_OK);
		case 'd':
			gopts.dbname = optarg;
			return true;
		case 'h':
			gopts.host = optarg;
			return true;
		case 'p':
			gopts.port = optarg;
			return true;
		case 'U':
			gopts.user = optarg;
			return true;
		case 'w':
			gopts.prompt = PROMPT_NEVER;
			return true;
		case 'W':
			gopts.prompt = PROMPT_ALWAYS;
			return true;
		case OPT_JSON:
			gopts.json = true;
			return true;
	}
	return false;
}

/* The arguments after the options; exits 1 unless their number is right. */
static char **
command_args(int argc, char **argv, int *nargs)
{
	*nargs = argc - optind;
	if (*nargs < running->minargs)
		usage_error("%s needs %s", running->name,
					strncmp(running->name, "bulk-", 5) == 0
					? "a FILE (or - for standard input)"
					: "a KEY (a key id or a display prefix)");
	/* (arguments are not echoed: a token pasted by mistake stays unprinted) */
	if (running->maxargs >= 0 && *nargs > running->maxargs)
		usage_error("too many arguments");
	return argv + optind;
}

/* Keeps the value of a command's own option in its field of opts. */
static void
store_option(const CommandOption *opt, void *opts, const char *value)
{
	char	   *field = (char *) opts + opt->offset;

	switch (opt->kind)
	{
		case OPTION_STRING:
			*(const char **) field = value;
			break;
		case OPTION_LIST:
			simple_string_list_append((SimpleStringList *) field, value);
			break;
		case OPTION_FLAG:
			*(bool *) field = true;
			break;
	}
}

char **
parse_command_line(int argc, char **argv, void *opts, int *nargs)
{
	const CommandOption *own = running->options;
	struct option all[MAX_OPTIONS + 1];
	int			n = 0;
	int			c;

	/* the command's options and the global ones, in any order */
	for (const struct option *o = global_options; o->name; o++)
		all[n++] = *o;
	for (int i = 0; own && own[i].name; i++)
	{
		struct option *o = &all[n++];

		Assert(n <= MAX_OPTIONS);
		o->name = own[i].name;
		o->has_arg = own[i].kind == OPTION_FLAG ? no_argument : required_argument;
		o->flag = NULL;
		o->val = OPT_COMMAND + i;
	}
	memset(&all[n], 0, sizeof(struct option));

	while ((c = getopt_long(argc, argv, ":" SHORT_OPTIONS, all, NULL)) != -1)
	{
		if (!take_global_option(c, argv))
			store_option(&own[c - OPT_COMMAND], opts, optarg);
	}
	return command_args(argc, argv, nargs);
}

/* The command named argv[optind], after the options before it. */
static const Command *
find_command(int argc, char **argv)
{
	int			c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:" SHORT_OPTIONS, global_options, NULL)) != -1)
		take_global_option(c, argv);
	if (optind >= argc)
		usage_error("no command given");
	for (const Command *const *cmd = commands; *cmd; cmd++)
		if (strcmp((*cmd)->name, argv[optind]) == 0)
			return *cmd;
	usage_error("unknown command \"%s\"", argv[optind]);
}

int
main(int argc, char **argv)
{
	int			code;

	pg_logging_init(progname);
	running = find_command(argc, argv);
	argc -= optind;
	argv += optind;
	optind = 0;					/* GNU getopt: start again, at argv[1] */
	code = running->run(argc, argv);
	if (conn)
		PQfinish(conn);
	return code;
}
