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
 * top.c		top: the live view, its loop and its keys
 * topdata.c	what top reads from the server, once a frame
 * topframe.c	a frame of top, laid out for the terminal's size
 * screen.c		text for a terminal: lines cut to a width, flowing items, tables
 * terminal.c	the terminal: size, raw mode, alternate screen, signals
 * report.c		report --html: the command, the page, its header and summary
 * reportusage.c	the report's traffic, latency and endpoint sections
 * reportkeys.c	the report's quota, refusal and key inventory sections
 * html.c		HTML: escaping, the page and its style sheet, tables
 * svg.c		the report's charts, as inline SVG
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
/*
 * The failed verifications an access event (audit_log action 'denied', as
 * "a") stands for: the server writes one row per key or address, code and
 * apikey.denied_audit_window, with their count.
 */
#define AK_SQL_DENIED_COUNT \
	"pg_catalog.sum(coalesce((a.detail->>'count')::pg_catalog.int8, 1))"

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
extern const Command top_command;
extern const Command report_command;

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

/* ---- the terminal (terminal.c) ---- */

/* Raw mode and the alternate screen; false if stdin or stdout is no tty. */
extern bool terminal_start(void);
extern void terminal_end(void);
/* The signal (SIGINT, SIGTERM, ...) that asked top to stop, or 0. */
extern int	terminal_stop_signal(void);
extern int	terminal_wait_key(int ms);
extern bool terminal_resized(void);
/* Columns and rows (0: no limit) to draw in. */
extern void terminal_size(int *cols, int *rows);
extern void terminal_draw(const char *frame);

/* ---- text for a terminal (screen.c) ---- */

typedef struct Screen
{
	int			width;			/* in display columns */
	int			lines;			/* written so far */
	PQExpBufferData out;
} Screen;

typedef struct ScreenColumn
{
	const char *title;
	bool		right;			/* a number: aligned right, never cut */
	int			priority;		/* 1 to ncols; the highest goes first */
	int			min_width;		/* a text may be cut down to this */
} ScreenColumn;

extern char *screen_clean(const char *s);
extern int	screen_width(const char *s);
extern void screen_put(PQExpBuffer b, const char *s, int width, bool pad, bool right);
extern void screen_line(Screen *scr, const char *text);
extern void screen_flow(Screen *scr, const char *label, int nitems, char *const *items);
extern void screen_words(Screen *scr, const char *label, const char *text);
extern void screen_table(Screen *scr, const ScreenColumn *cols, int ncols,
						 const PGresult *res, int maxrows);

/* ---- what top reads (topdata.c) ---- */

/* apikey.stats' columns that top reads, in this order */
typedef enum TopCounter
{
	TC_REQUESTS,
	TC_VALID,
	TC_INVALID,
	TC_RATE_LIMITED,
	TC_QUOTA_EXCEEDED,
	TC_BLOCKED,
	TC_OVERLOADED,
	TC_BUCKETS,
	TC_CAPACITY,
	TOP_NCOUNTERS
} TopCounter;

#define TOP_MAX_CLASSES 8

typedef struct TopFeatures
{
	bool		admin;			/* member of apikey_admin (or superuser) */
	bool		stats;			/* may read apikey.stats */
	bool		read_all_stats; /* sees the worker's timings */
	bool		blocks;			/* apikey.blocks exists, readable */
	bool		blocks_exist;	/* readable or not */
	bool		bucket_use;		/* apikey.bucket_use exists, readable */
	int			flush_ms;		/* apikey.flush_interval, or 0 */
	char	   *user;
	char	   *dbname;
	int			nclasses;		/* stats' columns by bucket class */
	const char *class_names[TOP_MAX_CLASSES];
	PQExpBufferData stats_sql;
} TopFeatures;

typedef struct TopSample
{
	bool		valid;
	double		at;				/* seconds, monotonic */
	long long	counters[TOP_NCOUNTERS];
	long long	classes[TOP_MAX_CLASSES];
} TopSample;

/* The queries of a frame, each a result in TopData */
typedef enum TopQuery
{
	TQ_HOUR,
	TQ_WORKER,
	TQ_TRAFFIC,
	TQ_REFUSED,
	TQ_OWNERS,
	TQ_OWNERS_REFUSED,
	TQ_QUOTA,
	TQ_CODES,
	TQ_ADDRESSES,
	TQ_BUCKET_USE,
	TQ_BLOCKS,
	TQ_COUNT
} TopQuery;

typedef struct TopData
{
	TopFeatures *f;
	TopSample	prev;			/* the counters a frame ago */
	TopSample	cur;
	PGresult   *res[TQ_COUNT];	/* NULL: not run */
	char	   *error;			/* a statement failed: its message */
	PGresult   *error_res;
} TopData;

extern void top_features(TopFeatures *f);
extern bool top_read(TopData *d);
extern bool top_failed(TopData *d, PGresult *res);

/* ---- a frame of top (topframe.c) ---- */

typedef struct TopView
{
	int			width;
	int			height;			/* 0: no limit */
	double		interval;		/* seconds between frames */
	bool		live;			/* on a terminal, as opposed to --once */
} TopView;

/* The frame's text, lines ended by newlines; the caller frees it. */
extern char *top_frame(const TopData *d, const TopView *v);

/* ---- HTML (html.c) ---- */

extern void html_escape(PQExpBuffer b, const char *s);
extern void html_page_start(PQExpBuffer b, const char *title);
extern void html_page_end(PQExpBuffer b);
/* A result as a table, every cell escaped; see html.c for the styles. */
extern void html_table(PQExpBuffer b, const PGresult *res, const char *monospace);

/* ---- charts (svg.c) ---- */

typedef struct ChartSeries
{
	const char *name;
	const char *color;			/* a CSS colour */
	double	   *v;				/* a value a point; NAN: none */
	bool		dashed;
} ChartSeries;

typedef struct Chart
{
	const char *title;			/* for screen readers */
	int			npoints;		/* at least 1 */
	double	   *x;				/* ascending */
	double		x_step;			/* bars: the width of one, in x's units */
	bool		time_axis;		/* x are Unix times, shown in UTC */
	const char *x_prefix;		/* else the labels of x: "day 3" */
	const char *y_suffix;		/* "%", " ms" */
	double		y_max;			/* the top of the y axis; 0: from the data */
	int			nseries;
	ChartSeries *series;
	double		x_min;			/* set by the drawing */
	double		x_max;
} Chart;

extern void svg_stacked_bars(PQExpBuffer b, Chart *c);
extern void svg_lines(PQExpBuffer b, Chart *c);
extern void svg_hbars(PQExpBuffer b, Chart *c, char *const *labels);

/* ---- the usage report (report.c, reportusage.c, reportkeys.c) ---- */

typedef struct Report
{
	/* $1 the period (an interval), $2 the owner or NULL, $3 hour or day */
	const char *params[3];
	const char *owner;
	bool		admin;
	char	   *user;
	char	   *dbname;
} Report;

/*
 * Every query of the report starts with this: p.since and p.last are the
 * first and the last bucket (hours, or days for a long period), p.step
 * one bucket, p.owner the owner asked for.  Times are UTC (the session's
 * TimeZone).
 */
#define REPORT_PERIOD \
	"WITH p AS (SELECT pg_catalog.date_trunc($3::pg_catalog.text," \
	"   pg_catalog.now() - $1::pg_catalog.interval) AS since," \
	"  pg_catalog.date_trunc($3::pg_catalog.text, pg_catalog.now()) AS last," \
	"  ('1 ' || $3::pg_catalog.text)::pg_catalog.interval AS step," \
	"  $2::pg_catalog.text AS owner)"

/* usage_hourly's rows of the period, with their key (k), for an owner */
#define REPORT_USAGE_FROM \
	" FROM apikey.usage_hourly AS u JOIN apikey.key_list AS k ON k.id = u.key_id" \
	" CROSS JOIN p"
#define REPORT_USAGE_WHERE \
	" WHERE u.hour >= p.since AND (p.owner IS NULL OR k.owner = p.owner)"

extern PGresult *report_query(const Report *r, const char *sql);
/* <section> with its title, and its end */
extern void report_section(PQExpBuffer b, const char *id, const char *title,
						   const char *intro);
extern void report_section_end(PQExpBuffer b, const char *note);
/* A column of a result as numbers (NAN for NULL), pg_malloc'd. */
extern double *report_column(const PGresult *res, int col);

extern void report_traffic(PQExpBuffer b, const Report *r);
extern void report_endpoints(PQExpBuffer b, const Report *r);
extern void report_quota(PQExpBuffer b, const Report *r);
extern void report_refused(PQExpBuffer b, const Report *r);
extern void report_inventory(PQExpBuffer b, const Report *r);

#endif							/* PG_APIKEY_H */
