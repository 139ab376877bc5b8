/*-------------------------------------------------------------------------
 *
 * topdata.c
 *	  pg_apikey top: what it reads, once a frame, in one read-only
 *	  transaction on the one connection: the live counters of apikey.stats
 *	  (whose differences between two frames are the rates), this hour's
 *	  rows of usage_hourly, the quota counts of key_list, the worker in
 *	  pg_stat_activity, and the refusals of audit_log.
 *
 * What the server has is found out first (features): apikey.stats is for
 * admins; its columns by bucket class, apikey.bucket_use and apikey.blocks
 * come with later versions of apikey; the worker's timings in
 * pg_stat_activity need pg_read_all_stats.  Row-level security decides
 * the rest: an owner's queries return the rows of its own keys.
 *
 * Keys are named by display prefix: nothing here reads a secret.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <time.h>

#include "pg_apikey.h"

/* The counters whose differences make the rates, in TopCounter's order. */
static const char *const counter_columns[TOP_NCOUNTERS] = {
	"requests_total", "valid_total", "invalid_total", "rate_limited_total",
	"quota_exceeded_total", "blocked_total", "overloaded_total",
	"buckets_in_use", "buckets_capacity"
};

/* stats' columns by bucket class (wave 2 of apikey), when it has them. */
static const char *const class_columns[] = {
	"key_buckets", "address_buckets", "named_buckets", "concurrency_slots",
	"quota_counters", "cooldowns", "shared_memory_used", "shared_memory_budget",
	NULL
};

#define FEATURES_SQL \
	"SELECT pg_catalog.pg_has_role('apikey_admin', 'MEMBER')," \
	" pg_catalog.has_table_privilege('apikey.stats', 'SELECT')," \
	" pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE')," \
	" pg_catalog.to_regclass('apikey.blocks') IS NOT NULL AND" \
	"  pg_catalog.has_table_privilege('apikey.blocks', 'SELECT')," \
	" pg_catalog.to_regclass('apikey.blocks') IS NOT NULL," \
	" pg_catalog.to_regclass('apikey.bucket_use') IS NOT NULL AND" \
	"  pg_catalog.has_table_privilege('apikey.bucket_use', 'SELECT')," \
	" (SELECT s.setting FROM pg_catalog.pg_settings AS s" \
	"   WHERE s.name = 'apikey.flush_interval')," \
	" CURRENT_USER, pg_catalog.current_database()," \
	" (SELECT pg_catalog.array_agg(c.column_name::pg_catalog.text)" \
	"   FROM information_schema.columns AS c" \
	"  WHERE c.table_schema = 'apikey' AND c.table_name = 'stats')::pg_catalog.text"

static bool
column_listed(const char *list, const char *name)
{
	char	   *pattern = psprintf(",%s,", name);
	char	   *padded = psprintf(",%.*s,", (int) Max(strlen(list) - 2, 0), list + 1);
	bool		found = strstr(padded, pattern) != NULL;

	pg_free(pattern);
	pg_free(padded);
	return found;
}

/* What this server and role have; asked once, at the start. */
void
top_features(TopFeatures *f)
{
	PGresult   *res = query(FEATURES_SQL, 0, NULL);
	const char *columns;

	f->admin = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	f->stats = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	f->read_all_stats = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
	f->blocks = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
	f->blocks_exist = strcmp(PQgetvalue(res, 0, 4), "t") == 0;
	f->bucket_use = strcmp(PQgetvalue(res, 0, 5), "t") == 0;
	f->flush_ms = PQgetisnull(res, 0, 6) ? 0 : atoi(PQgetvalue(res, 0, 6));
	f->user = pg_strdup(PQgetvalue(res, 0, 7));
	f->dbname = pg_strdup(PQgetvalue(res, 0, 8));
	columns = PQgetisnull(res, 0, 9) ? "{}" : PQgetvalue(res, 0, 9);

	initPQExpBuffer(&f->stats_sql);
	appendPQExpBufferStr(&f->stats_sql, "SELECT ");
	for (int i = 0; i < TOP_NCOUNTERS; i++)
		appendPQExpBuffer(&f->stats_sql, "%s%s", i ? ", " : "", counter_columns[i]);
	f->nclasses = 0;
	for (int i = 0; class_columns[i]; i++)
		if (column_listed(columns, class_columns[i]))
		{
			f->class_names[f->nclasses++] = class_columns[i];
			appendPQExpBuffer(&f->stats_sql, ", %s", class_columns[i]);
		}
	appendPQExpBufferStr(&f->stats_sql, " FROM apikey.stats");
	PQclear(res);
}

static double
monotonic_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The live counters, when this role may read them. */
static bool
read_counters(TopData *d)
{
	PGresult   *res = query_try(d->f->stats_sql.data, 0, NULL);

	if (!query_ok(res))
		return top_failed(d, res);
	d->prev = d->cur;
	d->cur.valid = true;
	d->cur.at = monotonic_seconds();
	for (int i = 0; i < TOP_NCOUNTERS; i++)
		d->cur.counters[i] = strtoll(PQgetvalue(res, 0, i), NULL, 10);
	for (int i = 0; i < d->f->nclasses; i++)
		d->cur.classes[i] = strtoll(PQgetvalue(res, 0, TOP_NCOUNTERS + i), NULL, 10);
	PQclear(res);
	return true;
}

bool
top_failed(TopData *d, PGresult *res)
{
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	pg_free(d->error);
	d->error = pg_strdup(msg ? msg : PQerrorMessage(conn));
	d->error_res = res;
	return false;
}

/* ---- the queries of a frame ---- */

/* This UTC hour, and the seconds of it gone by (at least 1). */
#define HOUR_CTE \
	"WITH h AS (SELECT pg_catalog.date_trunc('hour', pg_catalog.now(), 'UTC') AS hour," \
	"  greatest(EXTRACT(epoch FROM pg_catalog.now()" \
	"   - pg_catalog.date_trunc('hour', pg_catalog.now(), 'UTC')), 1) AS secs) "

#define HOUR_ROWS \
	" FROM apikey.usage_hourly AS u JOIN h ON u.hour = h.hour" \
	" JOIN apikey.key_list AS k ON k.id = u.key_id"

static const char *const frame_sql[TQ_COUNT] = {
	/* TQ_HOUR: this hour's totals */
	HOUR_CTE "SELECT pg_catalog.count(u.key_id), pg_catalog.sum(u.requests),"
	" pg_catalog.sum(u.allowed), pg_catalog.sum(u.rate_limited),"
	" pg_catalog.sum(u.quota_exceeded), pg_catalog.sum(u.denied_auth),"
	" pg_catalog.round((pg_catalog.sum(u.requests) / pg_catalog.min(h.secs))::pg_catalog.numeric, 1),"
	" pg_catalog.to_char(pg_catalog.min(h.hour) AT TIME ZONE 'UTC', 'HH24:MI')"
	" FROM h LEFT JOIN apikey.usage_hourly AS u ON u.hour = h.hour",

	/*
	 * TQ_WORKER: this database's worker, by backend_type (the launcher
	 * starts one per database with the extension); a role without
	 * pg_read_all_stats sees its application_name only, and no timings.
	 */
	"SELECT a.pid, a.state, a.query,"
	" pg_catalog.round(EXTRACT(epoch FROM pg_catalog.now() - a.state_change), 1)"
	" FROM pg_catalog.pg_stat_activity AS a"
	" WHERE a.datname = pg_catalog.current_database()"
	"  AND (a.backend_type = 'apikey worker'"
	"   OR (a.backend_type IS NULL AND a.application_name = 'apikey worker'))",

	/* TQ_TRAFFIC: top keys by requests this hour */
	HOUR_CTE "SELECT k.prefix, u.requests, k.owner,"
	" pg_catalog.round((u.requests / h.secs)::pg_catalog.numeric, 2) AS \"req/s\","
	" u.requests - u.allowed AS refused, k.name"
	HOUR_ROWS " ORDER BY u.requests DESC, k.prefix LIMIT 20",

	/* TQ_REFUSED: top keys by refusals this hour */
	HOUR_CTE "SELECT k.prefix, u.requests - u.allowed AS refused, k.owner,"
	" u.rate_limited, u.quota_exceeded, u.denied_auth, k.name"
	HOUR_ROWS " WHERE u.requests > u.allowed"
	" ORDER BY u.requests - u.allowed DESC, k.prefix LIMIT 20",

	/* TQ_OWNERS: owners by requests this hour */
	HOUR_CTE "SELECT k.owner, pg_catalog.sum(u.requests) AS requests,"
	" pg_catalog.sum(u.requests - u.allowed) AS refused,"
	" pg_catalog.count(*) AS keys,"
	" pg_catalog.round(100.0 * pg_catalog.sum(u.requests - u.allowed)"
	"  / nullif(pg_catalog.sum(u.requests), 0), 1) AS \"refused%\""
	HOUR_ROWS " GROUP BY k.owner ORDER BY 2 DESC, 1 LIMIT 20",

	/* TQ_OWNERS_REFUSED: owners by refusals this hour */
	HOUR_CTE "SELECT k.owner, pg_catalog.sum(u.requests - u.allowed) AS refused,"
	" pg_catalog.sum(u.rate_limited) AS rate_limited,"
	" pg_catalog.sum(u.quota_exceeded) AS quota_exceeded,"
	" pg_catalog.sum(u.denied_auth) AS denied_auth"
	HOUR_ROWS " WHERE u.requests > u.allowed"
	" GROUP BY k.owner ORDER BY 2 DESC, 1 LIMIT 20",

	/*
	 * TQ_QUOTA: live keys with a quota, nearest to it first.  The counts
	 * are key_list's (live), of today and this month only.
	 */
	"WITH q AS (SELECT k.prefix, k.owner, k.name,"
	"  coalesce(k.daily_quota, t.daily_quota) AS dq,"
	"  CASE WHEN k.usage_day = (pg_catalog.now() AT TIME ZONE 'UTC')::pg_catalog.date"
	"   THEN k.daily_usage ELSE 0 END AS du,"
	"  coalesce(k.monthly_quota, t.monthly_quota) AS mq,"
	"  CASE WHEN k.usage_month = pg_catalog.date_trunc('month',"
	"   pg_catalog.now() AT TIME ZONE 'UTC')::pg_catalog.date"
	"   THEN k.monthly_usage ELSE 0 END AS mu"
	"  FROM apikey.key_list AS k LEFT JOIN apikey.tiers AS t ON t.name = k.tier"
	"  WHERE k.status IN ('active', 'rotating'))"
	" SELECT prefix,"
	"  coalesce(pg_catalog.round(100.0 * mu / nullif(mq, 0), 1)"
	"   || '%', '-') AS \"month\","
	"  coalesce(pg_catalog.round(100.0 * du / nullif(dq, 0), 1)"
	"   || '%', '-') AS \"today\","
	"  owner,"
	"  coalesce(mu || '/' || mq, '-') AS \"month used\","
	"  coalesce(du || '/' || dq, '-') AS \"today used\", name"
	" FROM q WHERE dq IS NOT NULL OR mq IS NOT NULL"
	" ORDER BY greatest(du::pg_catalog.numeric / nullif(dq, 0),"
	"  mu::pg_catalog.numeric / nullif(mq, 0)) DESC NULLS LAST, prefix LIMIT 20",

	/* TQ_CODES: failed verifications of the last minute, by code */
	"SELECT a.detail->>'code', " AK_SQL_DENIED_COUNT
	" FROM apikey.audit_log AS a"
	" WHERE a.action = 'denied' AND a.at > pg_catalog.now() - '1 minute'::pg_catalog.interval"
	" GROUP BY 1 ORDER BY 2 DESC, 1",

	/* TQ_ADDRESSES: the addresses behind them, last 5 minutes */
	"SELECT pg_catalog.regexp_replace(a.client_ip::pg_catalog.text, '/(32|128)$', '') AS address, " AK_SQL_DENIED_COUNT " AS denied,"
	" pg_catalog.count(DISTINCT a.detail->>'prefix') AS prefixes,"
	" pg_catalog.string_agg(DISTINCT a.detail->>'code', ',') AS codes"
	" FROM apikey.audit_log AS a"
	" WHERE a.action = 'denied' AND a.client_ip IS NOT NULL"
	"  AND a.at > pg_catalog.now() - '5 minutes'::pg_catalog.interval"
	" GROUP BY a.client_ip ORDER BY 2 DESC, 1 LIMIT 20",

	/* TQ_BUCKET_USE: cells by class and owning role (when it exists) */
	"SELECT b.class, b.buckets, b.role::pg_catalog.text, b.database::pg_catalog.text"
	" FROM apikey.bucket_use AS b ORDER BY b.buckets DESC, 1, 3 LIMIT 20",

	/* TQ_BLOCKS: blocked addresses (when apikey.blocks exists) */
	"SELECT * FROM apikey.blocks LIMIT 20"
};

/* Whether a frame runs this query, given what the server has. */
static bool
wanted(const TopFeatures *f, TopQuery q)
{
	switch (q)
	{
		case TQ_BUCKET_USE:
			return f->bucket_use;
		case TQ_BLOCKS:
			return f->blocks;
		default:
			return true;
	}
}

static void
clear_results(TopData *d)
{
	for (int q = 0; q < TQ_COUNT; q++)
	{
		PQclear(d->res[q]);
		d->res[q] = NULL;
	}
	PQclear(d->error_res);
	d->error_res = NULL;
	pg_free(d->error);
	d->error = NULL;
}

/*
 * Reads a frame's data, in one snapshot.  False if a statement failed:
 * d->error says why, and d->error_res is its result.
 */
bool
top_read(TopData *d)
{
	bool		ok = true;
	PGresult   *res;

	clear_results(d);
	res = query_try("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL);
	if (!query_ok(res))
		return top_failed(d, res);
	PQclear(res);
	if (d->f->stats)
		ok = read_counters(d);
	for (int q = 0; ok && q < TQ_COUNT; q++)
	{
		if (!wanted(d->f, q))
			continue;
		res = query_try(frame_sql[q], 0, NULL);
		if (!query_ok(res))
			ok = top_failed(d, res);
		else
			d->res[q] = res;
	}
	rollback();					/* it only read */
	return ok;
}
