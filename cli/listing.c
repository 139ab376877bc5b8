/*-------------------------------------------------------------------------
 *
 * listing.c
 *	  pg_apikey: the commands that only read: list, show, usage and export.
 *
 * They read apikey.key_list, which has no key_hash, and functions that
 * return no secret: nothing they print is a token.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "pg_apikey.h"

/* ---- list ---- */

typedef struct ListOptions
{
	const char *owner;
	const char *status;
} ListOptions;

static void
read_list_options(int argc, char **argv, ListOptions *o)
{
	static const char *const statuses[] = {"active", "rotating", "revoked", "expired", NULL};
	int			nargs;
	int			i;

	parse_command_line(argc, argv, o, &nargs);
	if (o->status == NULL)
		return;
	for (i = 0; statuses[i] && strcmp(statuses[i], o->status) != 0; i++)
		;
	if (statuses[i] == NULL)
		usage_error("invalid --status \"%s\": expected active, rotating, "
					"revoked or expired", o->status);
}

static int
cmd_list(int argc, char **argv)
{
	ListOptions o = {0};
	const char *params[2];
	PGresult   *res;

	read_list_options(argc, argv, &o);
	params[0] = o.owner;
	params[1] = o.status;
	connect_db();
	if (gopts.json)
	{
		res = query("SELECT pg_catalog.row_to_json(r) FROM ("
					" SELECT id, prefix, owner, org, name, scopes, tier, status,"
					"  created_at, expires_at, revoked_at, revoke_reason, last_used_at,"
					"  rotated_from, rotated_to"
					" FROM apikey.key_list"
					" WHERE ($1::pg_catalog.text IS NULL OR owner = $1)"
					"  AND ($2::pg_catalog.text IS NULL OR status = $2)) AS r"
					" ORDER BY r.created_at, r.id", 2, params);
		print_json_array(res);
	}
	else
	{
		res = query("SELECT prefix, name, owner, status, tier,"
					"  pg_catalog.array_to_string(scopes, ',') AS scopes,"
					"  pg_catalog.date_trunc('second', created_at) AS created_at,"
					"  pg_catalog.date_trunc('second', expires_at) AS expires_at,"
					"  pg_catalog.date_trunc('second', last_used_at) AS last_used_at"
					" FROM apikey.key_list"
					" WHERE ($1::pg_catalog.text IS NULL OR owner = $1)"
					"  AND ($2::pg_catalog.text IS NULL OR status = $2)"
					" ORDER BY key_list.created_at, key_list.id", 2, params);
		print_result(res, true);
	}
	PQclear(res);
	return EXIT_OK;
}

static const CommandOption list_options[] = {
	{"owner", OPTION_STRING, offsetof(ListOptions, owner)},
	{"status", OPTION_STRING, offsetof(ListOptions, status)},
	END_OPTIONS
};

const Command list_command = {
	"list", cmd_list, list_options, 0, 0,
	"list [--owner=OWNER] [--status=STATUS]",
	"Lists the keys you may see (all of them for apikey_admin).\n"
	"\n"
	"Options:\n"
	"      --owner=OWNER          only this owner's keys\n"
	"      --status=STATUS        only active, rotating, revoked or expired keys\n"
};

/* ---- show ---- */

/* apikey.introspect()'s object as a table of fields, in a fixed order. */
static void
print_fields(const char *json)
{
	PGresult   *res;

	res = query("SELECT e.key AS field, e.value AS value"
				" FROM pg_catalog.jsonb_each_text($1::pg_catalog.jsonb) AS e"
				" ORDER BY pg_catalog.array_position('{key_id,display_prefix,masked_token,"
				"status,owner,org,name,scopes,tier,rate_limits,rate_limits_from,daily_quota,"
				"monthly_quota,max_concurrency,allowed_ips,metadata,created_at,expires_at,"
				"revoked_at,revoke_reason,last_used_at,rotated_from,rotated_to,jwt_role,"
				"usage,live_limits}'::pg_catalog.text[], e.key), e.key",
				1, &json);
	print_result(res, false);
	PQclear(res);
}

static int
cmd_show(int argc, char **argv)
{
	char	  **args;
	int			nargs;
	const char *prefix;
	PGresult   *res;

	args = parse_command_line(argc, argv, NULL, &nargs);
	prefix = args[0];
	check_key_arg(prefix);
	connect_db();
	if (classify_key_ref(prefix) == KEYREF_ID)
		prefix = resolve_key(prefix).prefix;
	res = query("SELECT apikey.introspect($1)", 1, &prefix);
	if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0))
		die(EXIT_NOT_FOUND, "no API key with display prefix \"%s\"", prefix);
	if (gopts.json)
		print_json_object(res);
	else
		print_fields(PQgetvalue(res, 0, 0));
	PQclear(res);
	return EXIT_OK;
}

const Command show_command = {
	"show", cmd_show, NULL, 1, 1,
	"show KEY",
	"Shows everything known about a key (apikey.introspect): settings, usage\n"
	"counters and the live state of its rate limits.  Needs apikey_admin.\n"
	"KEY is a key id or a display prefix.\n"
};

/* ---- usage ---- */

typedef struct UsageOptions
{
	const char *days;
} UsageOptions;

#define USAGE_FROM \
	" FROM apikey.usage_daily" \
	" WHERE key_id = $1::pg_catalog.uuid" \
	"  AND day > (pg_catalog.now() AT TIME ZONE 'UTC')::pg_catalog.date - $2::pg_catalog.int4"

static int
cmd_usage(int argc, char **argv)
{
	UsageOptions o = {0};
	long long	days = 30;
	char	  **args;
	int			nargs;
	const char *params[2];
	PGresult   *res;

	args = parse_command_line(argc, argv, &o, &nargs);
	check_key_arg(args[0]);
	if (o.days && !parse_int(o.days, 1, 3660, &days))
		usage_error("invalid --days \"%s\": expected a number from 1 to 3660", o.days);
	connect_db();
	params[0] = resolve_key(args[0]).id;
	params[1] = psprintf("%lld", days);
	if (gopts.json)
		res = query("SELECT pg_catalog.row_to_json(r) FROM ("
					" SELECT day, requests, allowed, rate_limited, quota_exceeded,"
					"  denied_auth, cost_units, avg_ms, p95_ms, p99_ms, cost"
					USAGE_FROM ") AS r ORDER BY r.day", 2, params);
	else
		res = query("SELECT day, requests, allowed, rate_limited, quota_exceeded,"
					" denied_auth, cost_units,"
					" pg_catalog.round(avg_ms::pg_catalog.numeric, 2) AS avg_ms,"
					" pg_catalog.round(p95_ms::pg_catalog.numeric, 2) AS p95_ms,"
					" pg_catalog.round(p99_ms::pg_catalog.numeric, 2) AS p99_ms, cost"
					USAGE_FROM " ORDER BY day", 2, params);
	if (gopts.json)
		print_json_array(res);
	else
		print_result(res, true);
	PQclear(res);
	return EXIT_OK;
}

static const CommandOption usage_options[] = {
	{"days", OPTION_STRING, offsetof(UsageOptions, days)},
	END_OPTIONS
};

const Command usage_command = {
	"usage", cmd_usage, usage_options, 1, 1,
	"usage KEY [--days=N]",
	"Shows a key's requests per UTC day (apikey.usage_daily), with latency and\n"
	"cost.  KEY is a key id or a display prefix.\n"
	"\n"
	"Options:\n"
	"      --days=N               the last N days, today included (default 30)\n"
};

/* ---- export ---- */

typedef struct ExportOptions
{
	const char *format;
	const char *owner;
} ExportOptions;

/* Every column of key_list, which has no key_hash; no token exists anywhere. */
#define EXPORT_COLUMNS \
	"id, prefix, owner, org, name, scopes, tier, status, rate_limits, daily_quota," \
	" monthly_quota, max_concurrency, allowed_ips, metadata, created_at, expires_at," \
	" revoked_at, revoke_reason, last_used_at, rotated_from, rotated_to, jwt_role," \
	" daily_usage, usage_day, monthly_usage, usage_month"

/*
 * The same columns for CSV, each text a user chose made safe for
 * spreadsheets: a cell that starts with = + - @ (or a tab or a carriage
 * return) is run as a formula by Excel, LibreOffice and Google Sheets, so
 * such a cell gets a leading ' (OWASP's advice on CSV injection).  The
 * other columns cannot start with one: uuids, timestamps, numbers, arrays
 * ({), JSON ({, [), the status and the display prefix.
 */
#define CSV_SAFE(col) \
	"pg_catalog.regexp_replace(" col ", E'^([-=+@\\t\\r])', '''\\1') AS " col
#define CSV_EXPORT_COLUMNS \
	"id, prefix, " CSV_SAFE("owner") ", " CSV_SAFE("org") ", " CSV_SAFE("name") "," \
	" scopes, " CSV_SAFE("tier") ", status, rate_limits, daily_quota," \
	" monthly_quota, max_concurrency, allowed_ips, metadata, created_at, expires_at," \
	" revoked_at, " CSV_SAFE("revoke_reason") ", last_used_at, rotated_from, rotated_to," \
	" " CSV_SAFE("jwt_role") ", daily_usage, usage_day, monthly_usage, usage_month"

#define EXPORT_WHERE \
	" WHERE pg_catalog.current_setting('pg_apikey.owner') = ''" \
	"  OR owner = pg_catalog.current_setting('pg_apikey.owner')"

/* The options of export; its format, checked. */
static const char *
read_export_options(int argc, char **argv, ExportOptions *o)
{
	const char *format;
	int			nargs;

	parse_command_line(argc, argv, o, &nargs);
	format = o->format ? o->format : (gopts.json ? "json" : "csv");
	if (strcmp(format, "csv") != 0 && strcmp(format, "json") != 0)
		usage_error("invalid --format \"%s\": expected csv or json", format);
	if (gopts.json && strcmp(format, "json") != 0)
		usage_error("--json and --format csv contradict each other");
	if (o->owner && o->owner[0] == '\0')
		usage_error("--owner must not be empty");
	return format;
}

/* Starts COPY ... TO STDOUT of the keys, as CSV or JSON lines. */
static void
start_copy(const char *format)
{
	PGresult   *res;

	if (strcmp(format, "csv") == 0)
		res = PQexec(conn, "COPY (SELECT " CSV_EXPORT_COLUMNS " FROM apikey.key_list"
					 EXPORT_WHERE " ORDER BY created_at, id)"
					 " TO STDOUT WITH (FORMAT csv, HEADER)");
	else

		/*
		 * JSON lines: CSV format with a delimiter and quote that JSON text
		 * never holds (row_to_json escapes every control character), so each
		 * line is the JSON text untouched.
		 */
		res = PQexec(conn, "COPY (SELECT pg_catalog.row_to_json(k) FROM (SELECT "
					 EXPORT_COLUMNS " FROM apikey.key_list" EXPORT_WHERE ") AS k"
					 " ORDER BY k.created_at, k.id)"
					 " TO STDOUT WITH (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')");
	if (PQresultStatus(res) != PGRES_COPY_OUT)
		exit(report_server_error(res, NULL));
	PQclear(res);
}

/* Writes what COPY sends to stdout, to its end. */
static void
copy_to_stdout(void)
{
	PGresult   *res;
	char	   *buf;
	int			n;

	while ((n = PQgetCopyData(conn, &buf, 0)) > 0)
	{
		fwrite(buf, 1, (size_t) n, stdout);
		PQfreemem(buf);
	}
	res = PQgetResult(conn);
	if (n == -2 || !query_ok(res))
		exit(report_server_error(res, NULL));
	PQclear(res);
	while ((res = PQgetResult(conn)) != NULL)
		PQclear(res);
}

static int
cmd_export(int argc, char **argv)
{
	ExportOptions o = {0};
	const char *format = read_export_options(argc, argv, &o);
	const char *owner = o.owner ? o.owner : "";

	connect_db();
	/* COPY takes no parameters: the owner travels in a session setting */
	PQclear(query("SELECT pg_catalog.set_config('pg_apikey.owner', $1, false)", 1, &owner));
	start_copy(format);
	copy_to_stdout();
	if (fflush(stdout) != 0 || ferror(stdout))
		die(EXIT_USAGE, "could not write the export");
	return EXIT_OK;
}

static const CommandOption export_options[] = {
	{"format", OPTION_STRING, offsetof(ExportOptions, format)},
	{"owner", OPTION_STRING, offsetof(ExportOptions, owner)},
	END_OPTIONS
};

const Command export_command = {
	"export", cmd_export, export_options, 0, 0,
	"export [--format=csv|json] [--owner=OWNER]",
	"Writes every key you may see, without any secret (no token, no digest),\n"
	"as CSV with a header line or as JSON lines (one object per line).  In CSV,\n"
	"a text that starts with = + - @ (a spreadsheet formula) gets a leading '.\n"
	"\n"
	"Options:\n"
	"      --format=FORMAT        csv (default) or json (as --json)\n"
	"      --owner=OWNER          only this owner's keys\n"
};
