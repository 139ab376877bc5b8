/*-------------------------------------------------------------------------
 *
 * change.c
 *	  pg_apikey: update and revoke, the commands that change a key.
 *
 * update turns its FIELD=VALUE changes into one JSON object for
 * apikey.update(), checked whole before connecting.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "pg_apikey.h"

/* ---- revoke ---- */

typedef struct RevokeOptions
{
	const char *reason;
} RevokeOptions;

static int
cmd_revoke(int argc, char **argv)
{
	RevokeOptions o = {0};
	const char *params[3];
	char	  **args;
	int			nargs;
	PGresult   *res;
	Key			key;
	bool		revoked;

	args = parse_command_line(argc, argv, &o, &nargs);
	check_key_arg(args[0]);
	connect_db();
	key = resolve_key(args[0]);
	params[0] = key.id;
	params[1] = o.reason;
	params[2] = key.prefix;
	res = query_rows("SELECT $1::pg_catalog.uuid AS key_id, $3::pg_catalog.text AS display_prefix,"
					 " apikey.revoke($1::pg_catalog.uuid, $2::pg_catalog.text) AS revoked",
					 3, params, gopts.json);
	if (gopts.json)
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

static const CommandOption revoke_options[] = {
	{"reason", OPTION_STRING, offsetof(RevokeOptions, reason)},
	END_OPTIONS
};

const Command revoke_command = {
	"revoke", cmd_revoke, revoke_options, 1, 1,
	"revoke KEY [--reason=TEXT]",
	"Revokes a key at once.  KEY is a key id or a display prefix.\n"
	"\n"
	"Options:\n"
	"      --reason=TEXT          why, kept with the key and in the audit log\n"
};

/* ---- update: the fields ---- */

typedef enum FieldKind
{
	FIELD_TEXT,					/* a string; empty: null */
	FIELD_LIST,					/* comma-separated strings */
	FIELD_CIDRS,				/* comma-separated networks; empty: null */
	FIELD_INT,					/* a whole number; empty: null */
	FIELD_OBJECT,				/* a JSON object; empty: {} */
	FIELD_LIMITS,				/* JSON, or NAME=LIMIT/PERIOD[:BURST],...; empty: null */
	FIELD_EXPIRES				/* a duration or timestamp; empty: null */
} FieldKind;

typedef struct UpdateField
{
	const char *name;
	FieldKind	kind;
} UpdateField;

static const UpdateField update_fields[] = {
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

/* The changes so far, for apikey.update(). */
typedef struct Changes
{
	PQExpBufferData json;		/* '{' "field": value, ... */
	char	   *interval;		/* expires_at as a duration: added on the server */
	bool		seen[lengthof(update_fields)];
} Changes;

static const UpdateField *
find_field(const char *name)
{
	for (const UpdateField *f = update_fields; f->name; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	usage_error("unknown field \"%s\"; the fields are name, scopes, tier, "
				"expires_at, allowed_ips, metadata, rate_limits, daily_quota, "
				"monthly_quota, max_concurrency, jwt_role", name);
}

/* A comma-separated list as a JSON array (of networks, if cidrs). */
static void
append_list(PQExpBuffer out, char *value, bool cidrs, const char *field)
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
			usage_error("invalid CIDR \"%s\" in %s: %s", item, field, why);
		if (!first)
			appendPQExpBufferStr(out, ", ");
		first = false;
		json_escape(out, item);
	}
	appendPQExpBufferChar(out, ']');
}

/* NAME=LIMIT/PERIOD[:BURST],... as a JSON array of limits. */
static void
append_rate_limits(PQExpBuffer out, char *value)
{
	bool		first = true;

	appendPQExpBufferChar(out, '[');
	for (char *l = strtok(value, ","); l; l = strtok(NULL, ","))
	{
		const char *why;

		if (!first)
			appendPQExpBufferStr(out, ", ");
		first = false;
		if (!parse_rate_limit(l, out, &why))
			usage_error("invalid rate limit \"%s\": %s", l, why);
	}
	appendPQExpBufferChar(out, ']');
}

/* metadata (a JSON object) or rate_limits (a JSON array, or a list). */
static void
append_json_field(PQExpBuffer out, const UpdateField *f, char *value)
{
	bool		object = f->kind == FIELD_OBJECT;
	char		err[200];
	JsonDoc		doc;

	if (*value != '{' && *value != '[')
	{
		if (object)
			usage_error("metadata must be a JSON object");
		append_rate_limits(out, value);
		return;
	}
	if (!json_read(value, strlen(value), &doc, err, sizeof(err)))
		usage_error("invalid JSON in %s: %s", f->name, err);
	if (doc.type != (object ? JSON_TOKEN_OBJECT_START : JSON_TOKEN_ARRAY_START))
		usage_error("%s must be a JSON %s", f->name, object ? "object" : "array");
	json_doc_free(&doc);
	appendPQExpBufferStr(out, value);
}

/* A value that is not empty, as JSON. */
static void
append_value(PQExpBuffer out, const UpdateField *f, char *value)
{
	long long	n;

	switch (f->kind)
	{
		case FIELD_TEXT:
		case FIELD_EXPIRES:
			json_escape(out, value);
			break;
		case FIELD_LIST:
		case FIELD_CIDRS:
			append_list(out, value, f->kind == FIELD_CIDRS, f->name);
			break;
		case FIELD_INT:
			if (!parse_int(value, 0, PG_INT64_MAX, &n))
				usage_error("invalid %s \"%s\": expected a whole number "
							"(or nothing, for none)", f->name, value);
			appendPQExpBuffer(out, "%lld", n);
			break;
		case FIELD_OBJECT:
		case FIELD_LIMITS:
			append_json_field(out, f, value);
			break;
	}
}

/* One FIELD=VALUE, checked, into the changes. */
static void
add_change(Changes *ch, const char *set)
{
	char	   *field = pg_strdup(set);
	char	   *value = strchr(field, '=');
	const UpdateField *f;

	if (value == NULL || value == field)
		usage_error("invalid --set \"%s\": expected FIELD=VALUE", set);
	*value++ = '\0';
	f = find_field(field);
	if (ch->seen[f - update_fields])
		usage_error("field \"%s\" is set twice", f->name);
	ch->seen[f - update_fields] = true;

	if (f->kind == FIELD_EXPIRES && *value)
	{
		const char *timestamp;

		parse_expires(value, "expires_at", &ch->interval, &timestamp);
		if (ch->interval)
			return;				/* added on the server: now() + interval */
	}
	if (ch->json.len > 1)
		appendPQExpBufferStr(&ch->json, ", ");
	json_escape(&ch->json, f->name);
	appendPQExpBufferStr(&ch->json, ": ");
	if (*value == '\0' && f->kind != FIELD_LIST)
		appendPQExpBufferStr(&ch->json, f->kind == FIELD_OBJECT ? "{}" : "null");
	else
		append_value(&ch->json, f, value);
}

/* ---- update ---- */

typedef struct UpdateOptions
{
	SimpleStringList sets;		/* --set, then FIELD=VALUE arguments */
} UpdateOptions;

/* The options and arguments of update: KEY, and the changes into o. */
static const char *
read_update_args(int argc, char **argv, UpdateOptions *o)
{
	int			nargs;
	char	  **args = parse_command_line(argc, argv, o, &nargs);

	for (int i = 1; i < nargs; i++)
		if (strchr(args[i], '=') == NULL)
			usage_error("unexpected argument after KEY: changes are given as FIELD=VALUE");
	check_key_arg(args[0]);
	for (int i = 1; i < nargs; i++)
		simple_string_list_append(&o->sets, args[i]);
	if (o->sets.head == NULL)
		usage_error("nothing to change: give at least one --set FIELD=VALUE");
	return args[0];
}

/* Runs apikey.update() and prints the key as it is now. */
static void
update_key(const char *key_id, const Changes *ch)
{
	const char *params[3] = {key_id, ch->json.data, ch->interval};
	const char *call = ch->interval
		? "apikey.update($1::pg_catalog.uuid, $2::pg_catalog.jsonb"
		" || pg_catalog.jsonb_build_object('expires_at',"
		" pg_catalog.now() + $3::pg_catalog.interval))"
		: "apikey.update($1::pg_catalog.uuid, $2::pg_catalog.jsonb)";
	char	   *sql;
	PGresult   *res;

	if (gopts.json)
		sql = psprintf("SELECT pg_catalog.row_to_json(u) FROM %s AS u", call);
	else
		sql = psprintf("SELECT prefix, name, owner, status, tier,"
					   " pg_catalog.array_to_string(scopes, ',') AS scopes,"
					   " pg_catalog.array_to_string(allowed_ips, ',') AS allowed_ips,"
					   " expires_at FROM %s", call);
	res = query(sql, ch->interval ? 3 : 2, params);
	if (gopts.json)
		print_json_object(res);
	else
		print_result(res, false);
	PQclear(res);
	pg_free(sql);
}

static int
cmd_update(int argc, char **argv)
{
	UpdateOptions o = {0};
	Changes		ch = {0};
	const char *arg = read_update_args(argc, argv, &o);

	initPQExpBuffer(&ch.json);
	appendPQExpBufferChar(&ch.json, '{');
	for (SimpleStringListCell *cell = o.sets.head; cell; cell = cell->next)
		add_change(&ch, cell->val);
	appendPQExpBufferChar(&ch.json, '}');

	connect_db();
	update_key(resolve_key(arg).id, &ch);
	return EXIT_OK;
}

static const CommandOption update_options[] = {
	{"set", OPTION_LIST, offsetof(UpdateOptions, sets)},
	END_OPTIONS
};

const Command update_command = {
	"update", cmd_update, update_options, 1, -1,
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
	"                             jwt_role may be changed by apikey_admin only.\n"
};
