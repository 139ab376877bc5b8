/*-------------------------------------------------------------------------
 *
 * pg_apikey.h
 *	  Declarations shared by the files of pg_apikey, the command-line tool
 *	  of the apikey extension.
 *
 * pg_apikey.c	options, help, connection, statements, key arguments
 * commands.c	issue, list, show, revoke, rotate, update, usage, export
 * bulk.c		bulk-issue and bulk-revoke
 * output.c		messages, aligned tables, JSON text, error reports
 * input.c		durations, CIDRs, key references, CSV and key files
 * json.c		JSON text given by the user, read with libpgcommon's parser
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_APIKEY_H
#define PG_APIKEY_H

#include "common/jsonapi.h"
#include "common/logging.h"
#include "fe_utils/simple_list.h"
#include "libpq-fe.h"
#include "pqexpbuffer.h"

/*
 * PostgreSQL 18's c.h defines pg_noreturn, to be written before a
 * declaration; older ones have pg_attribute_noreturn() only, which GCC and
 * Clang take in that place too.
 */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

/* Exit codes (documented in doc/pg_apikey.1) */
#define EXIT_OK			0
#define EXIT_USAGE		1		/* bad command line or input file */
#define EXIT_CONNECT	2		/* cannot connect */
#define EXIT_SERVER		3		/* the server reported an error */
#define EXIT_NOT_FOUND	4		/* no such key */

extern const char *const progname;

/* ---- messages (output.c) ---- */
extern void wipe_free(char *s);

/* "pg_apikey: error: ..." on stderr, then exit(code) */
pg_noreturn extern void die(int code, const char *fmt,...) pg_attribute_printf(2, 3);
/* A usage error: the message, a pointer to --help, exit 1. */
pg_noreturn extern void usage_error(const char *command, const char *fmt,...) pg_attribute_printf(2, 3);

/*
 * Notes and warnings go out with pg_log_info: "pg_apikey: ..." with no
 * "warning:" tag, as doc/cli.md shows them.
 */

/* ---- the command line and the connection (pg_apikey.c) ---- */

typedef enum PromptMode
{
	PROMPT_DEFAULT,				/* when the server asks for one */
	PROMPT_ALWAYS,				/* -W */
	PROMPT_NEVER				/* -w */
} PromptMode;

typedef struct Options
{
	/* connection */
	const char *dbname;
	const char *host;
	const char *port;
	const char *user;
	PromptMode	prompt;
	bool		json;

	/* commands */
	const char *owner;
	const char *name;
	const char *tier;
	const char *expires;
	const char *prefix;
	const char *org;
	const char *metadata;
	const char *status;
	const char *reason;
	const char *grace;
	const char *days;
	const char *format;
	bool		dry_run;
	SimpleStringList scopes;
	SimpleStringList allow_ips;
	SimpleStringList rate_limits;
	SimpleStringList sets;

	/* positional arguments after the command */
	int			npos;
	char	  **pos;
} Options;

extern Options opts;
extern PGconn *conn;

extern void connect_db(void);

/* A statement with parameters; query() reports an error and exits. */
extern PGresult *query_try(const char *sql, int nparams, const char *const *params);
extern bool query_ok(const PGresult *res);
extern PGresult *query(const char *sql, int nparams, const char *const *params);
extern void rollback(void);

/* Appends ", <fmt with $n>" to sql and value to params. */
extern void add_arg(PQExpBuffer sql, const char **params, int *n, const char *fmt, const char *value);
/* SELECT row_to_json(r) FROM (sql) AS r */
extern char *sql_json(const char *sql);

/* A key argument: exits 1 unless it is an id or a display prefix. */
extern void check_key_arg(const char *arg);

typedef struct Key
{
	char	   *id;
	char	   *prefix;
} Key;

/* A key by id or display prefix, as the caller may see it; else exit 4. */
extern Key	resolve_key(const char *arg);

/* The result of issue or rotate, the token's one appearance, and a warning. */
extern int	print_new_token(PGresult *res);

/* Exit 1 unless each is a network; an expiry as interval or timestamp text. */
extern void check_cidrs(const SimpleStringList *l, const char *option);
extern void parse_expires(const char *s, const char *option, char **interval,
						  const char **timestamp);

/* ---- the commands (commands.c, bulk.c) ---- */
extern int	cmd_issue(void);
extern int	cmd_list(void);
extern int	cmd_show(void);
extern int	cmd_revoke(void);
extern int	cmd_rotate(void);
extern int	cmd_update(void);
extern int	cmd_usage(void);
extern int	cmd_export(void);
extern int	cmd_bulk_issue(void);
extern int	cmd_bulk_revoke(void);

/* ---- output (output.c) ---- */
extern void json_escape(PQExpBuffer b, const char *s);
extern void csv_field(PQExpBuffer b, const char *s);
/* A PostgreSQL array literal of the strings: {a,b}. */
extern void array_literal(PQExpBuffer b, const SimpleStringList *l);

/* psql's aligned format; footer adds "(N rows)" */
extern void print_result(const PGresult *res, bool footer);
/* The same for cells[row * ncols + col], all aligned left. */
extern void print_rows(int ncols, const char *const *names, int nrows,
					   char *const *cells, bool footer);

/* Column 0 of each row is JSON text: one object, or an array of them. */
extern void print_json_object(const PGresult *res);
extern void print_json_array(const PGresult *res);

/*
 * Reports a failed command: "pg_apikey: ERROR:  message", DETAIL, HINT and
 * SQLSTATE lines; where names the input line the error is about, or NULL.
 * Returns the exit code (3, 4 for an unknown key, 2 if the connection is
 * gone).
 */
extern int	report_server_error(PGconn *conn, const PGresult *res, const char *where);

/* ---- input (input.c) ---- */

/* "7d", "12h", "1d12h", "90m", "30s", "2w" or a number of seconds. */
extern bool parse_duration(const char *s, long long *seconds);
/* A timestamp as the server would take it: starts with YYYY-MM-DD. */
extern bool looks_like_timestamp(const char *s);
/* An IPv4 or IPv6 network, host bits zero; why says what is wrong. */
extern bool valid_cidr(const char *s, const char **why);
/* A positive integer within [min, max]. */
extern bool parse_int(const char *s, long long min, long long max, long long *out);

/* What a key argument is: a UUID, a display prefix, or neither. */
typedef enum KeyRefKind
{
	KEYREF_INVALID,
	KEYREF_ID,
	KEYREF_PREFIX,
	KEYREF_TOKEN				/* a whole token: refused, never echoed */
} KeyRefKind;

extern KeyRefKind classify_key_ref(const char *s);
extern const char *key_ref_problem(KeyRefKind kind);

/* "NAME=LIMIT/PERIOD[:BURST]" as a JSON object appended to out. */
extern bool parse_rate_limit(const char *s, PQExpBuffer out, const char **why);

/* ---- JSON given by the user (json.c) ---- */

/*
 * A JSON text, read with libpgcommon's parser.  type is the top level's:
 * JSON_TOKEN_OBJECT_START for an object, JSON_TOKEN_ARRAY_START for an
 * array, or the scalar's token type.  An object's members are listed.
 */
typedef struct JsonMember
{
	char	   *name;			/* decoded */
	JsonTokenType type;			/* as JsonDoc's */
	const char *text;			/* the value as written, in the input */
	size_t		len;
	char	   *str;			/* a string's value, decoded; else NULL */
	bool		all_strings;	/* an array whose elements are all strings */
	SimpleStringList strings;	/* and their values, decoded */
} JsonMember;

typedef struct JsonDoc
{
	JsonTokenType type;
	int			nmembers;
	JsonMember *members;
} JsonDoc;

/* Reads text (all of it); false with a message in err if it is not JSON. */
extern bool json_read(const char *text, size_t len, JsonDoc *doc,
					  char *err, size_t errlen);
extern void json_doc_free(JsonDoc *doc);

/* ---- input files (input.c) ---- */

/* The whole of a file, or of stdin for "-"; exits 1 if unreadable. */
extern char *read_file(const char *path, size_t *len);

/* One key to issue, read from a bulk-issue file. */
typedef struct IssueSpec
{
	int			line;			/* where it starts in the file */
	PQExpBufferData json;		/* members so far: '{' "owner": ... */
	long long	expires_in;		/* expires_at given as a duration, or -1 */
	char	   *owner;
	char	   *name;
} IssueSpec;

/*
 * Reads a bulk-issue file (CSV with a header line, or JSON lines); any
 * broken line ends the program with exit code 1, naming file and line.
 */
extern IssueSpec *read_issue_file(const char *path, int *count);

/* One key to revoke, from a bulk-revoke file. */
typedef struct RevokeRef
{
	int			line;
	KeyRefKind	kind;
	char	   *ref;
} RevokeRef;

extern RevokeRef *read_revoke_file(const char *path, int *count);

#endif							/* PG_APIKEY_H */
