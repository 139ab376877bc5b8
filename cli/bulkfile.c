/*-------------------------------------------------------------------------
 *
 * bulkfile.c
 *	  pg_apikey: reading the bulk-issue (CSV or JSON lines) and bulk-revoke
 *	  files, and checking every line of them.
 *
 * A file is read and checked whole before the first statement is sent, so
 * a broken line changes nothing on the server: it ends the program with
 * exit code 1, naming the file and the line.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include "mb/pg_wchar.h"
#include "pg_apikey.h"

#define MAX_FILE_SIZE	((size_t) 256 * 1024 * 1024)

static const char *file_name;	/* for messages: the path, or "stdin" */

const char *
file_label(const char *path)
{
	return strcmp(path, "-") == 0 ? "stdin" : path;
}

/* "pg_apikey: error: keys.csv:57: ..." and exit 1: nothing was sent. */
pg_noreturn static void file_error(int line, const char *fmt,...) pg_attribute_printf(2, 3);

static void
file_error(int line, const char *fmt,...)
{
	size_t		len = 256;
	char	   *msg;

	for (;;)
	{
		va_list		ap;
		size_t		needed;

		msg = pg_malloc(len);
		va_start(ap, fmt);
		needed = pvsnprintf(msg, len, fmt, ap);
		va_end(ap);
		if (needed < len)
			break;
		pg_free(msg);
		len = needed;
	}
	pg_log_error("%s:%d: %s", file_name, line, msg);
	pg_log_info("nothing was sent to the server");
	exit(EXIT_USAGE);
}

/* The whole of a file, or of stdin for "-"; exits 1 if unreadable. */
static char *
read_file(const char *path, size_t *len)
{
	bool		use_stdin = strcmp(path, "-") == 0;
	FILE	   *f = use_stdin ? stdin : fopen(path, "rb");
	PQExpBufferData b;
	char		chunk[65536];
	size_t		n;

	if (f == NULL)
		die(EXIT_USAGE, "could not open file \"%s\": %s", path, strerror(errno));
	initPQExpBuffer(&b);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
	{
		appendBinaryPQExpBuffer(&b, chunk, n);
		if (PQExpBufferDataBroken(b))
			die(EXIT_USAGE, "out of memory");
		if (b.len > MAX_FILE_SIZE)
			die(EXIT_USAGE, "file \"%s\" is too large (more than 256 MB)", path);
	}
	if (ferror(f))
		die(EXIT_USAGE, "could not read file \"%s\": %s", path, strerror(errno));
	if (!use_stdin)
		fclose(f);
	if (memchr(b.data, '\0', b.len) != NULL)
		die(EXIT_USAGE, "file \"%s\" is not a text file (it contains a zero byte)",
			file_label(path));
	*len = b.len;
	return b.data;
}

static int
line_of(const char *buf, size_t off)
{
	int			line = 1;

	for (size_t i = 0; i < off; i++)
		if (buf[i] == '\n')
			line++;
	return line;
}

static char *
trim(char *s)
{
	char	   *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return s;
}

/* ---- bulk-issue: the spec of one key ---- */

/* issue()'s arguments, the columns of a CSV file and keys of a JSON line */
typedef enum IssueColumn
{
	COL_OWNER,
	COL_NAME,
	COL_SCOPES,
	COL_TIER,
	COL_EXPIRES_AT,
	COL_ALLOWED_IPS,
	COL_PREFIX,
	COL_ORG,
	COL_METADATA,
	COL_RATE_LIMITS,
	NUM_COLUMNS
} IssueColumn;

static const char *const issue_columns[NUM_COLUMNS] = {
	"owner", "name", "scopes", "tier", "expires_at", "allowed_ips", "prefix",
	"org", "metadata", "rate_limits"
};

#define ISSUE_ARGUMENTS "owner, name, scopes, tier, expires_at, allowed_ips, " \
	"prefix, org, metadata, rate_limits"

/* The column of that name, or -1. */
static int
issue_column(const char *name)
{
	for (int i = 0; i < NUM_COLUMNS; i++)
		if (strcmp(issue_columns[i], name) == 0)
			return i;
	return -1;
}

static void
spec_init(IssueSpec *spec, int line)
{
	memset(spec, 0, sizeof(IssueSpec));
	spec->line = line;
	spec->expires_in = -1;
	initPQExpBuffer(&spec->json);
	appendPQExpBufferChar(&spec->json, '{');
}

/* Room for one more spec in *specs. */
static IssueSpec *
spec_add(IssueSpec **specs, int *n, int *cap, int line)
{
	if (*n == *cap)
	{
		*cap = *cap ? *cap * 2 : 128;
		*specs = pg_realloc(*specs, sizeof(IssueSpec) * *cap);
	}
	spec_init(&(*specs)[*n], line);
	return &(*specs)[(*n)++];
}

/* Starts a member of the spec's JSON: "key": */
static void
spec_member(IssueSpec *spec, const char *key)
{
	if (spec->json.len > 1)
		appendPQExpBufferStr(&spec->json, ", ");
	json_escape(&spec->json, key);
	appendPQExpBufferStr(&spec->json, ": ");
}

static void
spec_string(IssueSpec *spec, const char *column, const char *v)
{
	spec_member(spec, column);
	json_escape(&spec->json, v);
}

static void
spec_expires(IssueSpec *spec, const char *v)
{
	long long	secs;

	if (parse_duration(v, &secs))
		spec->expires_in = secs;
	else if (looks_like_timestamp(v))
		spec_string(spec, "expires_at", v);
	else
		file_error(spec->line, "expires_at: \"%s\" is neither a duration (30d, 12h) "
				   "nor a timestamp (2030-01-31 or 2030-01-31T12:00:00Z)", v);
}

static void
spec_cidr(IssueSpec *spec, const char *v)
{
	const char *why;

	if (!valid_cidr(v, &why))
		file_error(spec->line, "allowed_ips: invalid CIDR \"%s\": %s", v, why);
	json_escape(&spec->json, v);
}

static void
spec_scope(IssueSpec *spec, const char *v)
{
	json_escape(&spec->json, v);
}

static void
spec_rate_limit(IssueSpec *spec, const char *v)
{
	const char *why;

	if (!parse_rate_limit(v, &spec->json, &why))
		file_error(spec->line, "rate_limits: \"%s\": %s", v, why);
}

/* A JSON text from a CSV field: metadata (object) or rate_limits (array). */
static void
spec_json_field(IssueSpec *spec, const char *column, const char *v, JsonTokenType want)
{
	char		err[200];
	JsonDoc		doc;

	if (!json_read(v, strlen(v), &doc, err, sizeof(err)))
		file_error(spec->line, "%s: invalid JSON: %s", column, err);
	if (doc.type != want)
		file_error(spec->line, "%s: expected a JSON %s", column,
				   want == JSON_TOKEN_OBJECT_START ? "object" : "array");
	json_doc_free(&doc);
	spec_member(spec, column);
	appendPQExpBufferStr(&spec->json, v);
}

/* Splits a multi-valued CSV field on ';' and calls add for each part. */
static void
spec_list(IssueSpec *spec, const char *column, char *v,
		  void (*add) (IssueSpec *, const char *))
{
	bool		first = true;

	spec_member(spec, column);
	appendPQExpBufferChar(&spec->json, '[');
	for (char *part = strtok(v, ";"); part; part = strtok(NULL, ";"))
	{
		part = trim(part);
		if (*part == '\0')
			continue;
		if (!first)
			appendPQExpBufferStr(&spec->json, ", ");
		first = false;
		add(spec, part);
	}
	appendPQExpBufferChar(&spec->json, ']');
}

/* ---- bulk-issue: CSV ---- */

typedef struct CsvReader
{
	const char *buf;
	size_t		len;
	size_t		pos;
	int			line;
} CsvReader;

static bool
csv_at(const CsvReader *r, char c)
{
	return r->pos < r->len && r->buf[r->pos] == c;
}

/* Skips blank lines; false at the end of the file. */
static bool
csv_skip_blank_lines(CsvReader *r)
{
	for (;;)
	{
		size_t		p = r->pos;

		while (p < r->len && (r->buf[p] == ' ' || r->buf[p] == '\t' || r->buf[p] == '\r'))
			p++;
		if (p >= r->len)
			return false;
		if (r->buf[p] != '\n')
			return true;
		r->pos = p + 1;
		r->line++;
	}
}

/* A field in double quotes, from its opening quote, into f. */
static void
csv_quoted_field(CsvReader *r, PQExpBuffer f)
{
	int			qline = r->line;

	for (r->pos++;; r->pos++)
	{
		if (r->pos >= r->len)
			file_error(qline, "unterminated quoted field (a '\"' is never closed)");
		if (r->buf[r->pos] == '"')
		{
			if (r->pos + 1 >= r->len || r->buf[r->pos + 1] != '"')
				break;
			r->pos++;			/* "" is one quote */
		}
		else if (r->buf[r->pos] == '\n')
			r->line++;
		appendPQExpBufferChar(f, r->buf[r->pos]);
	}
	r->pos++;
	if (r->pos < r->len && !strchr(",\r\n", r->buf[r->pos]))
	{
		if (qline != r->line)
			file_error(qline, "a quoted field opened on this line runs on to "
					   "line %d and is not closed properly: is a '\"' missing?",
					   r->line);
		file_error(r->line, "unexpected text after a closing quote (a '\"' inside "
				   "a quoted field is written '\"\"')");
	}
}

static void
csv_plain_field(CsvReader *r, PQExpBuffer f)
{
	while (r->pos < r->len && !strchr(",\r\n", r->buf[r->pos]))
	{
		if (r->buf[r->pos] == '"')
			file_error(r->line, "a '\"' inside an unquoted field (quote the whole "
					   "field and write the quote as '\"\"')");
		appendPQExpBufferChar(f, r->buf[r->pos++]);
	}
}

static void
csv_end_of_record(CsvReader *r)
{
	if (csv_at(r, '\r'))
	{
		r->pos++;
		if (r->pos < r->len && r->buf[r->pos] != '\n')
			file_error(r->line, "a carriage return outside a quoted field");
	}
	if (csv_at(r, '\n'))
	{
		r->pos++;
		r->line++;
	}
}

/*
 * The next record into fields (blank lines skipped; *start: the line it
 * starts on); its number of fields, 0 at the end of the file.
 */
static int
csv_record(CsvReader *r, SimpleStringList *fields, int *start)
{
	PQExpBufferData f;
	int			n = 0;

	simple_string_list_destroy(fields);
	fields->head = fields->tail = NULL;
	if (!csv_skip_blank_lines(r))
		return 0;
	*start = r->line;
	initPQExpBuffer(&f);
	for (;;)
	{
		resetPQExpBuffer(&f);
		if (csv_at(r, '"'))
			csv_quoted_field(r, &f);
		else
			csv_plain_field(r, &f);
		simple_string_list_append(fields, f.data);
		n++;
		if (!csv_at(r, ','))
			break;
		r->pos++;
	}
	termPQExpBuffer(&f);
	csv_end_of_record(r);
	return n;
}

/* The header's columns into columns[]; exits 1 if it is not a good one. */
static void
csv_header(const SimpleStringList *fields, int ncolumns, int line, int *columns)
{
	bool		have_owner = false;
	int			i = 0;

	if (ncolumns > NUM_COLUMNS)
		file_error(line, "the header has %d columns; the columns are issue()'s "
				   "arguments: " ISSUE_ARGUMENTS, ncolumns);
	for (SimpleStringListCell *cell = fields->head; cell; cell = cell->next, i++)
	{
		char	   *name = trim(cell->val);

		columns[i] = issue_column(name);
		if (columns[i] < 0)
			file_error(line, "unknown column \"%s\" in the header; the columns are "
					   "issue()'s arguments: " ISSUE_ARGUMENTS, name);
		for (int j = 0; j < i; j++)
			if (columns[j] == columns[i])
				file_error(line, "column \"%s\" appears twice in the header", name);
		if (columns[i] == COL_OWNER)
			have_owner = true;
	}
	if (!have_owner)
		file_error(line, "the header has no \"owner\" column");
}

/* One CSV field into the spec; an empty one means the default. */
static void
csv_spec_field(IssueSpec *spec, int column, char *v)
{
	const char *name = issue_columns[column];

	switch (column)
	{
		case COL_OWNER:
			if (*v == '\0')
				file_error(spec->line, "owner is empty");
			spec->owner = pg_strdup(v);
			spec_string(spec, name, v);
			break;
		case COL_NAME:
			spec->name = pg_strdup(v);
			/* FALLTHROUGH */
		case COL_TIER:
		case COL_PREFIX:
		case COL_ORG:
			if (*v)
				spec_string(spec, name, v);
			break;
		case COL_SCOPES:		/* ';'-separated */
			spec_list(spec, name, v, spec_scope);
			break;
		case COL_EXPIRES_AT:
			v = trim(v);
			if (*v)
				spec_expires(spec, v);
			break;
		case COL_ALLOWED_IPS:	/* ';'-separated */
			if (*trim(v))
				spec_list(spec, name, v, spec_cidr);
			break;
		case COL_METADATA:		/* a JSON object */
			if (*trim(v))
				spec_json_field(spec, name, v, JSON_TOKEN_OBJECT_START);
			break;
		case COL_RATE_LIMITS:	/* JSON, or NAME=LIMIT/PERIOD[:BURST];... */
			v = trim(v);
			if (*v == '[')
				spec_json_field(spec, name, v, JSON_TOKEN_ARRAY_START);
			else if (*v)
				spec_list(spec, name, v, spec_rate_limit);
			break;
	}
}

static IssueSpec *
read_issue_csv(const char *buf, size_t len, int *count)
{
	CsvReader	r = {buf, len, 0, 1};
	SimpleStringList fields = {NULL, NULL};
	int			columns[NUM_COLUMNS];
	int			ncolumns;
	int			nfields;
	int			line;
	IssueSpec  *specs = NULL;
	int			n = 0,
				cap = 0;

	ncolumns = csv_record(&r, &fields, &line);
	if (ncolumns == 0)
		die(EXIT_USAGE, "file \"%s\" is empty", file_name);
	csv_header(&fields, ncolumns, line, columns);

	while ((nfields = csv_record(&r, &fields, &line)) > 0)
	{
		IssueSpec  *spec;
		int			i = 0;

		if (nfields != ncolumns)
			file_error(line, "expected %d field%s, found %d", ncolumns,
					   ncolumns == 1 ? "" : "s", nfields);
		spec = spec_add(&specs, &n, &cap, line);
		for (SimpleStringListCell *cell = fields.head; cell; cell = cell->next)
			csv_spec_field(spec, columns[i++], cell->val);
	}
	*count = n;
	return specs;
}

/* ---- bulk-issue: JSON lines ---- */

static void
jsonl_check_cidrs(IssueSpec *spec, const SimpleStringList *cidrs)
{
	for (SimpleStringListCell *cell = cidrs->head; cell; cell = cell->next)
	{
		const char *why;

		if (!valid_cidr(cell->val, &why))
			file_error(spec->line, "allowed_ips: invalid CIDR \"%s\": %s", cell->val, why);
	}
}

/*
 * Checks a member of a JSON line; false if it is not to be copied into the
 * spec as written (expires_at, which the spec takes in its own way).
 */
static bool
jsonl_member(IssueSpec *spec, int column, const JsonMember *m)
{
	switch (column)
	{
		case COL_OWNER:
			if (m->type != JSON_TOKEN_STRING || m->str[0] == '\0')
				file_error(spec->line, "\"owner\" must be a non-empty string");
			spec->owner = pg_strdup(m->str);
			break;
		case COL_NAME:
		case COL_TIER:
		case COL_PREFIX:
		case COL_ORG:
			if (m->type != JSON_TOKEN_STRING)
				file_error(spec->line, "\"%s\" must be a string", m->name);
			if (column == COL_NAME)
				spec->name = pg_strdup(m->str);
			break;
		case COL_SCOPES:
		case COL_ALLOWED_IPS:
			if (m->type != JSON_TOKEN_ARRAY_START || !m->all_strings)
				file_error(spec->line, "\"%s\" must be an array of strings", m->name);
			if (column == COL_ALLOWED_IPS)
				jsonl_check_cidrs(spec, &m->strings);
			break;
		case COL_EXPIRES_AT:
			if (m->type != JSON_TOKEN_STRING)
				file_error(spec->line, "\"expires_at\" must be a string: a duration "
						   "(30d) or a timestamp (2030-01-31T12:00:00Z)");
			spec_expires(spec, m->str);
			return false;
		case COL_METADATA:
			if (m->type != JSON_TOKEN_OBJECT_START)
				file_error(spec->line, "\"metadata\" must be a JSON object");
			break;
		case COL_RATE_LIMITS:
			if (m->type != JSON_TOKEN_ARRAY_START)
				file_error(spec->line, "\"rate_limits\" must be an array of objects");
			break;
	}
	return true;
}

/* The spec of one JSON line, an object whose keys are issue()'s arguments. */
static void
jsonl_spec(IssueSpec *spec, const JsonDoc *doc)
{
	bool		have_owner = false;

	for (int i = 0; i < doc->nmembers; i++)
	{
		const JsonMember *m = &doc->members[i];
		int			column = issue_column(m->name);

		if (column < 0)
			file_error(spec->line, "unknown key \"%s\"; the keys are issue()'s arguments: "
					   ISSUE_ARGUMENTS, m->name);
		for (int j = 0; j < i; j++)
			if (strcmp(doc->members[j].name, m->name) == 0)
				file_error(spec->line, "key \"%s\" appears twice", m->name);
		if (m->type == JSON_TOKEN_NULL && column != COL_OWNER)
			continue;			/* the default */
		if (column == COL_OWNER)
			have_owner = true;
		if (jsonl_member(spec, column, m))
		{
			spec_member(spec, m->name);
			appendBinaryPQExpBuffer(&spec->json, m->text, m->len);
		}
	}
	if (!have_owner)
		file_error(spec->line, "\"owner\" is missing");
}

static IssueSpec *
read_issue_jsonl(const char *buf, size_t len, int *count)
{
	IssueSpec  *specs = NULL;
	int			n = 0,
				cap = 0;
	int			line = 0;
	size_t		pos = 0;

	while (pos < len)
	{
		const char *start = buf + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t		linelen = nl ? (size_t) (nl - start) : len - pos;
		char		err[200];
		JsonDoc		doc;

		line++;
		pos += linelen + (nl ? 1 : 0);
		if (strspn(start, " \t\r") >= linelen)
			continue;			/* a blank line */
		if (!json_read(start, linelen, &doc, err, sizeof(err)))
			file_error(line, "invalid JSON: %s", err);
		if (doc.type != JSON_TOKEN_OBJECT_START)
			file_error(line, "expected a JSON object (one key per line)");
		jsonl_spec(spec_add(&specs, &n, &cap, line), &doc);
		json_doc_free(&doc);
	}
	*count = n;
	return specs;
}

/* ---- the files ---- */

IssueSpec *
read_issue_file(const char *path, int *count)
{
	size_t		len;
	char	   *buf = read_file(path, &len);
	const char *text = buf;
	const char *first;
	int			valid;
	IssueSpec  *specs = NULL;

	file_name = file_label(path);
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
	{
		text += 3;				/* a byte order mark */
		len -= 3;
	}
	valid = pg_encoding_verifymbstr(PG_UTF8, text, (int) len);
	if (valid < (int) len)
		file_error(line_of(text, valid), "invalid UTF-8 (the file must be UTF-8 text)");

	first = text + strspn(text, " \t\r\n");
	if (*first == '\0')
		die(EXIT_USAGE, "file \"%s\" is empty", file_name);
	if (*first == '{')
		specs = read_issue_jsonl(text, len, count);
	else if (*first == '[')
		file_error(line_of(text, (size_t) (first - text)),
				   "a JSON array is not read: write one JSON object per line "
				   "(JSON lines), or CSV with a header line");
	else
		specs = read_issue_csv(text, len, count);
	pg_free(buf);
	if (*count == 0)
		die(EXIT_USAGE, "file \"%s\" has no keys to issue", file_name);
	return specs;
}

/* The key on one line of a bulk-revoke file, if any, into refs[*n]. */
static void
revoke_line(char *s, int line, RevokeRef **refs, int *n, int *cap)
{
	KeyRefKind	kind;

	if (*s && s[strlen(s) - 1] == '\r')
		s[strlen(s) - 1] = '\0';
	s = trim(s);
	if (*s == '\0' || *s == '#')
		return;
	kind = classify_key_ref(s);
	if (kind == KEYREF_INVALID || kind == KEYREF_TOKEN)
		file_error(line, "%s", key_ref_problem(kind));
	if (*n == *cap)
	{
		*cap = *cap ? *cap * 2 : 256;
		*refs = pg_realloc(*refs, sizeof(RevokeRef) * *cap);
	}
	(*refs)[*n].line = line;
	(*refs)[*n].kind = kind;
	(*refs)[*n].ref = pg_strdup(s);
	(*n)++;
}

RevokeRef *
read_revoke_file(const char *path, int *count)
{
	size_t		len;
	char	   *buf = read_file(path, &len);
	RevokeRef  *refs = NULL;
	int			n = 0,
				cap = 0;
	int			line = 0;
	char	   *next;

	file_name = file_label(path);
	for (char *p = buf; p != NULL; p = next)
	{
		char	   *nl = strchr(p, '\n');

		next = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		if (nl == NULL && *p == '\0')
			break;
		revoke_line(p, ++line, &refs, &n, &cap);
	}
	pg_free(buf);
	if (n == 0)
		die(EXIT_USAGE, "%s has no keys to revoke", file_name);
	*count = n;
	return refs;
}
