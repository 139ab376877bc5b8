/*-------------------------------------------------------------------------
 *
 * bulk.c
 *	  pg_apikey: bulk-issue and bulk-revoke.
 *
 * The file is read and checked whole first (bulkfile.c); then everything
 * runs in one transaction, in chunks the size of apikey.issue_bulk's and
 * apikey.revoke_bulk's limits, so a file is applied whole or not at all.
 * The tokens of bulk-issue are printed only after COMMIT.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <time.h>

#include "fe_utils/string_utils.h"
#include "pg_apikey.h"

#define ISSUE_CHUNK		100		/* apikey.issue_bulk's limit */
#define REVOKE_CHUNK	1000	/* apikey.revoke_bulk's limit */

/* ---- bulk-issue ---- */

/* The keys issued, by the position of their spec in the file. */
typedef struct Issued
{
	char	  **ids;
	char	  **prefixes;
	char	  **tokens;
} Issued;

/* The server's clock, if a duration counts from it; else 0. */
static long long
server_epoch_if_needed(const IssueSpec *specs, int count)
{
	PGresult   *res;
	long long	epoch;
	int			i;

	for (i = 0; i < count && specs[i].expires_in < 0; i++)
		;
	if (i == count)
		return 0;
	res = query("SELECT pg_catalog.floor(pg_catalog.date_part('epoch',"
				" pg_catalog.now()))::pg_catalog.int8", 0, NULL);
	epoch = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	return epoch;
}

/* specs[start..end) as the JSON array apikey.issue_bulk takes. */
static void
chunk_json(PQExpBuffer arr, const IssueSpec *specs, int start, int end, long long epoch)
{
	resetPQExpBuffer(arr);
	appendPQExpBufferChar(arr, '[');
	for (int i = start; i < end; i++)
	{
		const IssueSpec *s = &specs[i];

		if (i > start)
			appendPQExpBufferStr(arr, ",\n");
		appendPQExpBufferStr(arr, s->json.data);
		if (s->expires_in >= 0)
		{
			time_t		t = (time_t) (epoch + s->expires_in);
			struct tm	tm;
			char		iso[32];

			gmtime_r(&t, &tm);
			strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
			appendPQExpBuffer(arr, "%s\"expires_at\": \"%s\"", s->json.len > 1 ? ", " : "", iso);
		}
		appendPQExpBufferChar(arr, '}');
	}
	appendPQExpBufferChar(arr, ']');
}

/* Reports an error of apikey.issue_bulk at the line it is about; exits. */
pg_noreturn static void
issue_failed(const PGresult *res, const char *fname, const IssueSpec *specs,
			 int start, int end)
{
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	const char *at = detail ? strstr(detail, "In element ") : NULL;
	int			element = at ? atoi(at + strlen("In element ")) : 0;
	char	   *where;
	int			code;

	if (element >= 1 && start + element <= end)
		where = psprintf("%s:%d", fname, specs[start + element - 1].line);
	else
		where = pg_strdup(fname);
	code = report_server_error(res, where);
	rollback();
	pg_log_info("no key was issued (the whole file is one transaction)");
	exit(code);
}

/* Issues specs[start..end) into out. */
static void
issue_chunk(const IssueSpec *specs, int start, int end, long long epoch,
			const char *fname, Issued *out)
{
	PQExpBufferData arr;
	const char *param;
	PGresult   *res;

	initPQExpBuffer(&arr);
	chunk_json(&arr, specs, start, end, epoch);
	param = arr.data;
	res = query_try("SELECT key_id, token, display_prefix"
					" FROM apikey.issue_bulk($1::pg_catalog.jsonb)", 1, &param);
	if (!query_ok(res))
		issue_failed(res, fname, specs, start, end);
	if (PQntuples(res) != end - start)
		die(EXIT_SERVER, "apikey.issue_bulk returned %d keys for %d", PQntuples(res), end - start);
	for (int i = start; i < end; i++)
	{
		out->ids[i] = pg_strdup(PQgetvalue(res, i - start, 0));
		out->tokens[i] = pg_strdup(PQgetvalue(res, i - start, 1));
		out->prefixes[i] = pg_strdup(PQgetvalue(res, i - start, 2));
	}
	PQclear(res);
	termPQExpBuffer(&arr);
}

/* One issued key as a JSON line, or a CSV line, to out. */
static void
append_issued(PQExpBuffer out, const IssueSpec *spec, const Issued *is, int i)
{
	const char *name = spec->name && spec->name[0] ? spec->name : NULL;

	if (gopts.json)
	{
		appendPQExpBuffer(out, "{\"line\": %d, \"key_id\": \"%s\", \"display_prefix\": ",
						  spec->line, is->ids[i]);
		json_escape(out, is->prefixes[i]);
		appendPQExpBufferStr(out, ", \"owner\": ");
		json_escape(out, spec->owner);
		appendPQExpBufferStr(out, ", \"name\": ");
		if (name)
			json_escape(out, name);
		else
			appendPQExpBufferStr(out, "null");
		appendPQExpBufferStr(out, ", \"token\": ");
		json_escape(out, is->tokens[i]);
		appendPQExpBufferStr(out, "}\n");
		return;
	}
	appendPQExpBuffer(out, "%d,%s,", spec->line, is->ids[i]);
	csv_field(out, is->prefixes[i]);
	appendPQExpBufferChar(out, ',');
	csv_field(out, spec->owner);
	appendPQExpBufferChar(out, ',');
	if (name)
		csv_field(out, name);
	appendPQExpBuffer(out, ",%s\n", is->tokens[i]);
}

/*
 * The tokens, once each, on stdout (wiped from memory after); false if
 * they could not be written.
 */
static bool
print_issued(const IssueSpec *specs, Issued *is, int count)
{
	PQExpBufferData out;
	bool		written;

	initPQExpBuffer(&out);
	if (!gopts.json)
		appendPQExpBufferStr(&out, "line,key_id,display_prefix,owner,name,token\n");
	for (int i = 0; i < count; i++)
	{
		append_issued(&out, &specs[i], is, i);
		wipe_free(is->tokens[i]);
	}
	written = fwrite(out.data, 1, out.len, stdout) == out.len && fflush(stdout) == 0 &&
		!ferror(stdout);
	explicit_bzero(out.data, out.len);
	termPQExpBuffer(&out);
	return written;
}

static int
cmd_bulk_issue(int argc, char **argv)
{
	char	  **args;
	int			nargs;
	const char *fname;
	IssueSpec  *specs;
	Issued		is;
	long long	epoch;
	int			count;

	args = parse_command_line(argc, argv, NULL, &nargs);
	fname = file_label(args[0]);
	specs = read_issue_file(args[0], &count);
	is.ids = pg_malloc(sizeof(char *) * count);
	is.prefixes = pg_malloc(sizeof(char *) * count);
	is.tokens = pg_malloc(sizeof(char *) * count);

	connect_db();
	PQclear(query("BEGIN", 0, NULL));
	epoch = server_epoch_if_needed(specs, count);
	for (int start = 0; start < count; start += ISSUE_CHUNK)
		issue_chunk(specs, start, Min(start + ISSUE_CHUNK, count), epoch, fname, &is);
	PQclear(query("COMMIT", 0, NULL));

	if (!print_issued(specs, &is, count))
	{
		pg_log_info("could not write the new tokens to standard output: %s", strerror(errno));
		pg_log_info("%d key%s were issued but their tokens are lost: revoke them "
					"(their ids are in apikey.audit_log)", count, count == 1 ? "" : "s");
		return EXIT_SERVER;
	}
	pg_log_info("issued %d key%s; these tokens will not be shown again; store them now",
				count, count == 1 ? "" : "s");
	return EXIT_OK;
}

const Command bulk_issue_command = {
	"bulk-issue", cmd_bulk_issue, NULL, 1, 1,
	"bulk-issue FILE",
	"Issues the keys described in FILE (\"-\": standard input), all or nothing,\n"
	"and prints their tokens once: CSV (line,key_id,display_prefix,owner,name,\n"
	"token), or JSON lines with --json.\n"
	"\n"
	"FILE is either CSV with a header line naming issue()'s arguments (owner,\n"
	"name, scopes, tier, expires_at, allowed_ips, prefix, org, metadata,\n"
	"rate_limits; lists separated by ';'), or JSON lines: one object per line\n"
	"with the same keys.  The whole file is checked before anything is sent;\n"
	"a broken line stops the command with its line number.\n"
};

/* ---- bulk-revoke: finding the keys ---- */

typedef struct BulkRevokeOptions
{
	const char *reason;
	bool		dry_run;
} BulkRevokeOptions;

/* The keys of the file, by position: NULL where a key is not found. */
typedef struct Found
{
	int			count;
	char	  **ids;
	char	  **prefixes;
	bool	   *dup;			/* the same key as an earlier line */
} Found;

/* Looks up the refs of one kind, all at once, into found. */
static void
resolve_refs(const RevokeRef *refs, KeyRefKind kind, Found *found)
{
	SimpleStringList values = {NULL, NULL};
	int		   *where = pg_malloc(sizeof(int) * found->count);
	int			n = 0;
	PQExpBufferData arr;
	const char *param;
	PGresult   *res;

	for (int i = 0; i < found->count; i++)
	{
		if (refs[i].kind != kind)
			continue;
		where[n++] = i;
		simple_string_list_append(&values, refs[i].ref);
	}
	if (n == 0)
	{
		pg_free(where);
		return;
	}
	initPQExpBuffer(&arr);
	array_literal(&arr, &values);
	param = arr.data;
	res = query(kind == KEYREF_ID
				? "SELECT u.n, k.id, k.prefix"
				" FROM pg_catalog.unnest($1::pg_catalog.uuid[]) WITH ORDINALITY AS u(ref, n)"
				" LEFT JOIN apikey.key_list AS k ON k.id = u.ref"
				: "SELECT u.n, k.id, k.prefix"
				" FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY AS u(ref, n)"
				" LEFT JOIN apikey.key_list AS k ON k.prefix = u.ref",
				1, &param);
	for (int r = 0; r < PQntuples(res); r++)
	{
		int			i = atoi(PQgetvalue(res, r, 0));

		if (i >= 1 && i <= n && !PQgetisnull(res, r, 1))
		{
			found->ids[where[i - 1]] = pg_strdup(PQgetvalue(res, r, 1));
			found->prefixes[where[i - 1]] = pg_strdup(PQgetvalue(res, r, 2));
		}
	}
	PQclear(res);
	termPQExpBuffer(&arr);
	simple_string_list_destroy(&values);
	pg_free(where);
}

/* Names the lines whose key is not found (ten at most), and exits 4. */
static void
check_all_found(const RevokeRef *refs, const Found *found, const char *fname)
{
	int			missing = 0;

	for (int i = 0; i < found->count; i++)
	{
		if (found->ids[i] != NULL)
			continue;
		if (++missing <= 10)
			pg_log_error("%s:%d: no API key with %s \"%s\"", fname, refs[i].line,
						 refs[i].kind == KEYREF_ID ? "id" : "display prefix", refs[i].ref);
	}
	if (missing == 0)
		return;
	rollback();
	if (missing > 10)
		pg_log_info("... and %d more", missing - 10);
	die(EXIT_NOT_FOUND, "%d key%s not found; nothing was revoked",
		missing, missing == 1 ? "" : "s");
}

static const char *const *sort_ids;

static int
cmp_by_id(const void *a, const void *b)
{
	int			ia = *(const int *) a,
				ib = *(const int *) b;
	int			c = strcmp(sort_ids[ia], sort_ids[ib]);

	return c != 0 ? c : (ia > ib) - (ia < ib);
}

/* Marks each key listed before, so that it is revoked once. */
static void
mark_duplicates(Found *found)
{
	int		   *order = pg_malloc(sizeof(int) * found->count);

	for (int i = 0; i < found->count; i++)
		order[i] = i;
	sort_ids = (const char *const *) found->ids;
	qsort(order, found->count, sizeof(int), cmp_by_id);
	for (int i = 0; i < found->count; i++)
		found->dup[order[i]] = i > 0 && strcmp(found->ids[order[i]], found->ids[order[i - 1]]) == 0;
	pg_free(order);
}

/* ---- bulk-revoke: revoking them ---- */

#define REVOKED_COLUMNS 4		/* key_id, display_prefix, was_active, revoked */

/* The rows to print, REVOKED_COLUMNS cells each. */
typedef struct Revoked
{
	char	  **cells;
	int			nrows;
	int			nactive;		/* that were active */
} Revoked;

/* Revokes the keys at positions chunk[0..n); their rows into out. */
static void
revoke_chunk(const Found *found, const int *chunk, int n, const BulkRevokeOptions *o,
			 const char *fname, Revoked *out)
{
	PQExpBufferData arr;
	const char *params[3];
	PGresult   *res;

	initPQExpBuffer(&arr);
	appendPQExpBufferChar(&arr, '{');
	for (int i = 0; i < n; i++)
		appendPGArray(&arr, found->ids[chunk[i]]);
	appendPQExpBufferChar(&arr, '}');
	params[0] = arr.data;
	params[1] = o->reason;
	params[2] = o->dry_run ? "true" : "false";
	res = query_try("SELECT key_id, was_active, revoked FROM apikey.revoke_bulk("
					"$1::pg_catalog.uuid[], $2::pg_catalog.text, $3::pg_catalog.bool)",
					3, params);
	if (!query_ok(res))
	{
		int			code = report_server_error(res, fname);

		rollback();
		pg_log_info("no key was revoked (the whole file is one transaction)");
		exit(code);
	}
	/* one row per key, in the order given */
	if (PQntuples(res) != n)
		die(EXIT_SERVER, "apikey.revoke_bulk returned %d rows for %d keys", PQntuples(res), n);
	for (int r = 0; r < n; r++)
	{
		char	  **row = &out->cells[out->nrows++ * REVOKED_COLUMNS];

		if (strcmp(PQgetvalue(res, r, 0), found->ids[chunk[r]]) != 0)
			die(EXIT_SERVER, "apikey.revoke_bulk returned its keys out of order");
		row[0] = found->ids[chunk[r]];
		row[1] = found->prefixes[chunk[r]];
		row[2] = pg_strdup(PQgetvalue(res, r, 1));
		row[3] = pg_strdup(PQgetvalue(res, r, 2));
		if (strcmp(row[2], "t") == 0)
			out->nactive++;
	}
	PQclear(res);
	termPQExpBuffer(&arr);
}

/* Revokes each key once, in the order of the file, in chunks. */
static void
revoke_all(const Found *found, const BulkRevokeOptions *o, const char *fname, Revoked *out)
{
	int		   *chunk = pg_malloc(sizeof(int) * REVOKE_CHUNK);

	out->cells = pg_malloc(sizeof(char *) * found->count * REVOKED_COLUMNS);
	for (int start = 0; start < found->count;)
	{
		int			n = 0;

		for (; start < found->count && n < REVOKE_CHUNK; start++)
			if (!found->dup[start])
				chunk[n++] = start;
		if (n == 0)
			break;
		revoke_chunk(found, chunk, n, o, fname, out);
	}
	pg_free(chunk);
}

static void
print_revoked(const Revoked *rv)
{
	static const char *const names[REVOKED_COLUMNS] =
	{"key_id", "display_prefix", "was_active", "revoked"};

	if (!gopts.json)
	{
		print_rows(REVOKED_COLUMNS, names, rv->nrows, rv->cells, true);
		return;
	}
	fputc('[', stdout);
	for (int r = 0; r < rv->nrows; r++)
	{
		char	   *const *row = &rv->cells[r * REVOKED_COLUMNS];
		PQExpBufferData prefix;

		initPQExpBuffer(&prefix);
		json_escape(&prefix, row[1]);
		printf("%s\n  {\"key_id\": \"%s\", \"display_prefix\": %s, "
			   "\"was_active\": %s, \"revoked\": %s}", r ? "," : "", row[0], prefix.data,
			   strcmp(row[2], "t") == 0 ? "true" : "false",
			   strcmp(row[3], "t") == 0 ? "true" : "false");
		termPQExpBuffer(&prefix);
	}
	fputs(rv->nrows ? "\n]\n" : "]\n", stdout);
}

static int
cmd_bulk_revoke(int argc, char **argv)
{
	BulkRevokeOptions o = {0};
	char	  **args;
	int			nargs;
	const char *fname;
	RevokeRef  *refs;
	Found		found;
	Revoked		rv = {0};
	int			nunique;

	args = parse_command_line(argc, argv, &o, &nargs);
	fname = file_label(args[0]);
	refs = read_revoke_file(args[0], &found.count);
	found.ids = pg_malloc0(sizeof(char *) * found.count);
	found.prefixes = pg_malloc0(sizeof(char *) * found.count);
	found.dup = pg_malloc0(sizeof(bool) * found.count);

	connect_db();
	PQclear(query("BEGIN", 0, NULL));
	resolve_refs(refs, KEYREF_ID, &found);
	resolve_refs(refs, KEYREF_PREFIX, &found);
	check_all_found(refs, &found, fname);
	mark_duplicates(&found);
	revoke_all(&found, &o, fname, &rv);
	/* a dry run keeps nothing, whatever happened */
	PQclear(query(o.dry_run ? "ROLLBACK" : "COMMIT", 0, NULL));

	print_revoked(&rv);
	fflush(stdout);
	nunique = rv.nrows;
	if (o.dry_run)
		pg_log_info("dry run: %d of %d key%s would be revoked (%d already revoked or expired); "
					"nothing was changed", rv.nactive, nunique, nunique == 1 ? "" : "s",
					nunique - rv.nactive);
	else
		pg_log_info("revoked %d key%s (%d already revoked or expired)",
					rv.nactive, rv.nactive == 1 ? "" : "s", nunique - rv.nactive);
	return EXIT_OK;
}

static const CommandOption bulk_revoke_options[] = {
	{"reason", OPTION_STRING, offsetof(BulkRevokeOptions, reason)},
	{"dry-run", OPTION_FLAG, offsetof(BulkRevokeOptions, dry_run)},
	END_OPTIONS
};

const Command bulk_revoke_command = {
	"bulk-revoke", cmd_bulk_revoke, bulk_revoke_options, 1, 1,
	"bulk-revoke FILE [--reason=TEXT] [--dry-run]",
	"Revokes the keys listed in FILE (\"-\": standard input), one key id or\n"
	"display prefix per line (blank lines and lines starting with # are\n"
	"skipped), all or nothing.\n"
	"\n"
	"Options:\n"
	"      --reason=TEXT          why, kept with each key and in the audit log\n"
	"      --dry-run              check everything and show what would be revoked,\n"
	"                             changing nothing\n"
};
