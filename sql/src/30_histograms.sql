------------------------------------------------------------------------
-- Latency histograms and the views over usage
------------------------------------------------------------------------

CREATE FUNCTION apikey._hist_add(a bigint[], b bigint[])
RETURNS bigint[]
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'apikey_hist_add';

CREATE FUNCTION apikey._hist_count(h bigint[])
RETURNS bigint
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'apikey_hist_count';

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

-- The mean of two means, each weighted by its histogram's count.
CREATE FUNCTION apikey._avg_add(a_avg double precision, a_hist bigint[],
                                b_avg double precision, b_hist bigint[])
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT (coalesce(a_avg OPERATOR(pg_catalog.*) apikey._hist_count(a_hist), 0)
            OPERATOR(pg_catalog.+)
            coalesce(b_avg OPERATOR(pg_catalog.*) apikey._hist_count(b_hist), 0))
           OPERATOR(pg_catalog./)
           NULLIF(apikey._hist_count(a_hist) OPERATOR(pg_catalog.+) apikey._hist_count(b_hist), 0)
$$;

-- Endpoint counts added up, the 31 busiest kept and the rest as "(other)".
CREATE FUNCTION apikey._endpoints_add(a jsonb, b jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    WITH sums AS (
        SELECT e.key AS path,
               pg_catalog.sum((e.value OPERATOR(pg_catalog.->>) 'requests')::bigint) AS requests,
               pg_catalog.sum((e.value OPERATOR(pg_catalog.->>) 'allowed')::bigint) AS allowed,
               pg_catalog.sum((e.value OPERATOR(pg_catalog.->>) 'total_ms')::numeric) AS total_ms
          FROM (SELECT * FROM pg_catalog.jsonb_each(coalesce(a, '{}'))
                UNION ALL
                SELECT * FROM pg_catalog.jsonb_each(coalesce(b, '{}'))) AS e
         GROUP BY e.key),
    ranked AS (
        SELECT *, pg_catalog.row_number() OVER (
                    ORDER BY path OPERATOR(pg_catalog.=) '(other)', requests DESC, path) AS n
          FROM sums),
    kept AS (
        SELECT CASE WHEN n OPERATOR(pg_catalog.<) 32 THEN path ELSE '(other)' END AS path,
               pg_catalog.sum(requests) AS requests, pg_catalog.sum(allowed) AS allowed,
               pg_catalog.sum(total_ms) AS total_ms
          FROM ranked GROUP BY 1)
    SELECT coalesce(pg_catalog.jsonb_object_agg(path, pg_catalog.jsonb_build_object(
               'requests', requests, 'allowed', allowed, 'total_ms', total_ms)), '{}')
      FROM kept
$$;

