/*-------------------------------------------------------------------------
 *
 * output.c
 *	  pg_apikey: messages, strings, aligned tables (psql's default format),
 *	  JSON text and server error reports.
 *
 * Nothing here ever prints a token except print_table/print_json_* on
 * stdout, for the one result that carries it.
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "pg_apikey.h"

/* ---- memory and messages ---- */

void *
xmalloc(size_t size)
{
	void	   *p = malloc(size ? size : 1);

	if (p == NULL)
		die(EXIT_USAGE, "out of memory");
	return p;
}

void *
xrealloc(void *p, size_t size)
{
	p = realloc(p, size ? size : 1);
	if (p == NULL)
		die(EXIT_USAGE, "out of memory");
	return p;
}

char *
xstrdup(const char *s)
{
	size_t		n = strlen(s) + 1;

	return memcpy(xmalloc(n), s, n);
}

/* Frees a string that may have held a secret, overwriting it first. */
void
wipe_free(char *s)
{
	if (s == NULL)
		return;
	for (volatile char *p = s; *p; p++)
		*p = '\0';
	free(s);
}

void
die(int code, const char *fmt,...)
{
	va_list		ap;

	fflush(stdout);
	fprintf(stderr, "%s: error: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

void
usage_error(const char *command, const char *fmt,...)
{
	va_list		ap;

	fflush(stdout);
	fprintf(stderr, "%s: error: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (command)
		fprintf(stderr, "Try \"%s %s --help\" for more information.\n", progname, command);
	else
		fprintf(stderr, "Try \"%s --help\" for more information.\n", progname);
	exit(EXIT_USAGE);
}

void
warn(const char *fmt,...)
{
	va_list		ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- strings ---- */

void
buf_init(Buf *b)
{
	b->cap = 64;
	b->len = 0;
	b->data = xmalloc(b->cap);
	b->data[0] = '\0';
}

static void
buf_reserve(Buf *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	while (b->len + more + 1 > b->cap)
		b->cap *= 2;
	b->data = xrealloc(b->data, b->cap);
}

void
buf_putc(Buf *b, char c)
{
	buf_reserve(b, 1);
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
}

void
buf_putn(Buf *b, const char *s, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_puts(Buf *b, const char *s)
{
	buf_putn(b, s, strlen(s));
}

void
buf_printf(Buf *b, const char *fmt,...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	buf_reserve(b, (size_t) n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t) n;
}

void
buf_reset(Buf *b)
{
	b->len = 0;
	b->data[0] = '\0';
}

void
buf_free(Buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
strlist_add(StrList *l, char *s)
{
	if (l->n == l->cap)
	{
		l->cap = l->cap ? l->cap * 2 : 8;
		l->items = xrealloc(l->items, sizeof(char *) * (size_t) l->cap);
	}
	l->items[l->n++] = s;
}

/* A JSON string literal, quotes included. */
void
json_escape(Buf *b, const char *s)
{
	buf_putc(b, '"');
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		switch (*p)
		{
			case '"':
				buf_puts(b, "\\\"");
				break;
			case '\\':
				buf_puts(b, "\\\\");
				break;
			case '\n':
				buf_puts(b, "\\n");
				break;
			case '\r':
				buf_puts(b, "\\r");
				break;
			case '\t':
				buf_puts(b, "\\t");
				break;
			case '\b':
				buf_puts(b, "\\b");
				break;
			case '\f':
				buf_puts(b, "\\f");
				break;
			default:
				if (*p < 0x20)
					buf_printf(b, "\\u%04x", *p);
				else
					buf_putc(b, (char) *p);
		}
	}
	buf_putc(b, '"');
}

/* A CSV field (RFC 4180): quoted only when it must be. */
void
csv_field(Buf *b, const char *s)
{
	if (s[strcspn(s, ",\"\r\n")] == '\0' && s[0] != ' ' && s[0] != '\0')
	{
		buf_puts(b, s);
		return;
	}
	buf_putc(b, '"');
	for (const char *p = s; *p; p++)
	{
		if (*p == '"')
			buf_putc(b, '"');
		buf_putc(b, *p);
	}
	buf_putc(b, '"');
}

/* A PostgreSQL array literal of the strings: {"a","b"}. */
void
pg_array_literal(Buf *b, char **items, int n)
{
	buf_putc(b, '{');
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			buf_putc(b, ',');
		buf_putc(b, '"');
		for (const char *p = items[i]; *p; p++)
		{
			if (*p == '"' || *p == '\\')
				buf_putc(b, '\\');
			buf_putc(b, *p);
		}
		buf_putc(b, '"');
	}
	buf_putc(b, '}');
}

/* ---- aligned tables ---- */

/* Characters on screen: UTF-8 lead bytes (no wide-character widths). */
static size_t
display_width(const char *s)
{
	size_t		w = 0;

	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
		if ((*p & 0xC0) != 0x80)
			w++;
	return w;
}

/* A cell as shown: control characters written as \n, \t, \x01. */
static char *
cell_text(const char *s)
{
	Buf			b;

	buf_init(&b);
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		if (*p == '\n')
			buf_puts(&b, "\\n");
		else if (*p == '\t')
			buf_puts(&b, "\\t");
		else if (*p == '\r')
			buf_puts(&b, "\\r");
		else if (*p < 0x20 || *p == 0x7F)
			buf_printf(&b, "\\x%02x", *p);
		else
			buf_putc(&b, (char) *p);
	}
	return b.data;
}

static bool
numeric_type(Oid type)
{
	switch (type)
	{
		case 20:				/* int8 */
		case 21:				/* int2 */
		case 23:				/* int4 */
		case 26:				/* oid */
		case 700:				/* float4 */
		case 701:				/* float8 */
		case 790:				/* money */
		case 1700:				/* numeric */
			return true;
		default:
			return false;
	}
}

static void
pad(FILE *f, size_t n)
{
	while (n-- > 0)
		fputc(' ', f);
}

void
print_grid(int ncols, const char *const *names, const bool *right,
		   int nrows, char *const *cells, bool footer)
{
	size_t	   *width = xmalloc(sizeof(size_t) * (size_t) (ncols ? ncols : 1));
	char	  **shown = xmalloc(sizeof(char *) * (size_t) (nrows * ncols + 1));

	for (int c = 0; c < ncols; c++)
		width[c] = display_width(names[c]);
	for (int r = 0; r < nrows; r++)
		for (int c = 0; c < ncols; c++)
		{
			const char *v = cells[r * ncols + c];
			char	   *s = cell_text(v ? v : "");
			size_t		w = display_width(s);

			shown[r * ncols + c] = s;
			if (w > width[c])
				width[c] = w;
		}

	/* header, centred */
	for (int c = 0; c < ncols; c++)
	{
		size_t		w = display_width(names[c]);
		size_t		left = (width[c] - w) / 2;

		if (c > 0)
			fputc('|', stdout);
		fputc(' ', stdout);
		pad(stdout, left);
		fputs(names[c], stdout);
		pad(stdout, width[c] - w - left);
		fputc(' ', stdout);
	}
	fputc('\n', stdout);
	for (int c = 0; c < ncols; c++)
	{
		if (c > 0)
			fputc('+', stdout);
		for (size_t i = 0; i < width[c] + 2; i++)
			fputc('-', stdout);
	}
	fputc('\n', stdout);

	for (int r = 0; r < nrows; r++)
	{
		for (int c = 0; c < ncols; c++)
		{
			const char *s = shown[r * ncols + c];
			size_t		w = display_width(s);

			if (c > 0)
				fputc('|', stdout);
			fputc(' ', stdout);
			if (right[c])
				pad(stdout, width[c] - w);
			fputs(s, stdout);
			if (c < ncols - 1)
			{
				if (!right[c])
					pad(stdout, width[c] - w);
				fputc(' ', stdout);
			}
		}
		fputc('\n', stdout);
	}
	if (footer)
		printf("(%d row%s)\n", nrows, nrows == 1 ? "" : "s");

	for (int i = 0; i < nrows * ncols; i++)
		wipe_free(shown[i]);
	free(shown);
	free(width);
}

void
print_table(const PGresult *res, bool footer)
{
	int			nf = PQnfields(res);
	int			nt = PQntuples(res);
	const char **names = xmalloc(sizeof(char *) * (size_t) (nf ? nf : 1));
	bool	   *right = xmalloc(sizeof(bool) * (size_t) (nf ? nf : 1));
	char	  **cells = xmalloc(sizeof(char *) * (size_t) (nt * nf + 1));

	for (int c = 0; c < nf; c++)
	{
		names[c] = PQfname(res, c);
		right[c] = numeric_type(PQftype(res, c));
	}
	for (int r = 0; r < nt; r++)
		for (int c = 0; c < nf; c++)
			cells[r * nf + c] = PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
	print_grid(nf, names, right, nt, cells, footer);
	free(names);
	free(right);
	free(cells);
}

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

/* Removes the "In element N of specs." that issue_bulk adds. */
static char *
strip_element_note(const char *detail)
{
	char	   *s = xstrdup(detail);
	char	   *p = strstr(s, "In element ");

	if (p != NULL && strstr(p, " of specs.") != NULL)
	{
		while (p > s && p[-1] == ' ')
			p--;
		*p = '\0';
	}
	return s;
}

int
report_server_error(PGconn *conn, const PGresult *res, const char *where)
{
	const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *severity = res ? PQresultErrorField(res, PG_DIAG_SEVERITY) : NULL;
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
	int			code = EXIT_SERVER;

	fflush(stdout);
	if (primary == NULL)
	{
		/* no error from the server: the connection or libpq failed */
		char	   *msg = xstrdup(PQerrorMessage(conn));
		size_t		n = strlen(msg);

		while (n > 0 && msg[n - 1] == '\n')
			msg[--n] = '\0';
		fprintf(stderr, "%s: error: %s\n", progname, n ? msg : "unknown error");
		free(msg);
		return PQstatus(conn) == CONNECTION_BAD ? EXIT_CONNECT : EXIT_SERVER;
	}

	fprintf(stderr, "%s: %s%s%s:  %s\n", progname, where ? where : "",
			where ? ": " : "", severity ? severity : "ERROR", primary);
	if (detail != NULL)
	{
		char	   *d = where ? strip_element_note(detail) : xstrdup(detail);

		if (d[0] != '\0')
			fprintf(stderr, "DETAIL:  %s\n", d);
		free(d);
	}
	if (hint != NULL)
		fprintf(stderr, "HINT:  %s\n", hint);
	else if (sqlstate != NULL && strcmp(sqlstate, "3F000") == 0 && strstr(primary, "apikey"))
		fprintf(stderr, "HINT:  Is the apikey extension installed in database \"%s\"?  "
				"(CREATE EXTENSION apikey)\n", PQdb(conn));
	if (sqlstate != NULL)
		fprintf(stderr, "SQLSTATE: %s\n", sqlstate);

	if (sqlstate != NULL && strcmp(sqlstate, "42704") == 0 &&
		strncmp(primary, "API key ", 8) == 0)
		code = EXIT_NOT_FOUND;
	return code;
}
