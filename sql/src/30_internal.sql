------------------------------------------------------------------------
-- Internal helpers: not part of the API
------------------------------------------------------------------------

-- Called by the constraints, views, triggers and bulk functions below and
-- by the C code; their names start with _.  The pure ones keep PUBLIC's
-- default EXECUTE: they read nothing and change nothing.

CREATE FUNCTION apikey._check_rate_limits(rate_limits jsonb)
RETURNS boolean
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'apikey_check_rate_limits';

COMMENT ON FUNCTION apikey._check_rate_limits(jsonb) IS
'true, or an error saying what is wrong with a rate-limit array (CHECK constraints)';

-- The status of a key: the rule verification applies, with its clock
-- (ak_key_status_at in src/auth/verify.c).
CREATE FUNCTION apikey._key_status(revoked_at timestamptz,
                                   expires_at timestamptz,
                                   rotated_to uuid,
                                   disabled_at timestamptz)
RETURNS text
LANGUAGE c VOLATILE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'apikey_key_status';

COMMENT ON FUNCTION apikey._key_status(timestamptz, timestamptz, uuid, timestamptz) IS
'active, rotating (old key within its rotation grace), disabled, revoked or expired';

-- Latency histograms (usage_hourly.latency_hist) and their sums.
CREATE FUNCTION apikey._hist_add(a bigint[], b bigint[])
RETURNS bigint[]
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'apikey_hist_add';

CREATE FUNCTION apikey._hist_count(h bigint[])
RETURNS bigint
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'apikey_hist_count';

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

-- The bulk functions' argument checks.
CREATE FUNCTION apikey._bulk_limit(fn text, n integer, max integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF n > max THEN
        RAISE EXCEPTION 'too many keys for apikey.%: %', fn, n
            USING ERRCODE = 'program_limit_exceeded',
                  DETAIL = format('At most %s keys per call.', max),
                  HINT = 'Split the work into several calls, in one transaction if it must be all or nothing.';
    END IF;
END $$;

CREATE FUNCTION apikey._bulk_ids(fn text, key_ids uuid[], max integer)
RETURNS uuid[]
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF key_ids IS NULL OR array_position(key_ids, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'invalid key_ids: it must be an array without NULLs'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM apikey._bulk_limit(fn, cardinality(key_ids), max);
    -- each key once, in the order given
    RETURN ARRAY(SELECT id FROM unnest(key_ids) WITH ORDINALITY AS u(id, n)
                  GROUP BY id ORDER BY min(n));
END $$;

-- The trigger functions of the tables below: cache invalidation, the
-- append-only audit log and the scope map.
CREATE FUNCTION apikey._invalidate()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'apikey_invalidate_trigger';
-- Only ever run as a trigger: no one needs to call it.
REVOKE ALL ON FUNCTION apikey._invalidate() FROM PUBLIC;

CREATE FUNCTION apikey._audit_guard()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'apikey_audit_guard';
-- Only ever run as a trigger: no one needs to call it.
REVOKE ALL ON FUNCTION apikey._audit_guard() FROM PUBLIC;

CREATE FUNCTION apikey._scope_map_changed()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'apikey_scope_map_changed';
-- Only ever run as a trigger: no one needs to call it.
REVOKE ALL ON FUNCTION apikey._scope_map_changed() FROM PUBLIC;

-- A key's quota counts: live from shared memory, else as last written.
-- Callers see the counts of the keys they can see.
CREATE FUNCTION apikey._quota_counts(key_id uuid,
    OUT day date, OUT day_used bigint, OUT month date, OUT month_used bigint)
RETURNS record
LANGUAGE c STABLE STRICT
AS 'MODULE_PATHNAME', 'apikey_quota_counts';

-- A change to the shared throttle names reaches every backend at commit.
CREATE FUNCTION apikey._shared_throttles_changed()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'apikey_shared_throttles_changed';
REVOKE ALL ON FUNCTION apikey._shared_throttles_changed() FROM PUBLIC;

-- The live counters behind the apikey.stats view.
CREATE FUNCTION apikey._stats(
    OUT requests_total       bigint,
    OUT valid_total          bigint,
    OUT invalid_total        bigint,
    OUT rate_limited_total   bigint,
    OUT quota_exceeded_total bigint,
    OUT blocked_total        bigint,
    OUT overloaded_total     bigint,
    OUT cache_hits           bigint,
    OUT cache_misses         bigint,
    OUT buckets_in_use       bigint,
    OUT buckets_capacity     bigint,
    OUT events_dropped       bigint,
    OUT key_buckets          bigint,
    OUT address_buckets      bigint,
    OUT named_buckets        bigint,
    OUT concurrency_slots    bigint,
    OUT quota_counters       bigint,
    OUT cooldowns            bigint,
    OUT shared_memory_used   bigint,
    OUT shared_memory_budget bigint,
    OUT shadow_limited_total bigint,
    OUT anonymous_total      bigint,
    OUT shared_key_hits      bigint,
    OUT shared_key_misses    bigint,
    OUT shared_keys          bigint)
RETURNS record
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_stats';
-- Server-wide counters: admins only.
REVOKE ALL ON FUNCTION apikey._stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apikey._stats() TO apikey_admin;

-- Cells of shared memory by class, throttle() buckets by role.
CREATE FUNCTION apikey._bucket_use(
    OUT class    text,
    OUT role     name,
    OUT database name,
    OUT buckets  bigint)
RETURNS SETOF record
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_bucket_use';
REVOKE ALL ON FUNCTION apikey._bucket_use() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apikey._bucket_use() TO apikey_admin;


