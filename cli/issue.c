/*-------------------------------------------------------------------------
 *
 * issue.c
 *	  pg_apikey: issue and rotate, the commands that print a new token.
 *
 * The token is printed once, on stdout, with a warning on stderr; if it
 * cannot be written, the key is named so that it can be revoked.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "pg_apikey.h"

static const char *const token_warning =
"this token will not be shown again; store it now";

/*
 * Prints the result of issue or rotate: the token's one appearance.  If it
 * cannot be written, the key exists all the same: name it, to be revoked.
 */
static int
print_new_token(PGresult *res)
{
	int			col = PQfnumber(res, "key_id");

	if (gopts.json)
		print_json_object(res);
	else
		print_result(res, false);
	if (fflush(stdout) != 0 || ferror(stdout))
	{
		pg_log_info("could not write the new token to standard output: %s", strerror(errno));
		if (col >= 0 && PQntuples(res) > 0)
			pg_log_info("key %s was issued but its token is lost: revoke it",
						PQgetvalue(res, 0, col));
		PQclear(res);
		return EXIT_SERVER;
	}
	PQclear(res);
	pg_log_info("%s", token_warning);
	return EXIT_OK;
}

/* ---- issue ---- */

typedef struct IssueOptions
{
	const char *owner;
	const char *name;
	const char *tier;
	const char *expires;
	const char *prefix;
	const char *org;
	const char *metadata;
	SimpleStringList scopes;
	SimpleStringList allow_ips;
	SimpleStringList rate_limits;

	/* checked, as the server takes them */
	char	   *interval;		/* --expires as a duration */
	const char *timestamp;		/* --expires as a timestamp */
	char	   *limits_json;	/* --rate-limit, as a JSON array */
} IssueOptions;

static void
check_metadata(const char *metadata)
{
	char		err[200];
	JsonDoc		doc;

	if (!json_read(metadata, strlen(metadata), &doc, err, sizeof(err)))
		usage_error("invalid JSON in --metadata: %s", err);
	if (doc.type != JSON_TOKEN_OBJECT_START)
		usage_error("--metadata must be a JSON object");
	json_doc_free(&doc);
}

/* The --rate-limit options as a JSON array of limits. */
static char *
rate_limits_json(const SimpleStringList *limits)
{
	PQExpBufferData b;

	initPQExpBuffer(&b);
	appendPQExpBufferChar(&b, '[');
	for (SimpleStringListCell *cell = limits->head; cell; cell = cell->next)
	{
		const char *why;

		if (cell != limits->head)
			appendPQExpBufferStr(&b, ", ");
		if (!parse_rate_limit(cell->val, &b, &why))
			usage_error("invalid --rate-limit \"%s\": %s", cell->val, why);
	}
	appendPQExpBufferChar(&b, ']');
	return b.data;
}

static void
check_issue_options(IssueOptions *o)
{
	if (o->owner == NULL || o->owner[0] == '\0')
		usage_error("--owner is required");
	check_cidrs(&o->allow_ips, "--allow-ip");
	if (o->expires)
		parse_expires(o->expires, "--expires", &o->interval, &o->timestamp);
	if (o->metadata)
		check_metadata(o->metadata);
	if (o->rate_limits.head)
		o->limits_json = rate_limits_json(&o->rate_limits);
}

/* Appends an array argument of apikey.issue, if the list has items. */
static void
array_arg(Statement *st, const char *fmt, const SimpleStringList *l)
{
	PQExpBufferData b;

	if (l->head == NULL)
		return;
	initPQExpBuffer(&b);
	array_literal(&b, l);
	stmt_arg(st, fmt, b.data);
}

/* SELECT ... FROM apikey.issue(owner => $1, <the options given>) */
static void
issue_statement(Statement *st, const IssueOptions *o)
{
	stmt_init(st, "SELECT key_id, display_prefix, token FROM apikey.issue(owner => $1",
			  o->owner);
	if (o->name)
		stmt_arg(st, "name => $%d", o->name);
	array_arg(st, "scopes => $%d::pg_catalog.text[]", &o->scopes);
	if (o->tier)
		stmt_arg(st, "tier => $%d", o->tier);
	if (o->interval)
		stmt_arg(st, "expires_at => pg_catalog.now() + $%d::pg_catalog.interval", o->interval);
	if (o->timestamp)
		stmt_arg(st, "expires_at => $%d::pg_catalog.timestamptz", o->timestamp);
	array_arg(st, "allowed_ips => $%d::pg_catalog.cidr[]", &o->allow_ips);
	if (o->metadata)
		stmt_arg(st, "metadata => $%d::pg_catalog.jsonb", o->metadata);
	if (o->prefix)
		stmt_arg(st, "prefix => $%d", o->prefix);
	if (o->org)
		stmt_arg(st, "org => $%d", o->org);
	if (o->limits_json)
		stmt_arg(st, "rate_limits => $%d::pg_catalog.jsonb", o->limits_json);
	appendPQExpBufferChar(&st->sql, ')');
}

static int
cmd_issue(int argc, char **argv)
{
	IssueOptions o = {0};
	Statement	st;
	int			nargs;

	parse_command_line(argc, argv, &o, &nargs);
	check_issue_options(&o);
	issue_statement(&st, &o);
	connect_db();
	return print_new_token(stmt_run(&st, gopts.json));
}

static const CommandOption issue_options[] = {
	{"owner", OPTION_STRING, offsetof(IssueOptions, owner)},
	{"name", OPTION_STRING, offsetof(IssueOptions, name)},
	{"scope", OPTION_LIST, offsetof(IssueOptions, scopes)},
	{"tier", OPTION_STRING, offsetof(IssueOptions, tier)},
	{"expires", OPTION_STRING, offsetof(IssueOptions, expires)},
	{"allow-ip", OPTION_LIST, offsetof(IssueOptions, allow_ips)},
	{"prefix", OPTION_STRING, offsetof(IssueOptions, prefix)},
	{"org", OPTION_STRING, offsetof(IssueOptions, org)},
	{"metadata", OPTION_STRING, offsetof(IssueOptions, metadata)},
	{"rate-limit", OPTION_LIST, offsetof(IssueOptions, rate_limits)},
	END_OPTIONS
};

const Command issue_command = {
	"issue", cmd_issue, issue_options, 0, 0,
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
	"                             minute=100/1m:20 (repeatable; admins only)\n"
};

/* ---- rotate ---- */

typedef struct RotateOptions
{
	const char *grace;
} RotateOptions;

static int
cmd_rotate(int argc, char **argv)
{
	RotateOptions o = {0};
	char	   *grace = NULL;
	char	  **args;
	int			nargs;
	Statement	st;
	Key			key;

	args = parse_command_line(argc, argv, &o, &nargs);
	check_key_arg(args[0]);
	if (o.grace)
	{
		long long	secs;

		if (!parse_duration(o.grace, &secs))
			usage_error("invalid --grace \"%s\": expected a duration such as "
						"7d, 12h, 30m or 0", o.grace);
		grace = psprintf("%lld seconds", secs);
	}

	connect_db();
	key = resolve_key(args[0]);
	stmt_init(&st, "SELECT key_id, display_prefix, old_key_expires_at, token"
			  " FROM apikey.rotate(key_id => $1::pg_catalog.uuid", key.id);
	if (grace)
		stmt_arg(&st, "grace => $%d::pg_catalog.interval", grace);
	appendPQExpBufferChar(&st.sql, ')');
	return print_new_token(stmt_run(&st, gopts.json));
}

static const CommandOption rotate_options[] = {
	{"grace", OPTION_STRING, offsetof(RotateOptions, grace)},
	END_OPTIONS
};

const Command rotate_command = {
	"rotate", cmd_rotate, rotate_options, 1, 1,
	"rotate KEY [--grace=DURATION]",
	"Issues a new key with the same settings and prints its token, once; the old\n"
	"key keeps working for the grace period.  KEY is a key id or a display prefix.\n"
	"\n"
	"Options:\n"
	"      --grace=DURATION       how long the old key still works: 7d (default),\n"
	"                             12h, 30m, ... or 0 to revoke it now\n"
};
