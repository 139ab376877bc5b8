/*-------------------------------------------------------------------------
 *
 * commands.c
 *	  pg_apikey: the commands about one key (issue, show, revoke, rotate,
 *	  update, usage) and the listings (list, export).
 *
 * Each checks its input before connecting and sends user input only as
 * parameters.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "pg_apikey.h"

/* ---- issue ---- */

int
cmd_issue(void)
{
	PQExpBufferData sql,
				list,
				limits;
	const char *params[16];
	int			n = 0;
	char	   *scopes = NULL,
			   *ips = NULL,
			   *rate_limits = NULL,
			   *interval = NULL;
	const char *timestamp = NULL;
	PGresult   *res;

	if (opts.owner == NULL || opts.owner[0] == '\0')
		usage_error("issue", "--owner is required");
	check_cidrs(&opts.allow_ips, "--allow-ip");
	if (opts.expires)
		parse_expires(opts.expires, "--expires", &interval, &timestamp);
	if (opts.metadata)
	{
		char		err[200];
		JsonDoc		doc;

		if (!json_read(opts.metadata, strlen(opts.metadata), &doc, err, sizeof(err)))
			usage_error("issue", "invalid JSON in --metadata: %s", err);
		if (doc.type != JSON_TOKEN_OBJECT_START)
			usage_error("issue", "--metadata must be a JSON object");
		json_doc_free(&doc);
	}
	if (opts.rate_limits.head)
	{
		initPQExpBuffer(&limits);
		appendPQExpBufferChar(&limits, '[');
		for (SimpleStringListCell *cell = opts.rate_limits.head; cell; cell = cell->next)
		{
			const char *why;

			if (cell != opts.rate_limits.head)
				appendPQExpBufferStr(&limits, ", ");
			if (!parse_rate_limit(cell->val, &limits, &why))
				usage_error("issue", "invalid --rate-limit \"%s\": %s", cell->val, why);
		}
		appendPQExpBufferChar(&limits, ']');
		rate_limits = limits.data;
	}
	if (opts.scopes.head)
	{
		initPQExpBuffer(&list);
		array_literal(&list, &opts.scopes);
		scopes = list.data;
	}
	if (opts.allow_ips.head)
	{
		initPQExpBuffer(&list);
		array_literal(&list, &opts.allow_ips);
		ips = list.data;
	}

	initPQExpBuffer(&sql);
	params[n++] = opts.owner;
	appendPQExpBufferStr(&sql, "SELECT key_id, display_prefix, token FROM apikey.issue(owner => $1");
	if (opts.name)
		add_arg(&sql, params, &n, "name => $%d", opts.name);
	if (scopes)
		add_arg(&sql, params, &n, "scopes => $%d::pg_catalog.text[]", scopes);
	if (opts.tier)
		add_arg(&sql, params, &n, "tier => $%d", opts.tier);
	if (interval)
		add_arg(&sql, params, &n,
				"expires_at => pg_catalog.now() + $%d::pg_catalog.interval", interval);
	if (timestamp)
		add_arg(&sql, params, &n, "expires_at => $%d::pg_catalog.timestamptz", timestamp);
	if (ips)
		add_arg(&sql, params, &n, "allowed_ips => $%d::pg_catalog.cidr[]", ips);
	if (opts.metadata)
		add_arg(&sql, params, &n, "metadata => $%d::pg_catalog.jsonb", opts.metadata);
	if (opts.prefix)
		add_arg(&sql, params, &n, "prefix => $%d", opts.prefix);
	if (opts.org)
		add_arg(&sql, params, &n, "org => $%d", opts.org);
	if (rate_limits)
		add_arg(&sql, params, &n, "rate_limits => $%d::pg_catalog.jsonb", rate_limits);
	appendPQExpBufferChar(&sql, ')');

	connect_db();
	res = query(opts.json ? sql_json(sql.data) : sql.data, n, params);
	return print_new_token(res);
}

/* ---- list ---- */

int
cmd_list(void)
{
	static const char *const statuses[] = {"active", "rotating", "revoked", "expired", NULL};
	const char *params[2] = {opts.owner, opts.status};
	PGresult   *res;

	if (opts.status)
	{
		int			i;

		for (i = 0; statuses[i] && strcmp(statuses[i], opts.status) != 0; i++)
			;
		if (statuses[i] == NULL)
			usage_error("list", "invalid --status \"%s\": expected active, rotating, "
						"revoked or expired", opts.status);
	}
	connect_db();
	if (opts.json)
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

/* ---- show ---- */

int
cmd_show(void)
{
	const char *arg = opts.pos[0];
	const char *prefix = arg;
	PGresult   *res;
	char	   *json;

	check_key_arg(arg);
	connect_db();
	if (classify_key_ref(arg) == KEYREF_ID)
		prefix = resolve_key(arg).prefix;
	res = query("SELECT apikey.introspect($1)", 1, &prefix);
	if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0))
		die(EXIT_NOT_FOUND, "no API key with display prefix \"%s\"", prefix);
	if (opts.json)
	{
		print_json_object(res);
		PQclear(res);
		return EXIT_OK;
	}
	json = pg_strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	res = query("SELECT e.key AS field, e.value AS value"
				" FROM pg_catalog.jsonb_each_text($1::pg_catalog.jsonb) AS e"
				" ORDER BY pg_catalog.array_position('{key_id,display_prefix,masked_token,"
				"status,owner,org,name,scopes,tier,rate_limits,rate_limits_from,daily_quota,"
				"monthly_quota,max_concurrency,allowed_ips,metadata,created_at,expires_at,"
				"revoked_at,revoke_reason,last_used_at,rotated_from,rotated_to,jwt_role,"
				"usage,live_limits}'::pg_catalog.text[], e.key), e.key",
				1, (const char *const *) &json);
	print_result(res, false);
	PQclear(res);
	free(json);
	return EXIT_OK;
}

/* ---- revoke ---- */

int
cmd_revoke(void)
{
	const char *params[3];
	const char *sql;
	PGresult   *res;
	Key			key;
	bool		revoked;

	check_key_arg(opts.pos[0]);
	connect_db();
	key = resolve_key(opts.pos[0]);
	params[0] = key.id;
	params[1] = opts.reason;
	params[2] = key.prefix;
	sql = "SELECT $1::pg_catalog.uuid AS key_id, $3::pg_catalog.text AS display_prefix,"
		" apikey.revoke($1::pg_catalog.uuid, $2::pg_catalog.text) AS revoked";
	res = query(opts.json ? sql_json(sql) : sql, 3, params);
	if (opts.json)
	{
		print_json_object(res);
		revoked = strstr(PQgetvalue(res, 0, 0), "\"revoked\":true") != NULL;
	}
	else
	{
		print_result(res, false);
		revoked = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
	}
	PQclear(res);
	if (!revoked)
		pg_log_info("key %s was already revoked or expired; nothing changed", key.prefix);
	return EXIT_OK;
}

/* ---- rotate ---- */

int
cmd_rotate(void)
{
	const char *params[2];
	int			n = 0;
	PQExpBufferData sql;
	char		grace[64];
	PGresult   *res;
	Key			key;

	check_key_arg(opts.pos[0]);
	if (opts.grace)
	{
		long long	secs;

		if (!parse_duration(opts.grace, &secs))
			usage_error("rotate", "invalid --grace \"%s\": expected a duration such as "
						"7d, 12h, 30m or 0", opts.grace);
		snprintf(grace, sizeof(grace), "%lld seconds", secs);
	}
	connect_db();
	key = resolve_key(opts.pos[0]);
	initPQExpBuffer(&sql);
	params[n++] = key.id;
	appendPQExpBufferStr(&sql, "SELECT key_id, display_prefix, old_key_expires_at, token"
			 " FROM apikey.rotate(key_id => $1::pg_catalog.uuid");
	if (opts.grace)
		add_arg(&sql, params, &n, "grace => $%d::pg_catalog.interval", grace);
	appendPQExpBufferChar(&sql, ')');
	res = query(opts.json ? sql_json(sql.data) : sql.data, n, params);
	return print_new_token(res);
}

/* ---- update ---- */

typedef enum
{
	FIELD_TEXT,					/* a string; empty: null */
	FIELD_LIST,					/* comma-separated strings */
	FIELD_CIDRS,				/* comma-separated networks; empty: null */
	FIELD_INT,					/* a whole number; empty: null */
	FIELD_OBJECT,				/* a JSON object; empty: {} */
	FIELD_LIMITS,				/* JSON, or NAME=LIMIT/PERIOD[:BURST],...; empty: null */
	FIELD_EXPIRES				/* a duration or timestamp; empty: null */
} FieldKind;

static const struct
{
	const char *name;
	FieldKind	kind;
}			update_fields[] = {
	{"name", FIELD_TEXT},
	{"scopes", FIELD_LIST},
	{"tier", FIELD_TEXT},
	{"expires_at", FIELD_EXPIRES},
	{"allowed_ips", FIELD_CIDRS},
	{"metadata", FIELD_OBJECT},
	{"rate_limits", FIELD_LIMITS},
	{"daily_quota", FIELD_INT},
	{"monthly_quota", FIELD_INT},
	{"max_concurrency", FIELD_INT},
	{"jwt_role", FIELD_TEXT},
	{NULL, 0}
};

/* Appends the JSON of one comma-separated list. */
static void
update_list(PQExpBuffer out, char *value, bool cidrs, const char *field)
{
	bool		first = true;

	appendPQExpBufferChar(out, '[');
	for (char *item = strtok(value, ","); item; item = strtok(NULL, ","))
	{
		const char *why;

		while (*item == ' ')
			item++;
		if (*item == '\0')
			continue;
		if (cidrs && !valid_cidr(item, &why))
			usage_error("update", "invalid CIDR \"%s\" in %s: %s", item, field, why);
		if (!first)
			appendPQExpBufferStr(out, ", ");
		first = false;
		json_escape(out, item);
	}
	appendPQExpBufferChar(out, ']');
}

int
cmd_update(void)
{
	PQExpBufferData changes,
				sql;
	char	   *interval = NULL;
	const char *params[3];
	int			n = 0;
	bool		seen[16] = {false};
	PGresult   *res;
	Key			key;

	check_key_arg(opts.pos[0]);
	for (int i = 1; i < opts.npos; i++)
		simple_string_list_append(&opts.sets, opts.pos[i]);
	if (opts.sets.head == NULL)
		usage_error("update", "nothing to change: give at least one --set FIELD=VALUE");

	initPQExpBuffer(&changes);
	appendPQExpBufferChar(&changes, '{');
	for (SimpleStringListCell *cell = opts.sets.head; cell; cell = cell->next)
	{
		char	   *set = pg_strdup(cell->val);
		char	   *value = strchr(set, '=');
		int			f;

		if (value == NULL || value == set)
			usage_error("update", "invalid --set \"%s\": expected FIELD=VALUE", cell->val);
		*value++ = '\0';
		for (f = 0; update_fields[f].name && strcmp(update_fields[f].name, set) != 0; f++)
			;
		if (update_fields[f].name == NULL)
			usage_error("update", "unknown field \"%s\"; the fields are name, scopes, tier, "
						"expires_at, allowed_ips, metadata, rate_limits, daily_quota, "
						"monthly_quota, max_concurrency, jwt_role", set);
		if (seen[f])
			usage_error("update", "field \"%s\" is set twice", set);
		seen[f] = true;

		if (update_fields[f].kind == FIELD_EXPIRES && *value)
		{
			const char *timestamp;

			parse_expires(value, "expires_at", &interval, &timestamp);
			if (interval)
				continue;		/* added on the server: now() + interval */
		}
		if (changes.len > 1)
			appendPQExpBufferStr(&changes, ", ");
		json_escape(&changes, set);
		appendPQExpBufferStr(&changes, ": ");
		if (*value == '\0' && update_fields[f].kind != FIELD_LIST)
		{
			appendPQExpBufferStr(&changes, update_fields[f].kind == FIELD_OBJECT ? "{}" : "null");
			continue;
		}
		switch (update_fields[f].kind)
		{
			case FIELD_TEXT:
			case FIELD_EXPIRES:
				json_escape(&changes, value);
				break;
			case FIELD_LIST:
			case FIELD_CIDRS:
				update_list(&changes, value, update_fields[f].kind == FIELD_CIDRS, set);
				break;
			case FIELD_INT:
				{
					long long	v;

					if (!parse_int(value, 0, 9223372036854775807LL, &v))
						usage_error("update", "invalid %s \"%s\": expected a whole number "
									"(or nothing, for none)", set, value);
					appendPQExpBuffer(&changes, "%lld", v);
					break;
				}
			case FIELD_OBJECT:
			case FIELD_LIMITS:
				if (*value == '{' || *value == '[')
				{
					char		err[200];
					JsonDoc		doc;
					bool		object = update_fields[f].kind == FIELD_OBJECT;

					if (!json_read(value, strlen(value), &doc, err, sizeof(err)))
						usage_error("update", "invalid JSON in %s: %s", set, err);
					if (doc.type != (object ? JSON_TOKEN_OBJECT_START : JSON_TOKEN_ARRAY_START))
						usage_error("update", "%s must be a JSON %s", set,
									object ? "object" : "array");
					json_doc_free(&doc);
					appendPQExpBufferStr(&changes, value);
				}
				else if (update_fields[f].kind == FIELD_OBJECT)
					usage_error("update", "metadata must be a JSON object");
				else
				{
					bool		first = true;

					appendPQExpBufferChar(&changes, '[');
					for (char *l = strtok(value, ","); l; l = strtok(NULL, ","))
					{
						const char *why;

						if (!first)
							appendPQExpBufferStr(&changes, ", ");
						first = false;
						if (!parse_rate_limit(l, &changes, &why))
							usage_error("update", "invalid rate limit \"%s\": %s", l, why);
					}
					appendPQExpBufferChar(&changes, ']');
				}
				break;
		}
	}
	appendPQExpBufferChar(&changes, '}');

	connect_db();
	key = resolve_key(opts.pos[0]);
	params[n++] = key.id;
	params[n++] = changes.data;
	initPQExpBuffer(&sql);
	if (interval)
	{
		params[n++] = interval;
		appendPQExpBufferStr(&sql, "apikey.update($1::pg_catalog.uuid, $2::pg_catalog.jsonb"
				 " || pg_catalog.jsonb_build_object('expires_at',"
				 " pg_catalog.now() + $3::pg_catalog.interval))");
	}
	else
		appendPQExpBufferStr(&sql, "apikey.update($1::pg_catalog.uuid, $2::pg_catalog.jsonb)");

	if (opts.json)
	{
		PQExpBufferData q;

		initPQExpBuffer(&q);
		appendPQExpBuffer(&q, "SELECT pg_catalog.row_to_json(u) FROM %s AS u", sql.data);
		res = query(q.data, n, params);
		print_json_object(res);
	}
	else
	{
		PQExpBufferData q;

		initPQExpBuffer(&q);
		appendPQExpBuffer(&q, "SELECT prefix, name, owner, status, tier,"
				   " pg_catalog.array_to_string(scopes, ',') AS scopes,"
				   " pg_catalog.array_to_string(allowed_ips, ',') AS allowed_ips,"
				   " expires_at FROM %s", sql.data);
		res = query(q.data, n, params);
		print_result(res, false);
	}
	PQclear(res);
	return EXIT_OK;
}

/* ---- usage ---- */

int
cmd_usage(void)
{
	long long	days = 30;
	char		ndays[24];
	const char *params[2];
	PGresult   *res;
	Key			key;

	check_key_arg(opts.pos[0]);
	if (opts.days && !parse_int(opts.days, 1, 3660, &days))
		usage_error("usage", "invalid --days \"%s\": expected a number from 1 to 3660", opts.days);
	connect_db();
	key = resolve_key(opts.pos[0]);
	snprintf(ndays, sizeof(ndays), "%lld", days);
	params[0] = key.id;
	params[1] = ndays;

#define USAGE_FROM \
	" FROM apikey.usage_daily" \
	" WHERE key_id = $1::pg_catalog.uuid" \
	"  AND day > (pg_catalog.now() AT TIME ZONE 'UTC')::pg_catalog.date - $2::pg_catalog.int4"
	if (opts.json)
	{
		res = query("SELECT pg_catalog.row_to_json(r) FROM ("
					" SELECT day, requests, allowed, rate_limited, quota_exceeded,"
					"  denied_auth, cost_units, avg_ms, p95_ms, p99_ms, cost"
					USAGE_FROM ") AS r ORDER BY r.day", 2, params);
		print_json_array(res);
	}
	else
	{
		res = query("SELECT day, requests, allowed, rate_limited, quota_exceeded,"
					" denied_auth, cost_units,"
					" pg_catalog.round(avg_ms::pg_catalog.numeric, 2) AS avg_ms,"
					" pg_catalog.round(p95_ms::pg_catalog.numeric, 2) AS p95_ms,"
					" pg_catalog.round(p99_ms::pg_catalog.numeric, 2) AS p99_ms, cost"
					USAGE_FROM " ORDER BY day", 2, params);
		print_result(res, true);
	}
#undef USAGE_FROM
	PQclear(res);
	return EXIT_OK;
}

/* ---- export ---- */

/* Every column of key_list, which has no key_hash; no token exists anywhere. */
#define EXPORT_COLUMNS \
	"id, prefix, owner, org, name, scopes, tier, status, rate_limits, daily_quota," \
	" monthly_quota, max_concurrency, allowed_ips, metadata, created_at, expires_at," \
	" revoked_at, revoke_reason, last_used_at, rotated_from, rotated_to, jwt_role," \
	" daily_usage, usage_day, monthly_usage, usage_month"

#define EXPORT_WHERE \
	" WHERE pg_catalog.current_setting('pg_apikey.owner') = ''" \
	"  OR owner = pg_catalog.current_setting('pg_apikey.owner')"

int
cmd_export(void)
{
	const char *format = opts.format ? opts.format : (opts.json ? "json" : "csv");
	const char *owner = opts.owner ? opts.owner : "";
	PGresult   *res;
	char	   *buf;
	int			n;

	if (strcmp(format, "csv") != 0 && strcmp(format, "json") != 0)
		usage_error("export", "invalid --format \"%s\": expected csv or json", format);
	if (opts.json && strcmp(format, "json") != 0)
		usage_error("export", "--json and --format csv contradict each other");
	if (opts.owner && opts.owner[0] == '\0')
		usage_error("export", "--owner must not be empty");

	connect_db();
	/* COPY takes no parameters: the owner travels in a session setting */
	PQclear(query("SELECT pg_catalog.set_config('pg_apikey.owner', $1, false)", 1, &owner));
	if (strcmp(format, "csv") == 0)
		res = PQexec(conn, "COPY (SELECT " EXPORT_COLUMNS " FROM apikey.key_list"
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
		exit(report_server_error(conn, res, NULL));
	PQclear(res);
	while ((n = PQgetCopyData(conn, &buf, 0)) > 0)
	{
		fwrite(buf, 1, (size_t) n, stdout);
		PQfreemem(buf);
	}
	res = PQgetResult(conn);
	if (n == -2 || !query_ok(res))
		exit(report_server_error(conn, res, NULL));
	PQclear(res);
	while ((res = PQgetResult(conn)) != NULL)
		PQclear(res);
	if (fflush(stdout) != 0 || ferror(stdout))
		die(EXIT_USAGE, "could not write the export");
	return EXIT_OK;
}
