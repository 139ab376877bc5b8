/*-------------------------------------------------------------------------
 *
 * pg_apikey.h
 *	  Declarations shared by the files of pg_apikey, the command-line tool
 *	  of the apikey extension.
 *
 * pg_apikey.c	main: global options, the commands, help, usage errors
 * connect.c	the connection, statements, keys looked up on the server
 * issue.c		issue and rotate: the commands that print a new token
 * change.c		update and revoke
 * listing.c	list, show, usage and export
 * bulk.c		bulk-issue and bulk-revoke
 * bulkfile.c	reading and checking bulk-issue and bulk-revoke files
 * input.c		durations, CIDRs, key references, rate limits, expiries
 * json.c		JSON text given by the user, read with libpgcommon's parser
 * output.c		tables (fe_utils/print.h), JSON and CSV text, server errors
 *
 * Memory (pg_malloc), messages (pg_log_*), strings (PQExpBuffer), lists
 * (SimpleStringList) and tables come from PostgreSQL's client libraries.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_APIKEY_H
#define PG_APIKEY_H

#include "common/jsonapi.h"
#include "common/logging.h"
#include "compat.h"
#include "fe_utils/simple_list.h"
#include "libpq-fe.h"
#include "pqexpbuffer.h"

/* Exit codes (documented in doc/pg_apikey.1) */
#define EXIT_OK			0
#define EXIT_USAGE		1		/* bad command line or input file */
#define EXIT_CONNECT	2		/* cannot connect */
#define EXIT_SERVER		3		/* the server reported an error */
#define EXIT_NOT_FOUND	4		/* no such key */

extern const char *const progname;

/* ---- the command line (pg_apikey.c) ---- */

typedef enum PromptMode
{
	PROMPT_DEFAULT,				/* when the server asks for one */
	PROMPT_ALWAYS,				/* -W */
	PROMPT_NEVER				/* -w */
} PromptMode;

/* The options every command takes, before or after its name. */
typedef struct GlobalOptions
{
	const char *dbname;
	const char *host;
	const char *port;
	const char *user;
	PromptMode	prompt;
	bool		json;			/* --json: JSON instead of a table */
} GlobalOptions;

extern GlobalOptions gopts;

/* How a command's own option is kept in its options struct. */
typedef enum OptionKind
{
	OPTION_STRING,				/* const char *: the value */
	OPTION_LIST,				/* SimpleStringList: every value (repeatable) */
	OPTION_FLAG					/* bool: given or not */
} OptionKind;

typedef struct CommandOption
{
	const char *name;			/* --name */
	OptionKind	kind;
	size_t		offset;			/* of its field in the options struct */
} CommandOption;

#define END_OPTIONS {NULL, 0, 0}

typedef struct Command
{
	const char *name;
	/* argv[0] is the command's name; returns the exit code */
	int			(*run) (int argc, char **argv);
	const CommandOption *options;	/* its own, or NULL; the global ones come too */
	int			minargs;		/* arguments after the options */
	int			maxargs;		/* -1: any number */
	const char *usage;
	const char *help;
} Command;

extern const Command issue_command;
extern const Command list_command;
extern const Command show_command;
extern const Command revoke_command;
extern const Command rotate_command;
extern const Command update_command;
extern const Command usage_command;
extern const Command export_command;
extern const Command bulk_issue_command;
extern const Command bulk_revoke_command;

/*
 * Parses the running command's options into opts, the struct its options
 * describe; global options are taken on the way, --help and --version
 * answered, and a bad option or a wrong number of arguments ends the
 * program.  Returns the arguments after the options, *nargs of them.
 */
extern char **parse_command_line(int argc, char **argv, void *opts, int *nargs);

/* "pg_apikey: error: ...", a pointer to --help, and exit 1. */
pg_noreturn extern void usage_error(const char *fmt,...) pg_attribute_printf(1, 2);

/* "pg_apikey: error: ..." on stderr, then exit(code). */
pg_noreturn extern void die(int code, const char *fmt,...) pg_attribute_printf(2, 3);

/*
 * Notes and warnings go out with pg_log_info: "pg_apikey: ..." with no
 * "warning:" tag, as doc/cli.md shows them.
 */

/* ---- the connection and statements (connect.c) ---- */

extern PGconn *conn;

/* Connects as psql does; exits 2 if that fails. */
extern void connect_db(void);

/* A statement with parameters; query() reports an error and exits. */
extern PGresult *query_try(const char *sql, int nparams, const char *const *params);
extern bool query_ok(const PGresult *res);
extern PGresult *query(const char *sql, int nparams, const char *const *params);
/* query(), or with json each row as JSON text (row_to_json) */
extern PGresult *query_rows(const char *sql, int nparams, const char *const *params,
							bool json);
extern void rollback(void);

/* A statement being built: its text and the values of its parameters. */
typedef struct Statement
{
	PQExpBufferData sql;
	const char *params[16];
	int			nparams;
} Statement;

/* Starts a statement with its text so far and the value of $1 (or NULL). */
extern void stmt_init(Statement *st, const char *sql, const char *param1);
/* Appends ", " and fmt with the next $n, for value. */
extern void stmt_arg(Statement *st, const char *fmt, const char *value);
/* Runs it (wrapped in row_to_json if json); reports an error and exits. */
extern PGresult *stmt_run(Statement *st, bool json);

typedef struct Key
{
	char	   *id;
	char	   *prefix;
} Key;

/* A key by id or display prefix, as the caller may see it; else exit 4. */
extern Key	resolve_key(const char *arg);

/* ---- input (input.c) ---- */

/* "7d", "12h", "1d12h", "90m", "30s", "2w" or a number of seconds. */
extern bool parse_duration(const char *s, long long *seconds);
/* A timestamp as the server would take it: starts with YYYY-MM-DD. */
extern bool looks_like_timestamp(const char *s);
/* An IPv4 or IPv6 network, host bits zero; why says what is wrong. */
extern bool valid_cidr(const char *s, const char **why);
/* A whole number within [min, max]. */
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

/* A key argument: exits 1 unless it is an id or a display prefix. */
extern void check_key_arg(const char *arg);

/* "NAME=LIMIT/PERIOD[:BURST]" as a JSON object appended to out. */
extern bool parse_rate_limit(const char *s, PQExpBuffer out, const char **why);

/* Exit 1 unless each is a network. */
extern void check_cidrs(const SimpleStringList *l, const char *option);

/*
 * An expiry: a duration from now (as interval text into *interval) or a
 * timestamp (into *timestamp); exits 1 if it is neither.
 */
extern void parse_expires(const char *s, const char *option, char **interval,
						  const char **timestamp);

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

/* ---- output (output.c) ---- */

/* Frees a string that may have held a secret, overwriting it first. */
extern void wipe_free(char *s);

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
extern int	report_server_error(const PGresult *res, const char *where);

/* ---- bulk files (bulkfile.c) ---- */

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

/* The name of a bulk file in messages: the path, or "stdin" for "-". */
extern const char *file_label(const char *path);

#endif							/* PG_APIKEY_H */
