/*-------------------------------------------------------------------------
 *
 * report.c
 *	  pg_apikey report --html: a usage report in one HTML file that needs
 *	  nothing else to open (no network, no script): requests and refusals
 *	  per hour, latency percentiles, quota burn-down, top endpoints, the
 *	  most refused keys with their codes, and the key inventory.
 *
 * This file: the command, the page around the sections, its header (who
 * ran it, over what period, what row-level security let it see) and the
 * summary at the top.  The sections are in reportusage.c and
 * reportkeys.c.  Every query runs in one read-only snapshot, in UTC.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <math.h>
#include <unistd.h>

#include "pg_apikey.h"

typedef struct ReportOptions
{
	const char *html;
	const char *owner;
	const char *since;
} ReportOptions;

/* usage_hourly is kept 400 days by default; a little more is allowed */
#define MAX_SINCE	(3660LL * 86400)
/* longer than this, the charts have a bar a day instead of an hour */
#define HOURLY_UP_TO (14LL * 86400)

PGresult *
report_query(const Report *r, const char *sql)
{
	return query(sql, 3, r->params);
}

void
report_section(PQExpBuffer b, const char *id, const char *title, const char *intro)
{
	appendPQExpBuffer(b, "<section id=\"%s\">\n<h2>", id);
	html_escape(b, title);
	appendPQExpBufferStr(b, "</h2>\n");
	if (intro)
	{
		appendPQExpBufferStr(b, "<p class=\"note\">");
		html_escape(b, intro);
		appendPQExpBufferStr(b, "</p>\n");
	}
}

void
report_section_end(PQExpBuffer b, const char *note)
{
	if (note)
	{
		appendPQExpBufferStr(b, "<p class=\"note\">");
		html_escape(b, note);
		appendPQExpBufferStr(b, "</p>\n");
	}
	appendPQExpBufferStr(b, "</section>\n");
}

double *
report_column(const PGresult *res, int col)
{
	int			n = PQntuples(res);
	double	   *v = pg_malloc(sizeof(double) * (n + 1));

	for (int i = 0; i < n; i++)
		v[i] = PQgetisnull(res, i, col) ? NAN : strtod(PQgetvalue(res, i, col), NULL);
	return v;
}

/* ---- the header ---- */

#define SUMMARY_SQL REPORT_PERIOD \
	" SELECT pg_catalog.to_char(p.since, 'YYYY-MM-DD HH24:MI')," \
	"  pg_catalog.to_char(pg_catalog.now(), 'YYYY-MM-DD HH24:MI')," \
	"  pg_catalog.pg_has_role('apikey_admin', 'MEMBER'), CURRENT_USER," \
	"  pg_catalog.current_database()," \
	"  (SELECT pg_catalog.count(*) FROM apikey.key_list AS k" \
	"    WHERE k.status IN ('active', 'rotating')" \
	"     AND (p.owner IS NULL OR k.owner = p.owner))," \
	"  (SELECT coalesce(pg_catalog.sum(u.requests), 0)" REPORT_USAGE_FROM REPORT_USAGE_WHERE ")," \
	"  (SELECT coalesce(pg_catalog.sum(u.requests - u.allowed), 0)" \
	REPORT_USAGE_FROM REPORT_USAGE_WHERE ")," \
	"  (SELECT pg_catalog.round(coalesce(100.0 * pg_catalog.sum(u.requests - u.allowed)" \
	"    / nullif(pg_catalog.sum(u.requests), 0), 0), 2)" \
	REPORT_USAGE_FROM REPORT_USAGE_WHERE ")," \
	"  (SELECT pg_catalog.round(apikey.latency_quantile(apikey.latency_sum(u.latency_hist)," \
	"    0.95)::pg_catalog.numeric, 1)" REPORT_USAGE_FROM REPORT_USAGE_WHERE ")," \
	"  (SELECT coalesce(pg_catalog.sum(u.cost_units), 0)" REPORT_USAGE_FROM REPORT_USAGE_WHERE ")" \
	" FROM p"

static void
card(PQExpBuffer b, const char *value, const char *label)
{
	appendPQExpBufferStr(b, "<div class=\"card\"><b>");
	html_escape(b, value);
	appendPQExpBufferStr(b, "</b><span>");
	html_escape(b, label);
	appendPQExpBufferStr(b, "</span></div>\n");
}

/* Who ran the report and what it could see. */
static void
header_notice(PQExpBuffer b, const Report *r)
{
	if (r->admin && r->owner == NULL)
		return;
	appendPQExpBufferStr(b, "<p class=\"notice\">");
	if (!r->admin)
	{
		appendPQExpBufferStr(b, "Made by role <b>");
		html_escape(b, r->user);
		appendPQExpBufferStr(b, "</b>, not a member of apikey_admin: row-level security showed it "
							 "only its own keys and their usage, and no request that named no "
							 "key.");
	}
	if (r->owner)
	{
		appendPQExpBufferStr(b, r->admin ? "" : " ");
		appendPQExpBufferStr(b, "Only the keys of owner <b>");
		html_escape(b, r->owner);
		appendPQExpBufferStr(b, "</b>.");
	}
	appendPQExpBufferStr(b, "</p>\n");
}

static void
report_header(PQExpBuffer b, Report *r)
{
	PGresult   *res = report_query(r, SUMMARY_SQL);
	char	   *p95;

	r->admin = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
	r->user = pg_strdup(PQgetvalue(res, 0, 3));
	r->dbname = pg_strdup(PQgetvalue(res, 0, 4));
	appendPQExpBufferStr(b, "<header>\n<h1>API usage report</h1>\n<p class=\"meta\">");
	appendPQExpBufferStr(b, "From ");
	html_escape(b, PQgetvalue(res, 0, 0));
	appendPQExpBufferStr(b, " to ");
	html_escape(b, PQgetvalue(res, 0, 1));
	appendPQExpBufferStr(b, " UTC &middot; database ");
	html_escape(b, r->dbname);
	appendPQExpBufferStr(b, " &middot; made by ");
	html_escape(b, r->user);
	appendPQExpBuffer(b, " with pg_apikey %s</p>\n", APIKEY_VERSION);
	header_notice(b, r);
	appendPQExpBufferStr(b, "</header>\n<div class=\"cards\">\n");
	card(b, PQgetvalue(res, 0, 6), "requests");
	card(b, PQgetvalue(res, 0, 7), "refused");
	p95 = psprintf("%s%%", PQgetvalue(res, 0, 8));
	card(b, p95, "of requests refused");
	pg_free(p95);
	p95 = PQgetisnull(res, 0, 9) ? pg_strdup("-") : psprintf("%s ms", PQgetvalue(res, 0, 9));
	card(b, p95, "p95 latency");
	pg_free(p95);
	card(b, PQgetvalue(res, 0, 10), "cost units");
	card(b, PQgetvalue(res, 0, 5), "live keys (active or rotating)");
	appendPQExpBufferStr(b, "</div>\n");
	PQclear(res);
}

/* ---- the command ---- */

/* Writes the page to path ("-": stdout), whole or not at all. */
static void
write_page(const char *path, const PQExpBufferData *page)
{
	char	   *tmp;
	FILE	   *f;

	if (strcmp(path, "-") == 0)
	{
		if (fwrite(page->data, 1, page->len, stdout) != page->len || fflush(stdout) != 0)
			die(EXIT_USAGE, "could not write the report: %m");
		return;
	}
	tmp = psprintf("%s.tmp", path);
	f = fopen(tmp, "w");
	if (f == NULL)
		die(EXIT_USAGE, "could not open \"%s\": %m", tmp);
	if (fwrite(page->data, 1, page->len, f) != page->len || fclose(f) != 0)
	{
		unlink(tmp);
		die(EXIT_USAGE, "could not write \"%s\": %m", tmp);
	}
	if (rename(tmp, path) != 0)
	{
		unlink(tmp);
		die(EXIT_USAGE, "could not rename \"%s\" to \"%s\": %m", tmp, path);
	}
	pg_free(tmp);
}

static void
read_report_options(int argc, char **argv, ReportOptions *o, Report *r)
{
	long long	since = 7 * 86400;
	int			nargs;

	parse_command_line(argc, argv, o, &nargs);
	if (o->html == NULL)
		usage_error("report needs --html FILE (or --html - for stdout)");
	if (o->html[0] == '\0')
		usage_error("--html must not be empty");
	if (o->since && (!parse_duration(o->since, &since) || since < 3600 || since > MAX_SINCE))
		usage_error("invalid --since \"%s\": expected a duration from 1h to 3660d, "
					"such as 24h, 7d or 4w", o->since);
	if (o->owner && o->owner[0] == '\0')
		usage_error("--owner must not be empty");
	if (gopts.json)
		usage_error("report has no JSON output; pg_apikey usage --json has the numbers");
	r->params[0] = psprintf("%lld seconds", since);
	r->params[1] = o->owner;
	r->params[2] = since > HOURLY_UP_TO ? "day" : "hour";
	r->owner = o->owner;
}

static int
cmd_report(int argc, char **argv)
{
	ReportOptions o = {0};
	Report		r = {0};
	PQExpBufferData page;

	read_report_options(argc, argv, &o, &r);
	connect_db();
	/* (no apikey here: SQLSTATE 3F000, which comes with a hint) */
	PQclear(query("SELECT pg_catalog.has_schema_privilege('apikey', 'USAGE')", 0, NULL));
	PQclear(query("SELECT pg_catalog.set_config('TimeZone', 'UTC', false)", 0, NULL));
	/* one snapshot for every section */
	PQclear(query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL));
	initPQExpBuffer(&page);
	html_page_start(&page, "API usage report");
	report_header(&page, &r);
	report_traffic(&page, &r);
	report_quota(&page, &r);
	report_endpoints(&page, &r);
	report_refused(&page, &r);
	report_inventory(&page, &r);
	appendPQExpBufferStr(&page, "<p class=\"note\">Times are UTC. Keys are named by their display "
						 "prefix; no token is stored anywhere, nor shown here.</p>\n");
	html_page_end(&page);
	rollback();
	if (PQExpBufferBroken(&page))
		die(EXIT_USAGE, "out of memory");
	write_page(o.html, &page);
	termPQExpBuffer(&page);
	return EXIT_OK;
}

static const CommandOption report_options[] = {
	{"html", OPTION_STRING, offsetof(ReportOptions, html)},
	{"owner", OPTION_STRING, offsetof(ReportOptions, owner)},
	{"since", OPTION_STRING, offsetof(ReportOptions, since)},
	END_OPTIONS
};

const Command report_command = {
	"report", cmd_report, report_options, 0, 0,
	"report --html=FILE [--owner=OWNER] [--since=DURATION]",
	"Writes a usage report as one HTML file that opens anywhere, with no\n"
	"network: requests and refusals per hour, latency p50/p95/p99, quota\n"
	"burn-down per key, top endpoints, the most refused keys with their codes,\n"
	"and the key inventory.  Run as an owner, it shows what row-level security\n"
	"lets it see, and says so.\n"
	"\n"
	"Options:\n"
	"      --html=FILE            where to write it (- for stdout)\n"
	"      --owner=OWNER          only this owner's keys\n"
	"      --since=DURATION       the period, up to now (default 7d); past 14d, the\n"
	"                             charts have a bar a day instead of an hour\n"
};
