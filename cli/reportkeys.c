/*-------------------------------------------------------------------------
 *
 * reportkeys.c
 *	  pg_apikey report: the sections about keys: quota burn-down this
 *	  month, the most refused keys with their codes (and the refusals that
 *	  named no key), and the key inventory.
 *
 * Quota counts are read from key_list (which keeps them live), quotas
 * from the key or else its tier; the burn-down curve is the cost units of
 * usage_hourly added up day by day, which is what a monthly quota counts.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <math.h>

#include "pg_apikey.h"

#define BURN_KEYS	8			/* curves in the burn-down chart */

static const char *const palette[BURN_KEYS] = {
	"#2f6fb0", "#c0392b", "#2e8b57", "#e08a1e", "#7d3c98", "#16a2b8", "#8c564b", "#d6399a"
};

/* The live keys with a quota, their counts, and the month's pace. */
#define QUOTA_CTE REPORT_PERIOD \
	", q AS (SELECT k.id, k.prefix, k.owner, k.name," \
	"  coalesce(k.daily_quota, t.daily_quota) AS dq," \
	"  CASE WHEN k.usage_day = pg_catalog.now()::pg_catalog.date" \
	"   THEN k.daily_usage ELSE 0 END AS du," \
	"  coalesce(k.monthly_quota, t.monthly_quota) AS mq," \
	"  CASE WHEN k.usage_month = pg_catalog.date_trunc('month', pg_catalog.now())::pg_catalog.date" \
	"   THEN k.monthly_usage ELSE 0 END AS mu" \
	"  FROM apikey.key_list AS k LEFT JOIN apikey.tiers AS t ON t.name = k.tier CROSS JOIN p" \
	"  WHERE k.status IN ('active', 'rotating') AND (p.owner IS NULL OR k.owner = p.owner))," \
	" m AS (SELECT pg_catalog.date_trunc('month', pg_catalog.now()) AS start," \
	"  EXTRACT(day FROM pg_catalog.date_trunc('month', pg_catalog.now())" \
	"   + '1 month -1 day'::pg_catalog.interval)::pg_catalog.int4 AS days," \
	"  EXTRACT(day FROM pg_catalog.now())::pg_catalog.int4 AS today)"

/* Cumulative units a day this month, of the keys nearest their monthly quota. */
#define BURN_SQL QUOTA_CTE \
	", top AS (SELECT q.id, q.prefix, q.mq FROM q WHERE q.mq > 0" \
	"  ORDER BY q.mu::pg_catalog.numeric / q.mq DESC, q.prefix LIMIT " CppAsString2(BURN_KEYS) ")," \
	" d AS (SELECT u.key_id, EXTRACT(day FROM u.hour)::pg_catalog.int4 AS day," \
	"  pg_catalog.sum(u.cost_units) AS units FROM apikey.usage_hourly AS u, m" \
	"  WHERE u.hour >= m.start AND u.key_id IN (SELECT id FROM top) GROUP BY 1, 2)" \
	" SELECT top.prefix, top.mq, g.day, m.days," \
	"  pg_catalog.sum(coalesce(d.units, 0)) OVER" \
	"   (PARTITION BY top.id ORDER BY g.day) AS used" \
	" FROM top CROSS JOIN m CROSS JOIN pg_catalog.generate_series(1, m.today) AS g(day)" \
	" LEFT JOIN d ON d.key_id = top.id AND d.day = g.day" \
	" ORDER BY top.prefix, g.day"

#define QUOTA_TABLE_SQL QUOTA_CTE \
	", e AS (SELECT EXTRACT(epoch FROM pg_catalog.now() - m.start)" \
	"  / (86400.0 * m.days) AS elapsed FROM m)" \
	" SELECT q.prefix, q.owner, coalesce(q.name, '') AS name," \
	"  coalesce(q.du || ' of ' || q.dq, '') AS today," \
	"  pg_catalog.round(100.0 * q.du / nullif(q.dq, 0), 1) AS \"today %\"," \
	"  coalesce(q.mu || ' of ' || q.mq, '') AS \"this month\"," \
	"  pg_catalog.round(100.0 * q.mu / nullif(q.mq, 0), 1) AS \"month %\"," \
	"  pg_catalog.round(100.0 * q.mu / nullif(q.mq, 0) / e.elapsed, 0)" \
	"   AS \"month end at this pace %\"," \
	"  coalesce(CASE WHEN q.mu > 0 AND q.mu / e.elapsed > q.mq" \
	"   THEN pg_catalog.to_char(m.start + (pg_catalog.now() - m.start)" \
	"    * (q.mq::pg_catalog.float8 / q.mu), 'Mon DD HH24:MI') END, '') AS \"runs out\"" \
	" FROM q, e, m WHERE q.dq IS NOT NULL OR q.mq IS NOT NULL" \
	" ORDER BY greatest(q.du::pg_catalog.numeric / nullif(q.dq, 0)," \
	"  q.mu::pg_catalog.numeric / nullif(q.mq, 0)) DESC NULLS LAST, q.prefix" \
	" LIMIT 50"

/* The burn-down of one key (rows first..first+ndays-1): used, then pace. */
static void
burn_series(const PGresult *res, int first, int ndays, int days, ChartSeries *used,
			ChartSeries *pace)
{
	double		quota = strtod(PQgetvalue(res, first, 1), NULL);
	double		now_left = 0;

	used->v = pg_malloc(sizeof(double) * days);
	pace->v = pg_malloc(sizeof(double) * days);
	for (int d = 0; d < days; d++)
	{
		used->v[d] = pace->v[d] = NAN;
		if (d < ndays)
			used->v[d] = Max(0, 100.0 * (1 - strtod(PQgetvalue(res, first + d, 4), NULL) / quota));
	}
	now_left = used->v[ndays - 1];
	/* straight on at this month's pace, from today to the month's end */
	for (int d = ndays - 1; d < days; d++)
		pace->v[d] = Max(0, 100 - (100 - now_left) * (d + 1) / ndays);
}

static void
burn_chart(PQExpBuffer b, const PGresult *res)
{
	int			n = PQntuples(res);
	int			days = atoi(PQgetvalue(res, 0, 3));
	ChartSeries s[2 * BURN_KEYS];
	double		x[31];
	Chart		c = {0};
	int			first = 0;

	for (int d = 0; d < days; d++)
		x[d] = d + 1;
	while (first < n && c.nseries < 2 * BURN_KEYS)
	{
		const char *prefix = PQgetvalue(res, first, 0);
		int			ndays = 0;
		int			k = c.nseries / 2;

		while (first + ndays < n && strcmp(PQgetvalue(res, first + ndays, 0), prefix) == 0)
			ndays++;
		s[c.nseries] = (ChartSeries) {prefix, palette[k], NULL, false};
		/* (the intro says what the dashed lines are) */
		s[c.nseries + 1] = (ChartSeries) {"", palette[k], NULL, true};
		burn_series(res, first, ndays, days, &s[c.nseries], &s[c.nseries + 1]);
		c.nseries += 2;
		first += ndays;
	}
	c.title = "monthly quota left, per key";
	c.npoints = days;
	c.x = x;
	c.x_prefix = "";
	c.y_suffix = "%";
	c.y_max = 100;
	c.series = s;
	svg_lines(b, &c);
	for (int i = 0; i < c.nseries; i++)
		pg_free(s[i].v);
}

void
report_quota(PQExpBuffer b, const Report *r)
{
	PGresult   *res = report_query(r, BURN_SQL);

	report_section(b, "quota", "Quota burn-down this month",
				   "The part of each monthly quota left, day by day this UTC month, for the "
				   "keys nearest their quota; dashed, where this month's pace ends it.");
	if (PQntuples(res) > 0)
		burn_chart(b, res);
	PQclear(res);
	res = report_query(r, QUOTA_TABLE_SQL);
	if (PQntuples(res) == 0)
		appendPQExpBufferStr(b, "<p class=\"empty\">No live key has a quota.</p>\n");
	else
		html_table(b, res, "prefix");
	PQclear(res);
	report_section_end(b, "Quotas count cost units, each key's own quota or else its tier's; "
					   "the counts of today and this month are apikey's live counts.  This "
					   "section is about the current month, whatever the report's period.");
}

/* ---- refusals ---- */

/* Keys by refusals in the period, with the codes audit_log recorded. */
#define REFUSED_SQL REPORT_PERIOD \
	", r AS (SELECT u.key_id, pg_catalog.sum(u.requests) AS requests," \
	"  pg_catalog.sum(u.rate_limited) AS rate_limited," \
	"  pg_catalog.sum(u.quota_exceeded) AS quota_exceeded," \
	"  pg_catalog.sum(u.denied_auth) AS denied_auth" \
	REPORT_USAGE_FROM REPORT_USAGE_WHERE " GROUP BY 1)," \
	" a AS (SELECT a.key_id, a.detail->>'code' AS code, " AK_SQL_DENIED_COUNT " AS n" \
	"  FROM apikey.audit_log AS a CROSS JOIN p" \
	"  WHERE a.action = 'denied' AND a.key_id IS NOT NULL AND a.at >= p.since" \
	"   AND (p.owner IS NULL OR a.owner = p.owner) GROUP BY 1, 2)," \
	" c AS (SELECT a.key_id, pg_catalog.sum(a.n) AS n," \
	"  pg_catalog.string_agg(a.code || ' ' || a.n, ', ' ORDER BY a.n DESC, a.code) AS codes" \
	"  FROM a GROUP BY 1)" \
	" SELECT k.prefix, k.owner, pg_catalog.left(coalesce(k.name, ''), 40) AS name," \
	"  coalesce(r.rate_limited, 0) AS rate_limited," \
	"  coalesce(r.quota_exceeded, 0) AS quota_exceeded," \
	"  coalesce(r.denied_auth, 0) AS denied_auth," \
	"  pg_catalog.round(100.0 * (r.rate_limited + r.quota_exceeded + r.denied_auth)" \
	"   / nullif(r.requests, 0), 1) AS \"refused %\"," \
	"  coalesce(c.codes, '') AS \"failed verifications (audit_log)\"" \
	" FROM (SELECT key_id FROM r WHERE r.requests > 0" \
	"   AND r.rate_limited + r.quota_exceeded + r.denied_auth > 0" \
	"  UNION SELECT key_id FROM c) AS ids" \
	" JOIN apikey.key_list AS k ON k.id = ids.key_id" \
	" LEFT JOIN r ON r.key_id = ids.key_id LEFT JOIN c ON c.key_id = ids.key_id" \
	" ORDER BY coalesce(r.rate_limited + r.quota_exceeded + r.denied_auth, 0)" \
	"  + coalesce(c.n, 0) DESC, k.prefix LIMIT 15"

/* Failed verifications that named no key (unknown or malformed tokens). */
#define NO_KEY_SQL REPORT_PERIOD \
	" SELECT a.detail->>'code' AS code, " AK_SQL_DENIED_COUNT " AS failures," \
	"  pg_catalog.count(DISTINCT a.client_ip) AS addresses," \
	"  pg_catalog.count(DISTINCT a.detail->>'prefix') AS \"display prefixes tried\"" \
	" FROM apikey.audit_log AS a CROSS JOIN p" \
	" WHERE a.action = 'denied' AND a.key_id IS NULL AND a.at >= p.since AND p.owner IS NULL" \
	" GROUP BY 1 ORDER BY 2 DESC, 1"

#define ADDRESSES_SQL REPORT_PERIOD \
	" SELECT pg_catalog.regexp_replace(a.client_ip::pg_catalog.text, '/(32|128)$', '')" \
	"   AS address, " AK_SQL_DENIED_COUNT " AS failures," \
	"  pg_catalog.string_agg(DISTINCT a.detail->>'code', ', ') AS codes," \
	"  pg_catalog.count(DISTINCT a.detail->>'prefix') AS \"display prefixes\"," \
	"  pg_catalog.to_char(pg_catalog.max(a.at), 'YYYY-MM-DD HH24:MI') AS \"last seen\"" \
	" FROM apikey.audit_log AS a CROSS JOIN p" \
	" WHERE a.action = 'denied' AND a.client_ip IS NOT NULL AND a.at >= p.since" \
	"  AND (p.owner IS NULL OR a.owner = p.owner)" \
	" GROUP BY a.client_ip ORDER BY 2 DESC, 1 LIMIT 10"

static void
refused_chart(PQExpBuffer b, const PGresult *res)
{
	int			n = PQntuples(res);
	char	  **labels = pg_malloc(sizeof(char *) * n);
	ChartSeries s[3] = {
		{"rate_limited", "#e08a1e", report_column(res, 3), false},
		{"quota_exceeded", "#c0392b", report_column(res, 4), false},
		{"denied_auth", "#7d3c98", report_column(res, 5), false},
	};
	Chart		c = {0};

	for (int i = 0; i < n; i++)
		labels[i] = psprintf("%s %s", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
	c.title = "refusals per key";
	c.npoints = n;
	c.nseries = 3;
	c.series = s;
	svg_hbars(b, &c, labels);
	for (int i = 0; i < n; i++)
		pg_free(labels[i]);
	pg_free(labels);
	for (int i = 0; i < 3; i++)
		pg_free(s[i].v);
}

/* A table under a subtitle, or a line saying there is nothing. */
static void
sub_table(PQExpBuffer b, const Report *r, const char *title, const char *sql,
		  const char *monospace, const char *none)
{
	PGresult   *res = report_query(r, sql);

	appendPQExpBufferStr(b, "<h3>");
	html_escape(b, title);
	appendPQExpBufferStr(b, "</h3>\n");
	if (PQntuples(res) == 0)
	{
		appendPQExpBufferStr(b, "<p class=\"empty\">");
		html_escape(b, none);
		appendPQExpBufferStr(b, "</p>\n");
	}
	else
		html_table(b, res, monospace);
	PQclear(res);
}

void
report_refused(PQExpBuffer b, const Report *r)
{
	PGresult   *res = report_query(r, REFUSED_SQL);

	report_section(b, "refused", "Refusals: the most refused keys and their codes", NULL);
	if (PQntuples(res) == 0)
		appendPQExpBufferStr(b, "<p class=\"empty\">No key was refused in this period.</p>\n");
	else
	{
		refused_chart(b, res);
		html_table(b, res, "prefix");
	}
	PQclear(res);
	if (r->admin && r->owner == NULL)
		sub_table(b, r, "Failed verifications that named no key", NO_KEY_SQL, NULL,
				  "None in this period.");
	sub_table(b, r, "Addresses with the most failed verifications", ADDRESSES_SQL,
			  "address", "None in this period.");
	report_section_end(b, "rate_limited, quota_exceeded and denied_auth count check() answers "
					   "(usage_hourly); the codes are those of failed verifications "
					   "(audit_log), by check(), check_request() and verify().");
}

/* ---- the key inventory ---- */

#define INVENTORY_LIMIT 500

#define INVENTORY_COUNTS_SQL REPORT_PERIOD \
	" SELECT pg_catalog.count(*) FILTER (WHERE k.status = 'active') AS active," \
	"  pg_catalog.count(*) FILTER (WHERE k.status = 'rotating') AS rotating," \
	"  pg_catalog.count(*) FILTER (WHERE k.status = 'revoked') AS revoked," \
	"  pg_catalog.count(*) FILTER (WHERE k.status = 'expired') AS expired," \
	"  pg_catalog.count(*) FILTER (WHERE k.status IN ('active', 'rotating')" \
	"   AND k.expires_at < pg_catalog.now() + '7 days'::pg_catalog.interval)" \
	"   AS \"expiring within 7 days\"," \
	"  pg_catalog.count(*) FILTER (WHERE k.status = 'active' AND (k.last_used_at IS NULL" \
	"   OR k.last_used_at < pg_catalog.now() - '30 days'::pg_catalog.interval))" \
	"   AS \"active, unused for 30 days\"," \
	"  pg_catalog.count(*) AS keys" \
	" FROM apikey.key_list AS k CROSS JOIN p WHERE p.owner IS NULL OR k.owner = p.owner"

#define INVENTORY_SQL REPORT_PERIOD \
	" SELECT k.prefix, k.owner, coalesce(k.name, '') AS name, k.tier, k.status," \
	"  EXTRACT(day FROM pg_catalog.now() - k.created_at)::pg_catalog.int4 AS \"age (days)\"," \
	"  coalesce(pg_catalog.to_char(k.last_used_at, 'YYYY-MM-DD HH24:MI'), 'never')" \
	"   AS \"last used\"," \
	"  coalesce(pg_catalog.to_char(k.expires_at, 'YYYY-MM-DD HH24:MI'), '')" \
	"   AS expires," \
	"  pg_catalog.concat_ws('; '," \
	"   CASE WHEN k.status IN ('active', 'rotating')" \
	"    AND k.expires_at < pg_catalog.now() + '7 days'::pg_catalog.interval" \
	"    THEN 'expiring soon' END," \
	"   CASE WHEN k.status = 'rotating' THEN 'rotated to ' || n.prefix END," \
	"   CASE WHEN k.rotated_from IS NOT NULL AND k.status = 'active'" \
	"    THEN 'replaces ' || o.prefix END," \
	"   CASE WHEN k.status = 'revoked' THEN 'revoked ' ||" \
	"    pg_catalog.to_char(k.revoked_at, 'YYYY-MM-DD') ||" \
	"    coalesce(': ' || k.revoke_reason, '') END) AS notes" \
	" FROM apikey.key_list AS k CROSS JOIN p" \
	" LEFT JOIN apikey.key_list AS n ON n.id = k.rotated_to" \
	" LEFT JOIN apikey.key_list AS o ON o.id = k.rotated_from" \
	" WHERE p.owner IS NULL OR k.owner = p.owner" \
	" ORDER BY k.owner, k.status <> 'active', k.created_at, k.id" \
	" LIMIT " CppAsString2(INVENTORY_LIMIT)

void
report_inventory(PQExpBuffer b, const Report *r)
{
	PGresult   *counts = report_query(r, INVENTORY_COUNTS_SQL);
	long long	total = strtoll(PQgetvalue(counts, 0, 6), NULL, 10);
	PGresult   *res;
	char	   *note = NULL;

	appendPQExpBufferStr(b, "<section id=\"inventory\" class=\"long\">\n<h2>Key inventory</h2>\n");
	html_table(b, counts, NULL);
	PQclear(counts);
	res = report_query(r, INVENTORY_SQL);
	if (PQntuples(res) == 0)
		appendPQExpBufferStr(b, "<p class=\"empty\">No key.</p>\n");
	else
		html_table(b, res, "prefix");
	if (total > PQntuples(res))
		note = psprintf("The first %d keys of %lld, by owner; pg_apikey export lists them all.",
						PQntuples(res), total);
	PQclear(res);
	report_section_end(b, note ? note : "By owner, active keys first, oldest first.  "
					   "Expiring soon: within 7 days.");
	pg_free(note);
}
