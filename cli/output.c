/*-------------------------------------------------------------------------
 *
 * output.c
 *	  pg_apikey: tables in psql's aligned format (fe_utils/print.h), JSON
 *	  and CSV text, and reports of server errors.
 *
 * Nothing here ever prints a token except print_result and the JSON
 * printers on stdout, for the one result that carries it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "fe_utils/print.h"
#include "fe_utils/string_utils.h"
#include "pg_apikey.h"

/* ---- strings ---- */

void
wipe_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	pg_free(s);
}

/* A JSON string literal, quotes included. */
void
json_escape(PQExpBuffer b, const char *s)
{
	appendPQExpBufferChar(b, '"');
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		switch (*p)
		{
			case '"':
				appendPQExpBufferStr(b, "\\\"");
				break;
			case '\\':
				appendPQExpBufferStr(b, "\\\\");
				break;
			case '\n':
				appendPQExpBufferStr(b, "\\n");
				break;
			case '\r':
				appendPQExpBufferStr(b, "\\r");
				break;
			case '\t':
				appendPQExpBufferStr(b, "\\t");
				break;
			case '\b':
				appendPQExpBufferStr(b, "\\b");
				break;
			case '\f':
				appendPQExpBufferStr(b, "\\f");
				break;
			default:
				if (*p < 0x20)
					appendPQExpBuffer(b, "\\u%04x", *p);
				else
					appendPQExpBufferChar(b, (char) *p);
		}
	}
	appendPQExpBufferChar(b, '"');
}

/*
 * A CSV field (RFC 4180): quoted only when it must be.  A field that starts
 * with = + - @, a tab or a carriage return would run as a formula in a
 * spreadsheet: it gets a leading ' (as pg_apikey export writes them).
 */
void
csv_field(PQExpBuffer b, const char *s)
{
	bool		formula = s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL;

	if (!formula &&
		s[strcspn(s, ",\"\r\n")] == '\0' && s[0] != ' ' && s[0] != '\0')
	{
		appendPQExpBufferStr(b, s);
		return;
	}
	appendPQExpBufferChar(b, '"');
	if (formula)
		appendPQExpBufferChar(b, '\'');
	for (const char *p = s; *p; p++)
	{
		if (*p == '"')
			appendPQExpBufferChar(b, '"');
		appendPQExpBufferChar(b, *p);
	}
	appendPQExpBufferChar(b, '"');
}

void
array_literal(PQExpBuffer b, const SimpleStringList *l)
{
	appendPQExpBufferChar(b, '{');
	for (SimpleStringListCell *cell = l->head; cell; cell = cell->next)
		appendPGArray(b, cell->val);
	appendPQExpBufferChar(b, '}');
}

/* ---- tables ---- */

/*
 * A cell as shown: control characters written as \n, \t, \x01, on one
 * line (print.h would break a line at \n and expand a tab).  The copy is
 * the caller's to wipe: it may be a token.
 */
static char *
cell_text(const char *s)
{
	PQExpBufferData b;

	initPQExpBuffer(&b);
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		if (*p == '\n')
			appendPQExpBufferStr(&b, "\\n");
		else if (*p == '\t')
			appendPQExpBufferStr(&b, "\\t");
		else if (*p == '\r')
			appendPQExpBufferStr(&b, "\\r");
		else if (*p < 0x20 || *p == 0x7F)
			appendPQExpBuffer(&b, "\\x%02x", *p);
		else
			appendPQExpBufferChar(&b, (char) *p);
	}
	return b.data;
}

/*
 * A table of cells[row * ncols + col] with these headers and alignments
 * ('l' or 'r'); NULL cells are empty.  psql's aligned format, border 1,
 * without the blank line psql ends a table with.
 */
static void
print_table(int ncols, char *const *names, const char *align, int nrows,
			char *const *cells, bool footer)
{
	printTableOpt opt = {0};
	printTableContent cont;
	char	  **shown = pg_malloc(sizeof(char *) * (nrows * ncols + 1));

	opt.format = PRINT_ALIGNED;
	opt.border = 1;
	opt.start_table = true;
	opt.encoding = PQclientEncoding(conn);
	printTableInit(&cont, &opt, NULL, ncols, nrows);
	for (int c = 0; c < ncols; c++)
		printTableAddHeader(&cont, names[c], false, align[c]);
	for (int i = 0; i < nrows * ncols; i++)
	{
		shown[i] = cell_text(cells[i] ? cells[i] : "");
		printTableAddCell(&cont, shown[i], false, false);
	}
	printTable(&cont, stdout, false, NULL);
	printTableCleanup(&cont);
	if (footer)
		printf("(%d row%s)\n", nrows, nrows == 1 ? "" : "s");

	for (int i = 0; i < nrows * ncols; i++)
		wipe_free(shown[i]);
	pg_free(shown);
}

void
print_result(const PGresult *res, bool footer)
{
	int			nf = PQnfields(res);
	int			nt = PQntuples(res);
	char	  **names = pg_malloc(sizeof(char *) * (nf + 1));
	char	   *align = pg_malloc(nf + 1);
	char	  **cells = pg_malloc(sizeof(char *) * (nt * nf + 1));

	for (int c = 0; c < nf; c++)
	{
		names[c] = PQfname(res, c);
		align[c] = column_type_alignment(PQftype(res, c));
	}
	for (int r = 0; r < nt; r++)
		for (int c = 0; c < nf; c++)
			cells[r * nf + c] = PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
	print_table(nf, names, align, nt, cells, footer);
	pg_free(names);
	pg_free(align);
	pg_free(cells);
}

void
print_rows(int ncols, const char *const *names, int nrows, char *const *cells, bool footer)
{
	char	  **headers = pg_malloc(sizeof(char *) * ncols);
	char	   *align = pg_malloc(ncols);

	/* (print.h checks the encoding of headers in place: copies) */
	for (int c = 0; c < ncols; c++)
	{
		headers[c] = pg_strdup(names[c]);
		align[c] = 'l';
	}
	print_table(ncols, headers, align, nrows, cells, footer);
	for (int c = 0; c < ncols; c++)
		pg_free(headers[c]);
	pg_free(headers);
	pg_free(align);
}

/* ---- JSON ---- */

void
print_json_object(const PGresult *res)
{
	if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0))
		fputs("null\n", stdout);
	else
		printf("%s\n", PQgetvalue(res, 0, 0));
}

void
print_json_array(const PGresult *res)
{
	int			nt = PQntuples(res);

	if (nt == 0)
	{
		fputs("[]\n", stdout);
		return;
	}
	fputs("[", stdout);
	for (int r = 0; r < nt; r++)
		printf("%s\n  %s", r ? "," : "", PQgetvalue(res, r, 0));
	fputs("\n]\n", stdout);
}

/* ---- server errors ---- */

/* detail without the "In element N of specs." that issue_bulk adds. */
static char *
strip_element_note(const char *detail)
{
	char	   *s = pg_strdup(detail);
	char	   *p = strstr(s, "In element ");

	if (p != NULL && strstr(p, " of specs.") != NULL)
	{
		while (p > s && p[-1] == ' ')
			p--;
		*p = '\0';
	}
	return s;
}

/* The DETAIL, HINT and SQLSTATE lines of a server error, to b. */
static void
append_error_fields(PQExpBuffer b, const PGresult *res, const char *where)
{
	const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);

	if (detail != NULL)
	{
		char	   *d = where ? strip_element_note(detail) : pg_strdup(detail);

		if (d[0] != '\0')
			appendPQExpBuffer(b, "\nDETAIL:  %s", d);
		pg_free(d);
	}
	if (hint != NULL)
		appendPQExpBuffer(b, "\nHINT:  %s", hint);
	else if (sqlstate != NULL && strcmp(sqlstate, "3F000") == 0 && strstr(primary, "apikey"))
		appendPQExpBuffer(b, "\nHINT:  Is the apikey extension installed in database \"%s\"?  "
						  "(CREATE EXTENSION apikey)", PQdb(conn));
	if (sqlstate != NULL)
		appendPQExpBuffer(b, "\nSQLSTATE: %s", sqlstate);
}

int
report_server_error(const PGresult *res, const char *where)
{
	const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *severity = res ? PQresultErrorField(res, PG_DIAG_SEVERITY) : NULL;
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	PQExpBufferData b;

	if (primary == NULL)
	{
		/* no error from the server: the connection or libpq failed */
		const char *msg = PQerrorMessage(conn);

		pg_log_error("%s", *msg ? msg : "unknown error");
		return PQstatus(conn) == CONNECTION_BAD ? EXIT_CONNECT : EXIT_SERVER;
	}

	initPQExpBuffer(&b);
	appendPQExpBuffer(&b, "%s%s%s:  %s", where ? where : "", where ? ": " : "",
					  severity ? severity : "ERROR", primary);
	append_error_fields(&b, res, where);
	pg_log_info("%s", b.data);
	termPQExpBuffer(&b);

	if (sqlstate != NULL && strcmp(sqlstate, "42704") == 0 &&
		strncmp(primary, "API key ", 8) == 0)
		return EXIT_NOT_FOUND;
	return EXIT_SERVER;
}
