/*-------------------------------------------------------------------------
 *
 * bulk.c
 *	  pg_apikey: bulk-issue and bulk-revoke.
 *
 * The file is read and checked whole first (input.c); then everything runs
 * in one transaction, in chunks the size of apikey.issue_bulk's and
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

int
cmd_bulk_issue(void)
{
	const char *path = opts.pos[0];
	const char *fname = strcmp(path, "-") == 0 ? "stdin" : path;
	int			count;
	IssueSpec  *specs = read_issue_file(path, &count);
	char	  **ids = pg_malloc(sizeof(char *) * (size_t) count);
	char	  **prefixes = pg_malloc(sizeof(char *) * (size_t) count);
	char	  **tokens = pg_malloc(sizeof(char *) * (size_t) count);
	long long	epoch = 0;
	PGresult   *res;
	PQExpBufferData arr,
				out;
	bool		written;

	connect_db();
	PQclear(query("BEGIN", 0, NULL));
	for (int i = 0; i < count; i++)
	{
		if (specs[i].expires_in >= 0)
		{
			/* durations count from the server's clock */
			res = query("SELECT pg_catalog.floor(pg_catalog.date_part('epoch',"
						" pg_catalog.now()))::pg_catalog.int8", 0, NULL);
			epoch = atoll(PQgetvalue(res, 0, 0));
			PQclear(res);
			break;
		}
	}

	initPQExpBuffer(&arr);
	for (int start = 0; start < count; start += ISSUE_CHUNK)
	{
		int			end = start + ISSUE_CHUNK < count ? start + ISSUE_CHUNK : count;
		const char *param;

		resetPQExpBuffer(&arr);
		appendPQExpBufferChar(&arr, '[');
		for (int i = start; i < end; i++)
		{
			IssueSpec  *s = &specs[i];

			if (i > start)
				appendPQExpBufferStr(&arr, ",\n");
			appendPQExpBufferStr(&arr, s->json.data);
			if (s->expires_in >= 0)
			{
				time_t		t = (time_t) (epoch + s->expires_in);
				struct tm	tm;
				char		iso[32];

				gmtime_r(&t, &tm);
				strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
				appendPQExpBuffer(&arr, "%s\"expires_at\": \"%s\"", s->json.len > 1 ? ", " : "", iso);
			}
			appendPQExpBufferChar(&arr, '}');
		}
		appendPQExpBufferChar(&arr, ']');
		param = arr.data;
		res = query_try("SELECT key_id, token, display_prefix"
						" FROM apikey.issue_bulk($1::pg_catalog.jsonb)", 1, &param);
		if (!query_ok(res))
		{
			const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
			const char *at = detail ? strstr(detail, "In element ") : NULL;
			int			element = 0;
			char		where[1100];
			int			code;

			if (at)
				element = atoi(at + strlen("In element "));
			if (element >= 1 && start + element <= end)
				snprintf(where, sizeof(where), "%s:%d", fname, specs[start + element - 1].line);
			else
				snprintf(where, sizeof(where), "%s", fname);
			code = report_server_error(conn, res, where);
			rollback();
			pg_log_info("no key was issued (the whole file is one transaction)");
			exit(code);
		}
		if (PQntuples(res) != end - start)
			die(EXIT_SERVER, "apikey.issue_bulk returned %d keys for %d", PQntuples(res), end - start);
		for (int i = start; i < end; i++)
		{
			ids[i] = pg_strdup(PQgetvalue(res, i - start, 0));
			tokens[i] = pg_strdup(PQgetvalue(res, i - start, 1));
			prefixes[i] = pg_strdup(PQgetvalue(res, i - start, 2));
		}
		PQclear(res);
	}
	PQclear(query("COMMIT", 0, NULL));

	/* the tokens, once each: CSV, or JSON lines */
	initPQExpBuffer(&out);
	if (!opts.json)
		appendPQExpBufferStr(&out, "line,key_id,display_prefix,owner,name,token\n");
	for (int i = 0; i < count; i++)
	{
		const char *name = specs[i].name && specs[i].name[0] ? specs[i].name : NULL;

		if (opts.json)
		{
			appendPQExpBuffer(&out, "{\"line\": %d, \"key_id\": \"%s\", \"display_prefix\": ",
					   specs[i].line, ids[i]);
			json_escape(&out, prefixes[i]);
			appendPQExpBufferStr(&out, ", \"owner\": ");
			json_escape(&out, specs[i].owner);
			appendPQExpBufferStr(&out, ", \"name\": ");
			if (name)
				json_escape(&out, name);
			else
				appendPQExpBufferStr(&out, "null");
			appendPQExpBufferStr(&out, ", \"token\": ");
			json_escape(&out, tokens[i]);
			appendPQExpBufferStr(&out, "}\n");
		}
		else
		{
			appendPQExpBuffer(&out, "%d,%s,", specs[i].line, ids[i]);
			csv_field(&out, prefixes[i]);
			appendPQExpBufferChar(&out, ',');
			csv_field(&out, specs[i].owner);
			appendPQExpBufferChar(&out, ',');
			if (name)
				csv_field(&out, name);
			appendPQExpBufferChar(&out, ',');
			appendPQExpBufferStr(&out, tokens[i]);
			appendPQExpBufferChar(&out, '\n');
		}
		wipe_free(tokens[i]);
	}
	written = fwrite(out.data, 1, out.len, stdout) == out.len && fflush(stdout) == 0 &&
		!ferror(stdout);
	explicit_bzero(out.data, out.len);
	termPQExpBuffer(&out);
	if (!written)
	{
		pg_log_info("could not write the new tokens to standard output: %s", strerror(errno));
		pg_log_info("%d key%s were issued but their tokens are lost: revoke them (their ids are in apikey.audit_log)",
			 count, count == 1 ? "" : "s");
		return EXIT_SERVER;
	}
	pg_log_info("issued %d key%s; these tokens will not be shown again; store them now",
		 count, count == 1 ? "" : "s");
	return EXIT_OK;
}

/* ---- bulk-revoke ---- */

static const char *const *sort_ids;

static int
cmp_by_id(const void *a, const void *b)
{
	int			ia = *(const int *) a,
				ib = *(const int *) b;
	int			c = strcmp(sort_ids[ia], sort_ids[ib]);

	return c != 0 ? c : (ia > ib) - (ia < ib);
}

/* Looks up refs of one kind; fills ids/prefixes by position (NULL: unknown). */
static void
resolve_refs(const RevokeRef *refs, int count, KeyRefKind kind, char **ids, char **prefixes)
{
	SimpleStringList values = {NULL, NULL};
	int			nvalues = 0;
	int		   *where = pg_malloc(sizeof(int) * (size_t) count);
	PQExpBufferData arr;
	const char *param;
	PGresult   *res;

	for (int i = 0; i < count; i++)
	{
		if (refs[i].kind != kind)
			continue;
		where[nvalues++] = i;
		simple_string_list_append(&values, refs[i].ref);
	}
	if (nvalues == 0)
	{
		free(where);
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
		int			n = atoi(PQgetvalue(res, r, 0));

		if (n >= 1 && n <= nvalues && !PQgetisnull(res, r, 1))
		{
			ids[where[n - 1]] = pg_strdup(PQgetvalue(res, r, 1));
			prefixes[where[n - 1]] = pg_strdup(PQgetvalue(res, r, 2));
		}
	}
	PQclear(res);
	termPQExpBuffer(&arr);
	simple_string_list_destroy(&values);
	free(where);
}

int
cmd_bulk_revoke(void)
{
	const char *path = opts.pos[0];
	const char *fname = strcmp(path, "-") == 0 ? "stdin" : path;
	int			count;
	RevokeRef  *refs = read_revoke_file(path, &count);
	char	  **ids = pg_malloc(sizeof(char *) * (size_t) count);
	char	  **prefixes = pg_malloc(sizeof(char *) * (size_t) count);
	int		   *order = pg_malloc(sizeof(int) * (size_t) count);
	bool	   *dup = pg_malloc(sizeof(bool) * (size_t) count);
	char	  **cells;
	int		   *chunk;
	int			missing = 0,
				nunique = 0,
				nactive = 0,
				row = 0;
	PQExpBufferData arr;

	memset(ids, 0, sizeof(char *) * (size_t) count);
	memset(prefixes, 0, sizeof(char *) * (size_t) count);

	connect_db();
	PQclear(query("BEGIN", 0, NULL));
	resolve_refs(refs, count, KEYREF_ID, ids, prefixes);
	resolve_refs(refs, count, KEYREF_PREFIX, ids, prefixes);
	for (int i = 0; i < count; i++)
	{
		if (ids[i] != NULL)
			continue;
		if (++missing <= 10)
			pg_log_error("%s:%d: no API key with %s \"%s\"", fname, refs[i].line,
						 refs[i].kind == KEYREF_ID ? "id" : "display prefix", refs[i].ref);
	}
	if (missing > 0)
	{
		rollback();
		if (missing > 10)
			pg_log_info("... and %d more", missing - 10);
		die(EXIT_NOT_FOUND, "%d key%s not found; nothing was revoked",
			missing, missing == 1 ? "" : "s");
	}

	/* each key once, in the order of the file */
	for (int i = 0; i < count; i++)
		order[i] = i;
	sort_ids = (const char *const *) ids;
	qsort(order, (size_t) count, sizeof(int), cmp_by_id);
	for (int i = 0; i < count; i++)
		dup[order[i]] = i > 0 && strcmp(ids[order[i]], ids[order[i - 1]]) == 0;

	cells = pg_malloc(sizeof(char *) * (size_t) count * 4);
	chunk = pg_malloc(sizeof(int) * REVOKE_CHUNK);
	initPQExpBuffer(&arr);
	for (int start = 0; start < count;)
	{
		int			n = 0;
		const char *params[3];
		PGresult   *res;

		resetPQExpBuffer(&arr);
		appendPQExpBufferChar(&arr, '{');
		for (; start < count && n < REVOKE_CHUNK; start++)
			if (!dup[start])
			{
				chunk[n++] = start;
				appendPGArray(&arr, ids[start]);
			}
		if (n == 0)
			break;
		appendPQExpBufferChar(&arr, '}');
		params[0] = arr.data;
		params[1] = opts.reason;
		params[2] = opts.dry_run ? "true" : "false";
		res = query_try("SELECT key_id, was_active, revoked FROM apikey.revoke_bulk("
						"$1::pg_catalog.uuid[], $2::pg_catalog.text, $3::pg_catalog.bool)",
						3, params);
		if (!query_ok(res))
		{
			int			code = report_server_error(conn, res, fname);

			rollback();
			pg_log_info("no key was revoked (the whole file is one transaction)");
			exit(code);
		}
		/* one row per key, in the order given */
		if (PQntuples(res) != n)
			die(EXIT_SERVER, "apikey.revoke_bulk returned %d rows for %d keys", PQntuples(res), n);
		for (int r = 0; r < n; r++, row++)
		{
			if (strcmp(PQgetvalue(res, r, 0), ids[chunk[r]]) != 0)
				die(EXIT_SERVER, "apikey.revoke_bulk returned its keys out of order");
			cells[row * 4] = ids[chunk[r]];
			cells[row * 4 + 1] = prefixes[chunk[r]];
			cells[row * 4 + 2] = pg_strdup(PQgetvalue(res, r, 1));
			cells[row * 4 + 3] = pg_strdup(PQgetvalue(res, r, 2));
			if (strcmp(cells[row * 4 + 2], "t") == 0)
				nactive++;
		}
		nunique += n;
		PQclear(res);
	}
	/* a dry run keeps nothing, whatever happened */
	PQclear(query(opts.dry_run ? "ROLLBACK" : "COMMIT", 0, NULL));

	if (opts.json)
	{
		PQExpBufferData out;

		initPQExpBuffer(&out);
		appendPQExpBufferChar(&out, '[');
		for (int r = 0; r < row; r++)
		{
			appendPQExpBuffer(&out, "%s\n  {\"key_id\": \"%s\", \"display_prefix\": ",
					   r ? "," : "", cells[r * 4]);
			json_escape(&out, cells[r * 4 + 1]);
			appendPQExpBuffer(&out, ", \"was_active\": %s, \"revoked\": %s}",
					   strcmp(cells[r * 4 + 2], "t") == 0 ? "true" : "false",
					   strcmp(cells[r * 4 + 3], "t") == 0 ? "true" : "false");
		}
		appendPQExpBufferStr(&out, row ? "\n]\n" : "]\n");
		fputs(out.data, stdout);
		termPQExpBuffer(&out);
	}
	else
	{
		static const char *const names[] = {"key_id", "display_prefix", "was_active", "revoked"};

		print_rows(4, names, row, cells, true);
	}
	fflush(stdout);
	if (opts.dry_run)
		pg_log_info("dry run: %d of %d key%s would be revoked (%d already revoked or expired); "
			 "nothing was changed", nactive, nunique, nunique == 1 ? "" : "s", nunique - nactive);
	else
		pg_log_info("revoked %d key%s (%d already revoked or expired)",
			 nactive, nactive == 1 ? "" : "s", nunique - nactive);
	return EXIT_OK;
}
