------------------------------------------------------------------------
-- Latency histograms and the views over usage
------------------------------------------------------------------------

CREATE AGGREGATE apikey.latency_sum(bigint[]) (
    SFUNC = apikey._hist_add,
    STYPE = bigint[],
    COMBINEFUNC = apikey._hist_add,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE apikey.latency_sum(bigint[]) IS
'Adds latency histograms (usage_hourly.latency_hist) of any span';

CREATE FUNCTION apikey.latency_quantile(hist bigint[], q double precision)
RETURNS double precision
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'apikey_latency_quantile';

COMMENT ON FUNCTION apikey.latency_quantile(bigint[], double precision) IS
'The q-quantile of a latency histogram, in milliseconds (within its bucket''s 41%, interpolated)';

-- The usage per key and hour, current to the request: the rows the worker
-- wrote, and what shared memory holds and it has not written yet, added up
-- as the worker adds them.  Filters on key_id and hour reach both parts.
CREATE FUNCTION apikey._usage_live()
RETURNS SETOF apikey.usage_hours
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'apikey_usage_live';

COMMENT ON FUNCTION apikey._usage_live() IS
'Usage counted in shared memory and not written to usage_hours yet, for the keys the caller may see';

CREATE FUNCTION apikey._usage_merge(a apikey.usage_hours, b apikey.usage_hours)
RETURNS apikey.usage_hours
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'apikey_usage_merge';

COMMENT ON FUNCTION apikey._usage_merge(apikey.usage_hours, apikey.usage_hours) IS
'Two rows of one key and hour added up: counts, latency histograms and endpoints';

CREATE VIEW apikey.usage_hourly WITH (security_invoker = true) AS
SELECT u.key_id, u.hour, u.requests, u.allowed, u.rate_limited, u.quota_exceeded,
       u.denied_auth, u.cost_units, u.avg_ms, u.p95_ms, u.p99_ms, u.endpoints,
       u.latency_hist
  FROM apikey.usage_hours AS u
 WHERE NOT EXISTS (SELECT FROM apikey._usage_live() AS l
                    WHERE l.key_id OPERATOR(pg_catalog.=) u.key_id
                      AND l.hour OPERATOR(pg_catalog.=) u.hour)
UNION ALL
SELECT l.key_id, l.hour, m.requests, m.allowed, m.rate_limited, m.quota_exceeded,
       m.denied_auth, m.cost_units, m.avg_ms, m.p95_ms, m.p99_ms, m.endpoints,
       m.latency_hist
  FROM apikey._usage_live() AS l
  LEFT JOIN apikey.usage_hours AS u
    ON u.key_id OPERATOR(pg_catalog.=) l.key_id AND u.hour OPERATOR(pg_catalog.=) l.hour
 CROSS JOIN LATERAL apikey._usage_merge(u, l) AS m;

COMMENT ON VIEW apikey.usage_hourly IS
'Requests per key and UTC hour, current to the request: usage_hours and what the worker has not written yet';
GRANT SELECT ON apikey.usage_hourly TO PUBLIC;

-- Rollups of usage_hourly by UTC day and month.  Counts add up; avg_ms is
-- weighted by the durations behind each mean; p95/p99 come from the summed
-- histograms; cost is cost_units at the price per 1000 of the key's tier.
-- (Views are bound when created: their operators are pg_catalog's.)
CREATE VIEW apikey.usage_daily WITH (security_invoker = true) AS
SELECT u.key_id,
       (u.hour AT TIME ZONE 'UTC')::date AS day,
       sum(u.requests)::bigint AS requests,
       sum(u.allowed)::bigint AS allowed,
       sum(u.rate_limited)::bigint AS rate_limited,
       sum(u.quota_exceeded)::bigint AS quota_exceeded,
       sum(u.denied_auth)::bigint AS denied_auth,
       sum(u.cost_units)::bigint AS cost_units,
       sum(u.avg_ms * apikey._hist_count(u.latency_hist))
           / NULLIF(sum(apikey._hist_count(u.latency_hist)), 0) AS avg_ms,
       apikey.latency_quantile(apikey.latency_sum(u.latency_hist), 0.95) AS p95_ms,
       apikey.latency_quantile(apikey.latency_sum(u.latency_hist), 0.99) AS p99_ms,
       round(sum(u.cost_units) * coalesce(t.price_per_1k, 0) / 1000, 6) AS cost,
       apikey.latency_sum(u.latency_hist) AS latency_hist
  FROM apikey.usage_hourly AS u
  LEFT JOIN apikey.keys AS k ON k.id = u.key_id
  LEFT JOIN apikey.tiers AS t ON t.name = k.tier
 GROUP BY u.key_id, 2, t.price_per_1k;

COMMENT ON VIEW apikey.usage_daily IS
'usage_hourly by key and UTC day, with cost at the tier''s price_per_1k';

CREATE VIEW apikey.usage_monthly WITH (security_invoker = true) AS
SELECT d.key_id,
       date_trunc('month', d.day)::date AS month,
       sum(d.requests)::bigint AS requests,
       sum(d.allowed)::bigint AS allowed,
       sum(d.rate_limited)::bigint AS rate_limited,
       sum(d.quota_exceeded)::bigint AS quota_exceeded,
       sum(d.denied_auth)::bigint AS denied_auth,
       sum(d.cost_units)::bigint AS cost_units,
       sum(d.avg_ms * apikey._hist_count(d.latency_hist))
           / NULLIF(sum(apikey._hist_count(d.latency_hist)), 0) AS avg_ms,
       apikey.latency_quantile(apikey.latency_sum(d.latency_hist), 0.95) AS p95_ms,
       apikey.latency_quantile(apikey.latency_sum(d.latency_hist), 0.99) AS p99_ms,
       sum(d.cost) AS cost,
       apikey.latency_sum(d.latency_hist) AS latency_hist
  FROM apikey.usage_daily AS d
 GROUP BY d.key_id, 2;

COMMENT ON VIEW apikey.usage_monthly IS
'usage_daily by key and UTC month';
-- security_invoker views over usage_hourly: readers see their own keys'.
GRANT SELECT ON apikey.usage_daily, apikey.usage_monthly TO PUBLIC;


