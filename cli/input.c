/*-------------------------------------------------------------------------
 *
 * input.c
 *	  pg_apikey: checking what the user gives before anything reaches the
 *	  server — durations, CIDRs, key references, rate limits — and reading
 *	  the bulk-issue (CSV or JSON lines) and bulk-revoke files.
 *
 * A file is read and checked whole before the first statement is sent, so
 * a broken line changes nothing on the server.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <arpa/inet.h>
#include <ctype.h>

#include "mb/pg_wchar.h"
#include "pg_apikey.h"

#define MAX_DURATION	(100LL * 366 * 86400)	/* a century */
#define MAX_FILE_SIZE	((size_t) 256 * 1024 * 1024)

/* ---- scalars ---- */

bool
parse_duration(const char *s, long long *seconds)
{
	long long	total = 0;
	const char *p = s;

	if (*p == '\0')
		return false;
	while (*p)
	{
		long long	n = 0;
		long long	unit;

		if (!isdigit((unsigned char) *p))
			return false;
		while (isdigit((unsigned char) *p))
		{
			n = n * 10 + (*p++ - '0');
			if (n > MAX_DURATION)
				return false;
		}
		switch (*p)
		{
			case '\0':
				/* a bare number is seconds, alone only */
				if (p != s + strspn(s, "0123456789"))
					return false;
				unit = 1;
				break;
			case 's':
				unit = 1;
				break;
			case 'm':
				unit = 60;
				break;
			case 'h':
				unit = 3600;
				break;
			case 'd':
				unit = 86400;
				break;
			case 'w':
				unit = 7 * 86400;
				break;
			default:
				return false;
		}
		if (*p)
			p++;
		total += n * unit;
		if (total > MAX_DURATION)
			return false;
	}
	*seconds = total;
	return true;
}

bool
looks_like_timestamp(const char *s)
{
	static const char shape[] = "dddd-dd-dd";

	for (int i = 0; shape[i]; i++)
	{
		if (shape[i] == 'd' ? !isdigit((unsigned char) s[i]) : s[i] != shape[i])
			return false;
	}
	return strlen(s) < 64;
}

bool
parse_int(const char *s, long long min, long long max, long long *out)
{
	long long	n = 0;

	if (*s == '\0')
		return false;
	for (const char *p = s; *p; p++)
	{
		if (!isdigit((unsigned char) *p))
			return false;
		if (n > (max - (*p - '0')) / 10)
			return false;		/* would pass max, or overflow */
		n = n * 10 + (*p - '0');
	}
	if (n < min)
		return false;
	*out = n;
	return true;
}

bool
valid_cidr(const char *s, const char **why)
{
	char		addr[64];
	const char *slash = strchr(s, '/');
	size_t		alen = slash ? (size_t) (slash - s) : strlen(s);
	int			family = memchr(s, ':', alen) ? AF_INET6 : AF_INET;
	int			maxbits = family == AF_INET6 ? 128 : 32;
	unsigned char bytes[16];
	long long	bits = maxbits;

	if (alen == 0 || alen >= sizeof(addr))
	{
		*why = "expected an IPv4 or IPv6 network such as 203.0.113.0/24 or 2001:db8::/32";
		return false;
	}
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(family, addr, bytes) != 1)
	{
		*why = "expected an IPv4 or IPv6 network such as 203.0.113.0/24 or 2001:db8::/32";
		return false;
	}
	if (slash && !parse_int(slash + 1, 0, maxbits, &bits))
	{
		*why = family == AF_INET6 ? "the prefix length must be a number from 0 to 128"
			: "the prefix length must be a number from 0 to 32";
		return false;
	}
	for (int i = 0; i < maxbits; i++)
	{
		if (i >= bits && (bytes[i / 8] & (0x80 >> (i % 8))))
		{
			*why = "it has bits set to the right of the mask (write the network address, e.g. 10.0.0.0/8)";
			return false;
		}
	}
	return true;
}

/* ---- key references ---- */

static bool
is_uuid(const char *s)
{
	size_t		n = strlen(s);

	if (n == 32)
		return strspn(s, "0123456789abcdefABCDEF") == 32;
	if (n != 36)
		return false;
	for (size_t i = 0; i < 36; i++)
	{
		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (s[i] != '-')
				return false;
		}
		else if (!isxdigit((unsigned char) s[i]))
			return false;
	}
	return true;
}

static bool
is_base62(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isascii((unsigned char) s[i]) || !isalnum((unsigned char) s[i]))
			return false;
	return true;
}

/* [a-z][a-z0-9]{0,15} ( _ [a-z0-9]{1,16} ){0,2}, the token prefix */
static bool
is_token_prefix(const char *s, size_t n)
{
	size_t		i = 0;
	int			groups = 0;

	if (n == 0 || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (;;)
	{
		size_t		start;

		if (groups > 0)
			i++;				/* the '_' */
		start = i;
		while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
			i++;
		if (i == start || i - start > 16)
			return false;
		if (i == n)
			return true;
		if (s[i] != '_' || ++groups > 2)
			return false;
	}
}

KeyRefKind
classify_key_ref(const char *s)
{
	const char *us = strrchr(s, '_');
	size_t		tail;

	if (is_uuid(s))
		return KEYREF_ID;
	if (us == NULL)
		return KEYREF_INVALID;
	tail = strlen(us + 1);
	if (!is_token_prefix(s, (size_t) (us - s)) || !is_base62(us + 1, tail))
		return KEYREF_INVALID;
	if (tail == 8)
		return KEYREF_PREFIX;
	if (tail == 38)
		return KEYREF_TOKEN;
	return KEYREF_INVALID;
}

const char *
key_ref_problem(KeyRefKind kind)
{
	if (kind == KEYREF_TOKEN)
		return "that is a whole token, not a display prefix: give the display prefix "
			"(the prefix and the first 8 characters after it) or the key id, "
			"and keep tokens off command lines";
	return "expected a key id (a UUID) or a display prefix such as ak_live_AbCd1234";
}

/* ---- rate limits ---- */

bool
parse_rate_limit(const char *s, PQExpBuffer out, const char **why)
{
	const char *eq = strchr(s, '=');
	const char *slash;
	const char *colon;
	char	   *name;
	char	   *part;
	long long	limit,
				period,
				burst = -1;

	*why = "expected NAME=LIMIT/PERIOD[:BURST], e.g. minute=100/1m:20";
	if (eq == NULL || eq == s)
		return false;
	slash = strchr(eq, '/');
	if (slash == NULL)
		return false;
	colon = strchr(slash, ':');

	name = pnstrdup(s, (size_t) (eq - s));
	part = pnstrdup(eq + 1, (size_t) (slash - eq - 1));
	if (!parse_int(part, 1, 2147483647, &limit))
	{
		*why = "the LIMIT of a rate limit must be a whole number from 1 to 2147483647";
		goto bad;
	}
	free(part);
	part = colon ? pnstrdup(slash + 1, (size_t) (colon - slash - 1)) : pg_strdup(slash + 1);
	if (!parse_duration(part, &period) || period <= 0)
	{
		*why = "the PERIOD of a rate limit must be a duration such as 1s, 1m, 1h or 1d";
		goto bad;
	}
	if (colon && !parse_int(colon + 1, 1, 2147483647, &burst))
	{
		*why = "the BURST of a rate limit must be a whole number from 1 to 2147483647";
		goto bad;
	}
	appendPQExpBufferStr(out, "{\"name\": ");
	json_escape(out, name);
	appendPQExpBuffer(out, ", \"limit\": %lld, \"period\": %lld", limit, period);
	if (burst > 0)
		appendPQExpBuffer(out, ", \"burst\": %lld", burst);
	appendPQExpBufferChar(out, '}');
	free(name);
	free(part);
	return true;

bad:
	free(name);
	free(part);
	return false;
}

/* ---- files ---- */

char *
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
			use_stdin ? "stdin" : path);
	*len = b.len;
	return b.data;
}

static const char *file_name;	/* for messages: the path, or "stdin" */

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

static int
line_of(const char *buf, size_t off)
{
	int			line = 1;

	for (size_t i = 0; i < off; i++)
		if (buf[i] == '\n')
			line++;
	return line;
}

/* ---- bulk-issue: the spec of one key ---- */

static const char *const issue_columns[] = {
	"owner", "name", "scopes", "tier", "expires_at", "allowed_ips", "prefix",
	"org", "metadata", "rate_limits", NULL
};

static int
issue_column(const char *name)
{
	for (int i = 0; issue_columns[i]; i++)
		if (strcmp(issue_columns[i], name) == 0)
			return i;
	return -1;
}

static void
spec_member(IssueSpec *spec, const char *key)
{
	if (spec->json.len > 1)
		appendPQExpBufferStr(&spec->json, ", ");
	json_escape(&spec->json, key);
	appendPQExpBufferStr(&spec->json, ": ");
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

static void
spec_expires(IssueSpec *spec, const char *v)
{
	long long	secs;

	if (parse_duration(v, &secs))
		spec->expires_in = secs;
	else if (looks_like_timestamp(v))
	{
		spec_member(spec, "expires_at");
		json_escape(&spec->json, v);
	}
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

static void
spec_init(IssueSpec *spec, int line)
{
	memset(spec, 0, sizeof(IssueSpec));
	spec->line = line;
	spec->expires_in = -1;
	initPQExpBuffer(&spec->json);
	appendPQExpBufferChar(&spec->json, '{');
}

/* ---- bulk-issue: CSV ---- */

typedef struct CsvReader
{
	const char *buf;
	size_t		len;
	size_t		pos;
	int			line;
} CsvReader;

/*
 * The next record into fields; false at the end of the file.  *start is the
 * line it starts on.  Blank lines are skipped.
 */
static int
csv_record(CsvReader *r, SimpleStringList *fields, int *start)
{
	int			n = 0;

	simple_string_list_destroy(fields);
	fields->head = fields->tail = NULL;

	/* blank lines */
	for (;;)
	{
		size_t		p = r->pos;

		while (p < r->len && (r->buf[p] == ' ' || r->buf[p] == '\t' || r->buf[p] == '\r'))
			p++;
		if (p < r->len && r->buf[p] == '\n')
		{
			r->pos = p + 1;
			r->line++;
			continue;
		}
		if (p >= r->len)
			return 0;
		break;
	}
	*start = r->line;

	for (;;)
	{
		PQExpBufferData f;

		initPQExpBuffer(&f);
		if (r->pos < r->len && r->buf[r->pos] == '"')
		{
			int			qline = r->line;

			r->pos++;
			for (;;)
			{
				if (r->pos >= r->len)
					file_error(qline, "unterminated quoted field (a '\"' is never closed)");
				if (r->buf[r->pos] == '"')
				{
					if (r->pos + 1 < r->len && r->buf[r->pos + 1] == '"')
					{
						appendPQExpBufferChar(&f, '"');
						r->pos += 2;
						continue;
					}
					r->pos++;
					break;
				}
				if (r->buf[r->pos] == '\n')
					r->line++;
				appendPQExpBufferChar(&f, r->buf[r->pos++]);
			}
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
		else
		{
			while (r->pos < r->len && !strchr(",\r\n", r->buf[r->pos]))
			{
				if (r->buf[r->pos] == '"')
					file_error(r->line, "a '\"' inside an unquoted field (quote the whole "
							   "field and write the quote as '\"\"')");
				appendPQExpBufferChar(&f, r->buf[r->pos++]);
			}
		}
		simple_string_list_append(fields, f.data);
		termPQExpBuffer(&f);
		n++;
		if (r->pos < r->len && r->buf[r->pos] == ',')
		{
			r->pos++;
			continue;
		}
		if (r->pos < r->len && r->buf[r->pos] == '\r')
		{
			r->pos++;
			if (r->pos < r->len && r->buf[r->pos] != '\n')
				file_error(r->line, "a carriage return outside a quoted field");
		}
		if (r->pos < r->len && r->buf[r->pos] == '\n')
		{
			r->pos++;
			r->line++;
		}
		return n;
	}
}

static IssueSpec *
read_issue_csv(const char *buf, size_t len, int *count)
{
	CsvReader	r = {buf, len, 0, 1};
	SimpleStringList fields = {NULL, NULL};
	SimpleStringListCell *cell;
	int			columns[16];
	int			ncolumns;
	int			nfields;
	int			line;
	bool		have_owner = false;
	IssueSpec  *specs = NULL;
	int			n = 0,
				cap = 0;

	ncolumns = csv_record(&r, &fields, &line);
	if (ncolumns == 0)
		die(EXIT_USAGE, "file \"%s\" is empty", file_name);
	if (ncolumns > 10)
		file_error(line, "the header has %d columns; the columns are issue()'s "
				   "arguments: owner, name, scopes, tier, expires_at, allowed_ips, "
				   "prefix, org, metadata, rate_limits", ncolumns);
	cell = fields.head;
	for (int i = 0; i < ncolumns; i++, cell = cell->next)
	{
		char	   *name = trim(cell->val);

		columns[i] = issue_column(name);
		if (columns[i] < 0)
			file_error(line, "unknown column \"%s\" in the header; the columns are "
					   "issue()'s arguments: owner, name, scopes, tier, expires_at, "
					   "allowed_ips, prefix, org, metadata, rate_limits", name);
		for (int j = 0; j < i; j++)
			if (columns[j] == columns[i])
				file_error(line, "column \"%s\" appears twice in the header", name);
		if (columns[i] == 0)
			have_owner = true;
	}
	if (!have_owner)
		file_error(line, "the header has no \"owner\" column");

	while ((nfields = csv_record(&r, &fields, &line)) > 0)
	{
		IssueSpec  *spec;

		if (nfields != ncolumns)
			file_error(line, "expected %d field%s, found %d", ncolumns,
					   ncolumns == 1 ? "" : "s", nfields);
		if (n == cap)
		{
			cap = cap ? cap * 2 : 128;
			specs = pg_realloc(specs, sizeof(IssueSpec) * (size_t) cap);
		}
		spec = &specs[n++];
		spec_init(spec, line);
		cell = fields.head;
		for (int i = 0; i < ncolumns; i++, cell = cell->next)
		{
			char	   *v = cell->val;
			const char *column = issue_columns[columns[i]];

			switch (columns[i])
			{
				case 0:			/* owner */
					if (*v == '\0')
						file_error(line, "owner is empty");
					spec->owner = pg_strdup(v);
					spec_member(spec, column);
					json_escape(&spec->json, v);
					break;
				case 1:			/* name */
					spec->name = pg_strdup(v);
					/* FALLTHROUGH */
				case 3:			/* tier */
				case 6:			/* prefix */
				case 7:			/* org */
					if (*v == '\0')
						break;
					spec_member(spec, column);
					json_escape(&spec->json, v);
					break;
				case 2:			/* scopes, ';'-separated */
					spec_list(spec, column, v, spec_scope);
					break;
				case 4:			/* expires_at */
					v = trim(v);
					if (*v)
						spec_expires(spec, v);
					break;
				case 5:			/* allowed_ips, ';'-separated */
					if (*trim(v))
						spec_list(spec, column, v, spec_cidr);
					break;
				case 8:			/* metadata: a JSON object */
					if (*trim(v))
						spec_json_field(spec, column, v, JSON_TOKEN_OBJECT_START);
					break;
				case 9:			/* rate_limits: JSON, or NAME=LIMIT/PERIOD[:BURST];... */
					v = trim(v);
					if (*v == '[')
						spec_json_field(spec, column, v, JSON_TOKEN_ARRAY_START);
					else if (*v)
						spec_list(spec, column, v, spec_rate_limit);
					break;
			}
		}
	}
	*count = n;
	return specs;
}

/* ---- bulk-issue: JSON lines ---- */

/* The allowed_ips of a JSON line: exit 1 unless each is a network. */
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

static void
jsonl_spec(IssueSpec *spec, const JsonDoc *doc)
{
	bool		have_owner = false;

	for (int i = 0; i < doc->nmembers; i++)
	{
		const JsonMember *m = &doc->members[i];
		const char *key = m->name;
		int			column = issue_column(key);

		if (column < 0)
			file_error(spec->line, "unknown key \"%s\"; the keys are issue()'s arguments: "
					   "owner, name, scopes, tier, expires_at, allowed_ips, prefix, "
					   "org, metadata, rate_limits", key);
		for (int j = 0; j < i; j++)
			if (strcmp(doc->members[j].name, key) == 0)
				file_error(spec->line, "key \"%s\" appears twice", key);
		if (m->type == JSON_TOKEN_NULL && column != 0)
			continue;			/* the default */

		switch (column)
		{
			case 0:				/* owner */
				if (m->type != JSON_TOKEN_STRING || m->str[0] == '\0')
					file_error(spec->line, "\"owner\" must be a non-empty string");
				spec->owner = pg_strdup(m->str);
				have_owner = true;
				break;
			case 1:
			case 3:
			case 6:
			case 7:
				if (m->type != JSON_TOKEN_STRING)
					file_error(spec->line, "\"%s\" must be a string", key);
				if (column == 1)
					spec->name = pg_strdup(m->str);
				break;
			case 2:				/* scopes */
			case 5:				/* allowed_ips */
				if (m->type != JSON_TOKEN_ARRAY_START || !m->all_strings)
					file_error(spec->line, "\"%s\" must be an array of strings", key);
				if (column == 5)
					jsonl_check_cidrs(spec, &m->strings);
				break;
			case 4:				/* expires_at */
				if (m->type != JSON_TOKEN_STRING)
					file_error(spec->line, "\"expires_at\" must be a string: a duration "
							   "(30d) or a timestamp (2030-01-31T12:00:00Z)");
				spec_expires(spec, m->str);
				continue;		/* added by spec_expires */
			case 8:				/* metadata */
				if (m->type != JSON_TOKEN_OBJECT_START)
					file_error(spec->line, "\"metadata\" must be a JSON object");
				break;
			case 9:				/* rate_limits */
				if (m->type != JSON_TOKEN_ARRAY_START)
					file_error(spec->line, "\"rate_limits\" must be an array of objects");
				break;
		}
		/* the value as written: the server reads it as jsonb */
		spec_member(spec, key);
		appendBinaryPQExpBuffer(&spec->json, m->text, m->len);
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
		size_t		blank;

		line++;
		pos += linelen + (nl ? 1 : 0);
		blank = strspn(start, " \t\r");
		if (blank >= linelen)
			continue;
		if (!json_read(start, linelen, &doc, err, sizeof(err)))
			file_error(line, "invalid JSON: %s", err);
		if (doc.type != JSON_TOKEN_OBJECT_START)
			file_error(line, "expected a JSON object (one key per line)");
		if (n == cap)
		{
			cap = cap ? cap * 2 : 128;
			specs = pg_realloc(specs, sizeof(IssueSpec) * (size_t) cap);
		}
		spec_init(&specs[n], line);
		jsonl_spec(&specs[n], &doc);
		json_doc_free(&doc);
		n++;
	}
	*count = n;
	return specs;
}

IssueSpec *
read_issue_file(const char *path, int *count)
{
	size_t		len;
	char	   *buf = read_file(path, &len);
	const char *text = buf;
	const char *first;
	int			bad;
	IssueSpec  *specs = NULL;

	file_name = strcmp(path, "-") == 0 ? "stdin" : path;
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
	{
		text += 3;				/* a byte order mark */
		len -= 3;
	}
	bad = pg_encoding_verifymbstr(PG_UTF8, text, (int) len);
	if (bad < (int) len)
		file_error(line_of(text, bad), "invalid UTF-8 (the file must be UTF-8 text)");

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
	free(buf);
	if (*count == 0)
		die(EXIT_USAGE, "file \"%s\" has no keys to issue", file_name);
	return specs;
}

/* ---- bulk-revoke ---- */

RevokeRef *
read_revoke_file(const char *path, int *count)
{
	size_t		len;
	char	   *buf = read_file(path, &len);
	RevokeRef  *refs = NULL;
	int			n = 0,
				cap = 0;
	int			line = 0;
	char	   *save;

	file_name = strcmp(path, "-") == 0 ? "stdin" : path;
	for (char *p = buf; p != NULL; p = save)
	{
		char	   *nl = strchr(p, '\n');
		char	   *s;
		KeyRefKind	kind;

		save = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		if (nl == NULL && *p == '\0')
			break;
		line++;
		s = p;
		if (*s && s[strlen(s) - 1] == '\r')
			s[strlen(s) - 1] = '\0';
		s = trim(s);
		if (*s == '\0' || *s == '#')
			continue;
		kind = classify_key_ref(s);
		if (kind == KEYREF_INVALID || kind == KEYREF_TOKEN)
			file_error(line, "%s", key_ref_problem(kind));
		if (n == cap)
		{
			cap = cap ? cap * 2 : 256;
			refs = pg_realloc(refs, sizeof(RevokeRef) * (size_t) cap);
		}
		refs[n].line = line;
		refs[n].kind = kind;
		refs[n].ref = pg_strdup(s);
		n++;
	}
	free(buf);
	if (n == 0)
		die(EXIT_USAGE, "%s has no keys to revoke", strcmp(path, "-") == 0 ? "stdin" : path);
	*count = n;
	return refs;
}
