/*-------------------------------------------------------------------------
 *
 * topframe.c
 *	  pg_apikey top: one frame, laid out for the terminal: the lines that
 *	  sum up the server first (rates, this hour, the worker, the buckets),
 *	  then tables of keys, owners and addresses.  When the terminal is too
 *	  short, the tables lose rows, then the last tables go; when it is too
 *	  narrow, tables drop their least important columns and cut their
 *	  texts, and lines are cut, never wrapped.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <time.h>

#include "pg_apikey.h"

typedef struct TopTable
{
	const char *title;
	TopQuery	query;
	const ScreenColumn *cols;
	int			ncols;			/* 0: every column of the result */
	const char *none;			/* said when it has no rows */
} TopTable;

static const ScreenColumn traffic_cols[] = {
	{"prefix", false, 1, 16}, {"requests", true, 2, 0}, {"owner", false, 3, 6},
	{"req/s", true, 4, 0}, {"refused", true, 5, 0}, {"name", false, 6, 6}
};
static const ScreenColumn refused_cols[] = {
	{"prefix", false, 1, 16}, {"refused", true, 2, 0}, {"owner", false, 3, 6},
	{"rate_limited", true, 4, 0}, {"quota_exceeded", true, 5, 0},
	{"denied_auth", true, 6, 0}, {"name", false, 7, 6}
};
static const ScreenColumn owner_cols[] = {
	{"owner", false, 1, 8}, {"requests", true, 2, 0}, {"refused", true, 3, 0},
	{"keys", true, 5, 0}, {"refused%", true, 4, 0}
};
static const ScreenColumn owner_refused_cols[] = {
	{"owner", false, 1, 8}, {"refused", true, 2, 0}, {"rate_limited", true, 3, 0},
	{"quota_exceeded", true, 4, 0}, {"denied_auth", true, 5, 0}
};
static const ScreenColumn quota_cols[] = {
	{"prefix", false, 1, 16}, {"month", true, 2, 0}, {"today", true, 3, 0},
	{"owner", false, 4, 6}, {"month used", true, 6, 0}, {"today used", true, 5, 0},
	{"name", false, 7, 6}
};
static const ScreenColumn address_cols[] = {
	{"address", false, 1, 15}, {"denied", true, 2, 0}, {"prefixes", true, 4, 0},
	{"codes", false, 3, 8}
};
static const ScreenColumn bucket_use_cols[] = {
	{"class", false, 1, 8}, {"buckets", true, 2, 0}, {"role", false, 3, 8},
	{"database", false, 4, 8}
};

/* In the order they are shown; the last ones go first when rows are short. */
static const TopTable tables[] = {
	{"Keys by requests, this hour", TQ_TRAFFIC, traffic_cols, lengthof(traffic_cols),
	"no requests this hour"},
	{"Keys by refusals, this hour", TQ_REFUSED, refused_cols, lengthof(refused_cols),
	"no refusals this hour"},
	{"Owners by requests, this hour", TQ_OWNERS, owner_cols, lengthof(owner_cols),
	"no requests this hour"},
	{"Owners by refusals, this hour", TQ_OWNERS_REFUSED, owner_refused_cols,
	lengthof(owner_refused_cols), "no refusals this hour"},
	{"Quota burn: keys nearest their quota", TQ_QUOTA, quota_cols, lengthof(quota_cols),
	"no live key has a quota"},
	{"Blocked addresses (apikey.blocks)", TQ_BLOCKS, NULL, 0, "none"},
	{"Refused addresses, last 5 minutes (audit_log)", TQ_ADDRESSES, address_cols,
	lengthof(address_cols), "no failed verification with an address"},
	{"Buckets by class and role (apikey.bucket_use)", TQ_BUCKET_USE, bucket_use_cols,
	lengthof(bucket_use_cols), "none"},
};

#define NTABLES lengthof(tables)

static char *
item(const char *fmt,...) pg_attribute_printf(1, 2);

static char *
item(const char *fmt,...)
{
	va_list		ap;
	char		buf[256];		/* a word and a number */

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return pg_strdup(buf);
}

static void
flow_free(Screen *scr, const char *label, int n, char **items)
{
	screen_flow(scr, label, n, items);
	for (int i = 0; i < n; i++)
		pg_free(items[i]);
}

/* ---- the lines at the top ---- */

static void
header_lines(Screen *scr, const TopData *d, const TopView *v)
{
	char	   *items[4];
	int			n = 0;
	time_t		now = time(NULL);
	char		clock[32];

	strftime(clock, sizeof(clock), "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
	items[n++] = item("%s@%s", d->f->user, d->f->dbname);
	items[n++] = item("%s", d->f->admin ? "admin view" : "owner view");
	items[n++] = item("%s", clock);
	if (v->live)
		items[n++] = item("every %.3gs, q quits", v->interval);
	flow_free(scr, "apikey top", n, items);
	if (!d->f->admin)
	{
		char	   *note = psprintf("not an admin: row-level security shows the keys "
									"of role \"%s\" only, and their usage", d->f->user);

		screen_words(scr, "", note);
		pg_free(note);
	}
}

/* A rate from two samples of counter c, per second. */
static double
rate(const TopData *d, TopCounter c)
{
	double		dt = d->cur.at - d->prev.at;

	if (dt <= 0)
		return 0;
	return Max(0, d->cur.counters[c] - d->prev.counters[c]) / dt;
}

static void
rate_lines(Screen *scr, const TopData *d)
{
	char	   *items[6];
	double		refused_limits;

	if (!d->f->stats)
	{
		screen_words(scr, "requests/s", "not shown: apikey.stats is for apikey_admin "
					 "(this hour's average below)");
		return;
	}
	if (!d->prev.valid)
	{
		char	   *later = item("(from the next frame on)");

		flow_free(scr, "requests/s", 1, &later);
		return;
	}
	refused_limits = rate(d, TC_RATE_LIMITED) + rate(d, TC_QUOTA_EXCEEDED) +
		rate(d, TC_OVERLOADED);
	items[0] = item("verified %.1f", rate(d, TC_REQUESTS));
	items[1] = item("admitted %.1f", Max(0, rate(d, TC_VALID) - refused_limits));
	items[2] = item("refused %.1f", refused_limits + rate(d, TC_INVALID));
	items[3] = item("(apikey.stats, last %.1fs)", d->cur.at - d->prev.at);
	flow_free(scr, "requests/s", 4, items);
	items[0] = item("RATE_LIMITED %.1f", rate(d, TC_RATE_LIMITED));
	items[1] = item("QUOTA_EXCEEDED %.1f", rate(d, TC_QUOTA_EXCEEDED));
	items[2] = item("OVERLOADED %.1f", rate(d, TC_OVERLOADED));
	items[3] = item("BLOCKED %.1f", rate(d, TC_BLOCKED));
	items[4] = item("401/403 %.1f", Max(0, rate(d, TC_INVALID) - rate(d, TC_BLOCKED)));
	flow_free(scr, "refused/s", 5, items);
}

/* Failed verifications of the last minute, by code, from audit_log. */
static void
code_lines(Screen *scr, const TopData *d)
{
	const PGresult *res = d->res[TQ_CODES];
	int			n = PQntuples(res);
	char	  **items = pg_malloc(sizeof(char *) * (n + 1));

	for (int r = 0; r < n; r++)
		items[r] = item("%s %s", PQgetvalue(res, r, 0), PQgetvalue(res, r, 1));
	if (n == 0)
		items[n++] = item("none (audit_log)");
	flow_free(scr, "denied/min", n, items);
	pg_free(items);
}

static void
hour_lines(Screen *scr, const TopData *d)
{
	const PGresult *res = d->res[TQ_HOUR];
	char	   *items[8];
	int			n = 0;

#define HOUR_VALUE(c) (PQgetisnull(res, 0, c) ? "0" : PQgetvalue(res, 0, c))
	items[n++] = item("requests %s", HOUR_VALUE(1));
	items[n++] = item("allowed %s", HOUR_VALUE(2));
	items[n++] = item("rate_limited %s", HOUR_VALUE(3));
	items[n++] = item("quota_exceeded %s", HOUR_VALUE(4));
	items[n++] = item("denied_auth %s", HOUR_VALUE(5));
	items[n++] = item("%s/s on average", HOUR_VALUE(6));
	items[n++] = item("keys %s", HOUR_VALUE(0));
#undef HOUR_VALUE
	items[n++] = item("(usage_hourly, since %s UTC)", PQgetvalue(res, 0, 7));
	flow_free(scr, "this hour", n, items);
}

/*
 * The worker, as pg_stat_activity shows it: the end of its last task is
 * when it last wrote (it flushes, then maintains, in one turn), so the
 * usage and events above are that old, plus what came since.
 */
static void
worker_line(Screen *scr, const TopData *d)
{
	const PGresult *res = d->res[TQ_WORKER];
	const char *task;
	double		ago;
	char	   *items[3];
	int			n = 0;

	if (PQntuples(res) == 0)
		items[n++] = item("not running in this database: usage and audit_log here are "
						  "not written");
	else if (PQgetisnull(res, 0, 1))
	{
		char	   *text = psprintf("pid %s (its last flush is shown to members of "
									"pg_read_all_stats)", PQgetvalue(res, 0, 0));

		screen_words(scr, "worker", text);
		pg_free(text);
		return;
	}
	else
	{
		task = PQgetvalue(res, 0, 2);
		ago = atof(PQgetvalue(res, 0, 3));
		if (strcmp(PQgetvalue(res, 0, 1), "active") == 0)
			items[n++] = item("running \"%s\" for %.1fs", task, ago);
		else if (strncmp(task, "flush", 5) == 0)
			items[n++] = item("last flush ended %.1fs ago", ago);
		else
			items[n++] = item("last task \"%s\" ended %.1fs ago", task, ago);
		if (d->f->flush_ms > 0)
			items[n++] = item("flushes every %dms%s", d->f->flush_ms,
							  ago * 1000 > 2 * d->f->flush_ms + 5000 ? ": LATE" : "");
	}
	flow_free(scr, "worker", n, items);
}

/* stats' class columns, as they are called here */
static const char *
class_label(const char *column)
{
	static const char *const labels[][2] = {
		{"key_buckets", "key"}, {"address_buckets", "address"},
		{"named_buckets", "named"}, {"concurrency_slots", "concurrency"},
		{"quota_counters", "quota"}, {"cooldowns", "cooldown"},
	};

	for (int i = 0; i < (int) lengthof(labels); i++)
		if (strcmp(labels[i][0], column) == 0)
			return labels[i][1];
	return NULL;
}

static void
bucket_lines(Screen *scr, const TopData *d)
{
	const TopSample *s = &d->cur;
	char	   *items[TOP_MAX_CLASSES + 2];
	int			n = 0;
	long long	mem_used = -1,
				mem_budget = -1;

	if (!d->f->stats)
		return;
	items[n++] = item("in use %lld of %lld (%.1f%%)", s->counters[TC_BUCKETS],
					  s->counters[TC_CAPACITY],
					  100.0 * s->counters[TC_BUCKETS] / Max(1, s->counters[TC_CAPACITY]));
	for (int i = 0; i < d->f->nclasses; i++)
	{
		const char *label = class_label(d->f->class_names[i]);

		if (label)
			items[n++] = item("%s %lld", label, s->classes[i]);
		else if (strcmp(d->f->class_names[i], "shared_memory_used") == 0)
			mem_used = s->classes[i];
		else
			mem_budget = s->classes[i];
	}
	if (mem_used >= 0 && mem_budget >= 0)
		items[n++] = item("shared memory %.1f MB of %.1f MB", mem_used / 1048576.0,
						  mem_budget / 1048576.0);
	if (d->f->nclasses == 0)
		items[n++] = item("by class: not in this version of apikey");
	flow_free(scr, "buckets", n, items);
}

/* ---- the tables ---- */

/* Every column of a result we know nothing about (apikey.blocks). */
static ScreenColumn *
generic_columns(const PGresult *res)
{
	int			n = PQnfields(res);
	ScreenColumn *cols = pg_malloc0(sizeof(ScreenColumn) * (n + 1));

	for (int c = 0; c < n; c++)
	{
		cols[c].title = PQfname(res, c);
		cols[c].priority = c + 1;
		cols[c].min_width = 8;
	}
	return cols;
}

static void
table_section(Screen *scr, const TopTable *t, const PGresult *res, int rows)
{
	screen_line(scr, "");
	screen_line(scr, t->title);
	if (PQntuples(res) == 0)
	{
		char	   *none = psprintf("  (%s)", t->none);

		screen_line(scr, none);
		pg_free(none);
	}
	else if (t->cols)
		screen_table(scr, t->cols, t->ncols, res, rows);
	else
	{
		ScreenColumn *cols = generic_columns(res);

		screen_table(scr, cols, PQnfields(res), res, rows);
		pg_free(cols);
	}
}

/* The lines that sum the server up, above the tables. */
static void
summary_lines(Screen *scr, const TopData *d, const TopView *v)
{
	header_lines(scr, d, v);
	screen_line(scr, "");
	rate_lines(scr, d);
	code_lines(scr, d);
	hour_lines(scr, d);
	worker_line(scr, d);
	bucket_lines(scr, d);
	if (!d->f->blocks_exist)
		screen_words(scr, "blocked", "not available: this version of apikey has no "
					 "apikey.blocks");
	else if (!d->f->blocks)
		screen_words(scr, "blocked", "apikey.blocks is for apikey_admin");
}

/* The frame with the first ntables tables, rows rows each at most. */
static void
render(Screen *scr, const TopData *d, const TopView *v, int rows, int ntables)
{
	int			shown = 0;

	resetPQExpBuffer(&scr->out);
	scr->lines = 0;
	summary_lines(scr, d, v);
	for (int t = 0; t < (int) NTABLES; t++)
	{
		if (d->res[tables[t].query] == NULL)
			continue;
		if (shown++ == ntables)
		{
			screen_line(scr, "(more below: a taller terminal shows it)");
			break;
		}
		table_section(scr, &tables[t], d->res[tables[t].query], rows);
	}
}

/* A statement failed: what the frame says instead of its data. */
static void
error_frame(Screen *scr, const TopData *d, const TopView *v)
{
	char	   *msg = psprintf("error: %s", d->error);

	header_lines(scr, d, v);
	screen_line(scr, "");
	screen_line(scr, msg);
	if (PQstatus(conn) == CONNECTION_BAD)
		screen_line(scr, "(the connection is lost: trying again at each frame)");
	pg_free(msg);
}

char *
top_frame(const TopData *d, const TopView *v)
{
	Screen		scr;
	int			rows = v->height > 0 ? 5 : 10;
	int			ntables = (int) NTABLES;

	scr.width = Max(v->width, 10);
	initPQExpBuffer(&scr.out);
	if (d->error)
	{
		error_frame(&scr, d, v);
		return scr.out.data;
	}
	render(&scr, d, v, rows, ntables);
	/* too tall: tables of 3 rows, then fewer tables, then fewer rows */
	while (v->height > 0 && scr.lines > v->height && (rows > 1 || ntables > 0))
	{
		if (rows > 3)
			rows--;
		else if (ntables > 1)
			ntables--;
		else if (rows > 1)
			rows--;
		else
			ntables--;
		render(&scr, d, v, rows, ntables);
	}
	return scr.out.data;
}
