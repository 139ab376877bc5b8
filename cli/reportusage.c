/*-------------------------------------------------------------------------
 *
 * reportusage.c
 *	  pg_apikey report: the sections drawn from usage_hourly: requests and
 *	  refusals per hour (or day), latency percentiles per hour, and the top
 *	  endpoints.
 *
 * Percentiles of a bucket come from the sum of its hours' histograms
 * (apikey.latency_sum), never from an average of percentiles.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <math.h>

#include "pg_apikey.h"

/* Colours of the answers, the same in every chart of the report. */
#define C_ALLOWED	"#2f6fb0"
#define C_RATE		"#e08a1e"
#define C_QUOTA		"#c0392b"
#define C_AUTH		"#7d3c98"

/* A row a bucket of the period, empty ones included. */
#define TRAFFIC_SQL REPORT_PERIOD \
	", t AS (SELECT g AS t FROM p," \
	"  pg_catalog.generate_series(p.since, p.last, p.step) AS g)," \
	" b AS (SELECT pg_catalog.date_trunc($3::pg_catalog.text, u.hour) AS t," \
	"  pg_catalog.sum(u.allowed) AS allowed, pg_catalog.sum(u.rate_limited) AS rate_limited," \
	"  pg_catalog.sum(u.quota_exceeded) AS quota_exceeded," \
	"  pg_catalog.sum(u.denied_auth) AS denied_auth," \
	"  apikey.latency_sum(u.latency_hist) AS hist" \
	REPORT_USAGE_FROM REPORT_USAGE_WHERE " GROUP BY 1)" \
	" SELECT EXTRACT(epoch FROM t.t)::pg_catalog.int8," \
	"  coalesce(b.allowed, 0), coalesce(b.rate_limited, 0)," \
	"  coalesce(b.quota_exceeded, 0), coalesce(b.denied_auth, 0)," \
	"  apikey.latency_quantile(b.hist, 0.5), apikey.latency_quantile(b.hist, 0.95)," \
	"  apikey.latency_quantile(b.hist, 0.99)" \
	" FROM t LEFT JOIN b ON b.t = t.t ORDER BY t.t"

static void
traffic_chart(PQExpBuffer b, Chart *c, const PGresult *res, bool hourly)
{
	ChartSeries s[4] = {
		{"allowed", C_ALLOWED, report_column(res, 1), false},
		{"rate_limited: RATE_LIMITED, CONCURRENCY_LIMITED, BLOCKED, OVERLOADED (429/503)",
		C_RATE, report_column(res, 2), false},
		{"quota_exceeded: QUOTA_EXCEEDED (429)", C_QUOTA, report_column(res, 3), false},
		{"denied_auth: REVOKED, EXPIRED, IP_NOT_ALLOWED, INSUFFICIENT_SCOPE (401/403)",
		C_AUTH, report_column(res, 4), false},
	};

	report_section(b, "traffic", hourly ? "Requests and refusals per hour"
				   : "Requests and refusals per day", NULL);
	c->title = "requests and refusals";
	c->nseries = 4;
	c->series = s;
	svg_stacked_bars(b, c);
	report_section_end(b, "check() and check_request() calls that named a stored key, by how "
					   "they were answered.  Failed verifications that named no key are in "
					   "\"Refusals\" below.");
	for (int i = 0; i < 4; i++)
		pg_free(s[i].v);
}

static void
latency_chart(PQExpBuffer b, Chart *c, const PGresult *res, bool hourly)
{
	ChartSeries s[3] = {
		{"p50", "#2e8b57", report_column(res, 5), false},
		{"p95", "#e08a1e", report_column(res, 6), false},
		{"p99", "#c0392b", report_column(res, 7), false},
	};

	report_section(b, "latency", hourly ? "Latency per hour: p50, p95, p99"
				   : "Latency per day: p50, p95, p99", NULL);
	c->title = "latency percentiles in milliseconds";
	c->nseries = 3;
	c->series = s;
	c->y_suffix = " ms";
	svg_lines(b, c);
	report_section_end(b, "From check() to the end of the request's transaction, admitted "
					   "requests only; exact to within 41% (a histogram bucket).  Empty "
					   "buckets have no point.");
	for (int i = 0; i < 3; i++)
		pg_free(s[i].v);
}

void
report_traffic(PQExpBuffer b, const Report *r)
{
	PGresult   *res = report_query(r, TRAFFIC_SQL);
	bool		hourly = strcmp(r->params[2], "hour") == 0;
	Chart		c = {0};

	c.npoints = PQntuples(res);
	c.x = report_column(res, 0);
	c.x_step = hourly ? 3600 : 86400;
	c.time_axis = true;
	traffic_chart(b, &c, res, hourly);
	c.y_suffix = NULL;
	latency_chart(b, &c, res, hourly);
	pg_free(c.x);
	PQclear(res);
}

/* ---- endpoints ---- */

#define ENDPOINTS_SQL REPORT_PERIOD \
	" SELECT pg_catalog.left(e.key, 60) AS endpoint," \
	"  pg_catalog.sum((e.value->>'requests')::pg_catalog.int8) AS requests," \
	"  pg_catalog.sum((e.value->>'allowed')::pg_catalog.int8) AS allowed," \
	"  pg_catalog.sum((e.value->>'requests')::pg_catalog.int8" \
	"   - (e.value->>'allowed')::pg_catalog.int8) AS refused," \
	"  pg_catalog.round(pg_catalog.sum((e.value->>'total_ms')::pg_catalog.numeric)" \
	"   / nullif(pg_catalog.sum((e.value->>'allowed')::pg_catalog.int8), 0), 2)" \
	"   AS \"mean ms\"" \
	REPORT_USAGE_FROM " CROSS JOIN LATERAL pg_catalog.jsonb_each(u.endpoints) AS e" \
	REPORT_USAGE_WHERE " GROUP BY e.key ORDER BY 2 DESC, 1 LIMIT 12"

void
report_endpoints(PQExpBuffer b, const Report *r)
{
	PGresult   *res = report_query(r, ENDPOINTS_SQL);
	int			n = PQntuples(res);

	report_section(b, "endpoints", "Top endpoints", NULL);
	if (n == 0)
		appendPQExpBufferStr(b, "<p class=\"empty\">No request with an endpoint "
							 "(request.path) in this period.</p>\n");
	else
	{
		char	  **labels = pg_malloc(sizeof(char *) * n);
		ChartSeries s[2] = {
			{"allowed", C_ALLOWED, report_column(res, 2), false},
			{"refused", C_RATE, report_column(res, 3), false},
		};
		Chart		c = {0};

		for (int i = 0; i < n; i++)
			labels[i] = PQgetvalue(res, i, 0);
		c.title = "requests per endpoint";
		c.npoints = n;
		c.nseries = 2;
		c.series = s;
		svg_hbars(b, &c, labels);
		html_table(b, res, "endpoint");
		pg_free(labels);
		pg_free(s[0].v);
		pg_free(s[1].v);
	}
	PQclear(res);
	report_section_end(b, "The endpoint is request.path, as PostgREST sets it; requests "
					   "without one are not in this list.  Mean ms is over admitted "
					   "requests.");
}
