/* apikey 0.1.0 -> 0.2.0 */

\echo Use "ALTER EXTENSION apikey UPDATE TO '0.2.0'" to load this file. \quit

-- The objects of 0.2.0 from those of 0.1.0, data kept: the result is the
-- catalog a fresh CREATE EXTENSION makes (test/t/028_upgrade.pl compares
-- them with pg_dump --binary-upgrade), but for the schema, which stays the
-- extension's namespace rather than its member (apikey--0.1.0.control),
-- and the columns keys dropped, which stay in its row as dropped columns.
--
-- 1. What changes shape: tables altered, data moved.  2. The objects of
-- 0.2.0, in the order of its install script: new ones created, existing
-- functions and views replaced, every comment, privilege and trigger mode
-- set again.  3. What 0.1.0 had and 0.2.0 has not.

------------------------------------------------------------------------
-- 1. Tables
------------------------------------------------------------------------

-- Objects whose result type changes are made again in part 2.
DROP VIEW apikey.stats;
DROP FUNCTION apikey._stats();
DROP VIEW apikey.usage_monthly;   -- made of usage_daily
DROP VIEW apikey.usage_daily;

-- New arguments: check() takes client_ip as text, an endpoint and a method;
-- verify() client_ip as text; issue() max_uses; exchange() refresh.
DROP FUNCTION apikey.check(text, text, inet, integer);
DROP FUNCTION apikey.verify(text, text, inet);
DROP FUNCTION apikey.issue(text, text, text[], text, timestamptz, cidr[], jsonb, text, text, jsonb);
DROP FUNCTION apikey.exchange(text, interval);

-- Tiers get a priority for load shedding.
ALTER TABLE apikey.tiers
    ADD COLUMN priority smallint NOT NULL DEFAULT 1
        CHECK (priority OPERATOR(pg_catalog.>=) 0 AND priority OPERATOR(pg_catalog.<=) 3);

-- Keys: a lineage (the rotation chain sharing limits and quota counts),
-- pauses, uses, a priority, expiry warnings.  The quota counts leave the
-- keys' rows for apikey.quota_counters (part 2; moved in part 3).
ALTER TABLE apikey.keys
    ADD COLUMN lineage uuid,
    ADD COLUMN disabled_at timestamptz,
    ADD COLUMN disable_reason text,
    ADD COLUMN disabled_by_admin boolean NOT NULL DEFAULT false,
    ADD COLUMN max_uses bigint CHECK (max_uses OPERATOR(pg_catalog.>=) 1),
    ADD COLUMN priority smallint
        CHECK (priority OPERATOR(pg_catalog.>=) 0 AND priority OPERATOR(pg_catalog.<=) 3),
    ADD COLUMN expiry_warned_for timestamptz;
-- a key's lineage is the first key of its rotation chain
WITH RECURSIVE chain(id, root) AS (
    SELECT k.id, k.id FROM apikey.keys AS k WHERE k.rotated_from IS NULL
    UNION ALL
    SELECT k.id, c.root FROM apikey.keys AS k JOIN chain AS c ON k.rotated_from OPERATOR(pg_catalog.=) c.id
)
UPDATE apikey.keys AS k SET lineage = c.root FROM chain AS c WHERE k.id OPERATOR(pg_catalog.=) c.id;
UPDATE apikey.keys SET lineage = id WHERE lineage IS NULL;  -- a chain that loops
ALTER TABLE apikey.keys ALTER COLUMN lineage SET NOT NULL;
ALTER TABLE apikey.keys SET (fillfactor = 90);
DROP TRIGGER keys_invalidate_update ON apikey.keys;
CREATE TRIGGER keys_invalidate_update
    AFTER UPDATE ON apikey.keys
    FOR EACH ROW
    WHEN ((OLD.key_hash, OLD.prefix, OLD.owner, OLD.org, OLD.name, OLD.scopes,
           OLD.tier, OLD.rate_limits, OLD.daily_quota, OLD.monthly_quota,
           OLD.max_concurrency, OLD.allowed_ips, OLD.metadata, OLD.expires_at,
           OLD.revoked_at, OLD.rotated_to, OLD.disabled_at, OLD.max_uses,
           OLD.priority)
          IS DISTINCT FROM
          (NEW.key_hash, NEW.prefix, NEW.owner, NEW.org, NEW.name, NEW.scopes,
           NEW.tier, NEW.rate_limits, NEW.daily_quota, NEW.monthly_quota,
           NEW.max_concurrency, NEW.allowed_ips, NEW.metadata, NEW.expires_at,
           NEW.revoked_at, NEW.rotated_to, NEW.disabled_at, NEW.max_uses,
           NEW.priority))
    EXECUTE FUNCTION apikey._invalidate();

-- The audit log names the session role, the JWT subject and the key that
-- acted, and has new actions.
ALTER TABLE apikey.audit_log
    ADD COLUMN session_role text,
    ADD COLUMN subject text,
    ADD COLUMN actor_key_id uuid,
    DROP CONSTRAINT audit_log_action_check,
    ADD CONSTRAINT audit_log_action_check CHECK (action OPERATOR(pg_catalog.=) ANY (ARRAY[
        'issued', 'updated', 'rotated', 'revoked', 'expired',
        'denied', 'quota_alert', 'signing_secret_read',
        'certificate_registered', 'certificate_revoked',
        'leak_reported', 'refresh_reuse', 'disabled', 'enabled',
        'owner_limits', 'blocked', 'unblocked', 'expiry_warning']));

-- A scope map row may require a signature, or make an endpoint public,
-- instead of naming a scope.
ALTER TABLE apikey.scope_map
    ALTER COLUMN scope DROP NOT NULL,
    ADD COLUMN require_signature boolean NOT NULL DEFAULT false,
    ADD COLUMN public boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT scope_map_requires_something
        CHECK (scope IS NOT NULL OR require_signature OR public);

-- The worker's usage rows become usage_hours, behind the view usage_hourly
-- (part 2), which adds what shared memory holds and is not written yet.
ALTER TABLE apikey.usage_hourly RENAME TO usage_hours;
ALTER TABLE apikey.usage_hours RENAME CONSTRAINT usage_hourly_pkey TO usage_hours_pkey;
-- From PostgreSQL 18, NOT NULL constraints have names, made from the table's:
-- they follow the rename, as a new install names them.
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT conname FROM pg_catalog.pg_constraint
              WHERE conrelid OPERATOR(pg_catalog.=) 'apikey.usage_hours'::pg_catalog.regclass
                AND conname OPERATOR(pg_catalog.~) '^usage_hourly_.*_not_null$'
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE apikey.usage_hours RENAME CONSTRAINT %I TO %I',
                                  c.conname,
                                  pg_catalog.regexp_replace(c.conname, '^usage_hourly_', 'usage_hours_'));
    END LOOP;
END
$$;
ALTER INDEX apikey.usage_hourly_hour_idx RENAME TO usage_hours_hour_idx;
ALTER POLICY usage_hourly_admin ON apikey.usage_hours RENAME TO usage_hours_admin;
ALTER POLICY usage_hourly_owner ON apikey.usage_hours RENAME TO usage_hours_owner;


------------------------------------------------------------------------
-- 2. The objects of 0.2.0
------------------------------------------------------------------------

COMMENT ON SCHEMA apikey IS 'API keys, rate limits, quotas and audit (extension apikey)';

-- Anyone may look names up in the schema; each object says who may use it.
GRANT USAGE ON SCHEMA apikey TO PUBLIC;

------------------------------------------------------------------------
-- Internal helpers: not part of the API
------------------------------------------------------------------------

-- Called by the constraints, views, triggers and bulk functions below and
-- by the C code; their names start with _.  The pure ones keep PUBLIC's
-- default EXECUTE: they read nothing and change nothing.

CREATE OR REPLACE FUNCTION apikey._check_rate_limits(rate_limits jsonb)
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
CREATE OR REPLACE FUNCTION apikey._hist_add(a bigint[], b bigint[])
RETURNS bigint[]
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'apikey_hist_add';

CREATE OR REPLACE FUNCTION apikey._hist_count(h bigint[])
RETURNS bigint
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'apikey_hist_count';

-- The mean of two means, each weighted by its histogram's count.
CREATE OR REPLACE FUNCTION apikey._avg_add(a_avg double precision, a_hist bigint[],
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
CREATE OR REPLACE FUNCTION apikey._endpoints_add(a jsonb, b jsonb)
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
CREATE OR REPLACE FUNCTION apikey._bulk_limit(fn text, n integer, max integer)
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

CREATE OR REPLACE FUNCTION apikey._bulk_ids(fn text, key_ids uuid[], max integer)
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
CREATE OR REPLACE FUNCTION apikey._invalidate()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'apikey_invalidate_trigger';

-- Only ever run as a trigger: no one needs to call it.
REVOKE ALL ON FUNCTION apikey._invalidate() FROM PUBLIC;

CREATE OR REPLACE FUNCTION apikey._audit_guard()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'apikey_audit_guard';

-- Only ever run as a trigger: no one needs to call it.
REVOKE ALL ON FUNCTION apikey._audit_guard() FROM PUBLIC;

CREATE OR REPLACE FUNCTION apikey._scope_map_changed()
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

------------------------------------------------------------------------
-- Who the caller acts for
------------------------------------------------------------------------

-- Used by the row-level security policies below and by applications' own.
-- Anyone may call them (PUBLIC's default EXECUTE), and the PostgREST roles
-- get EXECUTE by name in the PostgREST section.

CREATE OR REPLACE FUNCTION apikey.current_owner()
RETURNS text
LANGUAGE c STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'apikey_current_owner';

COMMENT ON FUNCTION apikey.current_owner() IS
'The owner the caller acts for: the key verified by check_request() in this transaction, else the JWT "sub" claim, else (outside PostgREST) the calling role';

CREATE OR REPLACE FUNCTION apikey.current_key_id()
RETURNS uuid
LANGUAGE c STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'apikey_current_key_id';

COMMENT ON FUNCTION apikey.current_key_id() IS
'The key verified by check_request() in this transaction, or NULL';

COMMENT ON TABLE apikey.tiers IS
'Plans: the rate limits, quotas and price a key gets unless it has its own';

COMMENT ON COLUMN apikey.tiers.priority IS
'0 (shed first) to 3 (shed last) under apikey.max_inflight; see apikey.inflight_reserve';

-- ALWAYS: also for changes applied with session_replication_role = replica,
-- as logical replication applies them.
ALTER TABLE apikey.tiers ENABLE ALWAYS TRIGGER tiers_invalidate;

-- Anyone may read the plans; only admins change them.
GRANT SELECT ON apikey.tiers TO PUBLIC;

GRANT INSERT, UPDATE, DELETE ON apikey.tiers TO apikey_admin;

-- the worker writes a rotation chain's quota counts to each of its keys
CREATE INDEX keys_lineage_idx ON apikey.keys (lineage);

COMMENT ON TABLE apikey.keys IS
'One row per API key; only a BLAKE2b-256 digest of the token is stored';

COMMENT ON COLUMN apikey.keys.prefix IS
'Display prefix: <prefix>_ and the first 8 characters of the body; unique';

COMMENT ON COLUMN apikey.keys.key_hash IS
'BLAKE2b-256 of the token, keyed with the pepper when apikey.pepper_file is set';

COMMENT ON COLUMN apikey.keys.rate_limits IS
'The key''s own rate limits; NULL means its tier''s';

COMMENT ON COLUMN apikey.keys.jwt_role IS
'Role claim of tokens minted by exchange(); only apikey_admin members can set it';

COMMENT ON COLUMN apikey.keys.lineage IS
'The rotation chain: the id of its first key, copied by rotate(); the chain shares one set of rate limits, concurrency and quota counters';

COMMENT ON COLUMN apikey.keys.disabled_at IS
'Set by disable(), cleared by enable(): the key answers DISABLED (403) meanwhile';

COMMENT ON COLUMN apikey.keys.max_uses IS
'Admitted check() requests the key may make in all; then USAGE_EXCEEDED (403)';

COMMENT ON COLUMN apikey.keys.priority IS
'0 (shed first) to 3 (shed last) under apikey.max_inflight; NULL means the tier''s';

COMMENT ON COLUMN apikey.keys.expiry_warned_for IS
'The expires_at the worker last warned about (apikey.expiry_warning)';

-- ALWAYS: a revocation applied with session_replication_role = replica (by
-- logical replication, or by hand) must reach the caches all the same.
ALTER TABLE apikey.keys ENABLE ALWAYS TRIGGER keys_invalidate_insert;

ALTER TABLE apikey.keys ENABLE ALWAYS TRIGGER keys_invalidate_update;

ALTER TABLE apikey.keys ENABLE ALWAYS TRIGGER keys_invalidate_delete;

ALTER TABLE apikey.keys ENABLE ALWAYS TRIGGER keys_invalidate_truncate;

-- Row-level security: owners see only their own keys, admins all of them.
ALTER TABLE apikey.keys ENABLE ROW LEVEL SECURITY;

ALTER TABLE apikey.keys FORCE ROW LEVEL SECURITY;

-- Owners read their rows, never key_hash; every write goes through the
-- lifecycle functions (SECURITY DEFINER).
GRANT SELECT (id, prefix, owner, org, name, scopes, tier, rate_limits,
              daily_quota, monthly_quota, max_concurrency, allowed_ips,
              metadata, created_at, expires_at, revoked_at, revoke_reason,
              last_used_at, rotated_from, rotated_to, jwt_role, lineage,
              disabled_at, disable_reason, disabled_by_admin, max_uses, priority,
              expiry_warned_for)
    ON apikey.keys TO PUBLIC;

-- Quota counts, per key lineage (a key and the keys rotated from it, or to
-- it, count together), per owner with limits (subject: owner_limits.id) and
-- per key with max_uses (subject: its id with the uuid version nibble 0xF,
-- day 'infinity'-like 9999-12-31): written by the worker from shared memory,
-- read back when a counter returns to it.  Nobody else writes them, and
-- nobody can lock them (no UPDATE, no REFERENCES): the worker never waits.
CREATE TABLE apikey.quota_counters (
    subject         uuid CONSTRAINT quota_counters_pkey PRIMARY KEY,
    day             date,
    day_used        bigint NOT NULL DEFAULT 0,
    month           date,
    month_used      bigint NOT NULL DEFAULT 0
) WITH (fillfactor = 70);

  -- room for the worker's HOT updates

COMMENT ON TABLE apikey.quota_counters IS
'Daily and monthly quota counts per key lineage and per owner, and uses of keys with max_uses, as of the worker''s last flush; apikey.key_list shows a key''s live';

ALTER TABLE apikey.quota_counters ENABLE ROW LEVEL SECURITY;

ALTER TABLE apikey.quota_counters FORCE ROW LEVEL SECURITY;

CREATE POLICY quota_counters_admin ON apikey.quota_counters TO apikey_admin USING (true);

-- keys is itself filtered to the caller's own rows
CREATE POLICY quota_counters_owner ON apikey.quota_counters TO PUBLIC
    USING (subject IN (SELECT k.lineage FROM apikey.keys AS k));

GRANT SELECT ON apikey.quota_counters TO PUBLIC;

CREATE OR REPLACE VIEW apikey.key_list WITH (security_invoker = true) AS
SELECT k.id, k.prefix, k.owner, k.org, k.name, k.scopes, k.tier,
       k.rate_limits, k.daily_quota, k.monthly_quota, k.max_concurrency,
       k.allowed_ips, k.metadata, k.created_at, k.expires_at, k.revoked_at,
       k.revoke_reason, k.last_used_at, k.rotated_from, k.rotated_to,
       k.jwt_role, q.day_used AS daily_usage, q.day AS usage_day,
       q.month_used AS monthly_usage, q.month AS usage_month,
       apikey._key_status(k.revoked_at, k.expires_at, k.rotated_to, k.disabled_at) AS status,
       k.lineage, k.disabled_at, k.disable_reason, k.disabled_by_admin, k.max_uses,
       k.priority, k.expiry_warned_for
  FROM apikey.keys AS k
  LEFT JOIN LATERAL apikey._quota_counts(k.id) AS q ON true;

COMMENT ON VIEW apikey.key_list IS
'apikey.keys without key_hash, with the status of each key and its live quota counts';

-- A security_invoker view: readers see the rows of keys they may see.
GRANT SELECT ON apikey.key_list TO PUBLIC;

COMMENT ON TABLE apikey.audit_log IS
'Append-only record of every key change and denied request';

COMMENT ON COLUMN apikey.audit_log.actor IS
'The current role of the caller (after SET ROLE), or apikey worker';

COMMENT ON COLUMN apikey.audit_log.session_role IS
'The role the caller''s session logged in as (PostgREST: its authenticator)';

COMMENT ON COLUMN apikey.audit_log.subject IS
'The JWT "sub" claim of a PostgREST request, as PostgREST set it; NULL elsewhere';

COMMENT ON COLUMN apikey.audit_log.actor_key_id IS
'The key check_request() verified in the caller''s transaction, if any';

-- ALWAYS: session_replication_role = replica must not be a way around them.
ALTER TABLE apikey.audit_log ENABLE ALWAYS TRIGGER audit_log_append_only;

ALTER TABLE apikey.audit_log ENABLE ALWAYS TRIGGER audit_log_no_truncate;

-- Owners read their own trail; admins all of it.  Rows are written by the
-- lifecycle functions and the worker only.
ALTER TABLE apikey.audit_log ENABLE ROW LEVEL SECURITY;

ALTER TABLE apikey.audit_log FORCE ROW LEVEL SECURITY;

GRANT SELECT ON apikey.audit_log TO PUBLIC;

COMMENT ON TABLE apikey.usage_hours IS
'Requests per key and UTC hour as the worker last wrote them (every apikey.usage_flush_interval); apikey.usage_hourly adds what is not written yet';

COMMENT ON COLUMN apikey.usage_hours.requests IS
'check() calls: allowed + rate_limited + quota_exceeded + denied_auth';

COMMENT ON COLUMN apikey.usage_hours.rate_limited IS
'Refused with 429 or 503 other than by a quota (RATE_LIMITED, CONCURRENCY_LIMITED, BLOCKED, OVERLOADED)';

COMMENT ON COLUMN apikey.usage_hours.denied_auth IS
'Refused with 401 or 403 although the token named this key (REVOKED, EXPIRED, IP_NOT_ALLOWED, INSUFFICIENT_SCOPE)';

COMMENT ON COLUMN apikey.usage_hours.cost_units IS
'Units debited by allowed check() and consume() calls';

COMMENT ON COLUMN apikey.usage_hours.avg_ms IS
'Mean duration of allowed requests, from check() to the end of their transaction';

COMMENT ON COLUMN apikey.usage_hours.endpoints IS
'Per request.path: {"requests", "allowed", "total_ms"}; the 31 busiest, the rest as "(other)"';

COMMENT ON COLUMN apikey.usage_hours.latency_hist IS
'The durations as a 40-bucket log-scale histogram (see apikey.latency_quantile)';

-- Owners read the usage of their own keys; admins all of it.  The worker
-- writes it.
ALTER TABLE apikey.usage_hours ENABLE ROW LEVEL SECURITY;

ALTER TABLE apikey.usage_hours FORCE ROW LEVEL SECURITY;

GRANT SELECT ON apikey.usage_hours TO PUBLIC;

COMMENT ON AGGREGATE apikey.latency_sum(bigint[]) IS
'Adds latency histograms (usage_hourly.latency_hist) of any span';

CREATE OR REPLACE FUNCTION apikey.latency_quantile(hist bigint[], q double precision)
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

------------------------------------------------------------------------
-- Key lifecycle
------------------------------------------------------------------------

-- issue, rotate, revoke and update are SECURITY DEFINER and check the
-- caller themselves (owners manage their own keys, admins any): anyone may
-- call them, through PUBLIC's default EXECUTE.

CREATE FUNCTION apikey.issue(
    owner       text,
    name        text        DEFAULT NULL,
    scopes      text[]      DEFAULT '{}',
    tier        text        DEFAULT 'free',
    expires_at  timestamptz DEFAULT NULL,
    allowed_ips cidr[]      DEFAULT NULL,
    metadata    jsonb       DEFAULT '{}',
    prefix      text        DEFAULT 'ak_live',
    org         text        DEFAULT NULL,
    rate_limits jsonb       DEFAULT NULL,
    max_uses    bigint      DEFAULT NULL)
RETURNS TABLE (key_id uuid, token text, display_prefix text)
LANGUAGE c VOLATILE ROWS 1
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_issue';

COMMENT ON FUNCTION apikey.issue(text, text, text[], text, timestamptz, cidr[], jsonb, text, text, jsonb, bigint) IS
'Issues a key; the token is returned once and only its digest is stored';

CREATE OR REPLACE FUNCTION apikey.rotate(
    key_id  uuid,
    grace   interval DEFAULT '7 days')
RETURNS TABLE (key_id uuid, token text, display_prefix text,
               old_key_expires_at timestamptz)
LANGUAGE c VOLATILE ROWS 1
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_rotate';

COMMENT ON FUNCTION apikey.rotate(uuid, interval) IS
'Issues a new key with the same settings; the old one works until old_key_expires_at';

CREATE OR REPLACE FUNCTION apikey.revoke(
    key_id  uuid,
    reason  text DEFAULT NULL)
RETURNS boolean
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_revoke';

COMMENT ON FUNCTION apikey.revoke(uuid, text) IS
'Revokes a key at once in every backend; false if it no longer worked';

CREATE OR REPLACE FUNCTION apikey.update(
    key_id  uuid,
    changes jsonb)
RETURNS apikey.key_list
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_update';

COMMENT ON FUNCTION apikey.update(uuid, jsonb) IS
'Changes name, scopes, expires_at, allowed_ips, metadata (owners) and tier, rate_limits, quotas, max_concurrency, jwt_role, max_uses, priority (admins)';

-- A key paused and resumed: it answers DISABLED (403) in between.
CREATE FUNCTION apikey.disable(
    key_id  uuid,
    reason  text DEFAULT NULL)
RETURNS boolean
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_disable';

COMMENT ON FUNCTION apikey.disable(uuid, text) IS
'Pauses a key in every backend: it answers DISABLED (403) until enable(); false if it was not active';

CREATE FUNCTION apikey.enable(key_id uuid)
RETURNS boolean
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_enable';

COMMENT ON FUNCTION apikey.enable(uuid) IS
'Resumes a key paused by disable(); false if it was not disabled.  A key an admin disabled only an admin enables';

-- issue_bulk writes what issue() would, key by key, but set-based: every
-- element is checked first, then keys and audit rows go in by batches
-- (src/lifecycle/bulk.c).  Callers who are not admins may issue 100 keys
-- per call, admins any number.  SECURITY DEFINER, as issue() is.

CREATE OR REPLACE FUNCTION apikey.issue_bulk(specs jsonb)
RETURNS TABLE (key_id uuid, token text, display_prefix text)
LANGUAGE c VOLATILE ROWS 100
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_issue_bulk';

COMMENT ON FUNCTION apikey.issue_bulk(jsonb) IS
'Issues a key per element of a JSON array of issue()''s named arguments, all or nothing: up to 100 per call, any number for admins';

-- revoke_bulk and update_bulk call the single forms, as the caller
-- (SECURITY INVOKER): the same owner checks and the same audit rows, all in
-- the caller's transaction, so one failure undoes the whole call.

CREATE OR REPLACE FUNCTION apikey.revoke_bulk(
    key_ids uuid[],
    reason  text    DEFAULT NULL,
    dry_run boolean DEFAULT false)
RETURNS TABLE (key_id uuid, was_active boolean, revoked boolean)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ids     uuid[] := apikey._bulk_ids('revoke_bulk', key_ids, 1000);
    active  boolean[] := '{}';
    i       integer;
BEGIN
    -- A dry run does the real revocations, with every check, then undoes
    -- them: it fails exactly where the real call would.
    BEGIN
        FOR i IN 1 .. cardinality(ids) LOOP
            active := active || apikey.revoke(ids[i], reason);
        END LOOP;
        IF dry_run THEN
            RAISE EXCEPTION USING ERRCODE = 'AKDRY';
        END IF;
    EXCEPTION WHEN SQLSTATE 'AKDRY' THEN
        NULL;
    END;
    RETURN QUERY
    SELECT u.id, u.was_active, u.was_active AND NOT dry_run
      FROM unnest(ids, active) AS u(id, was_active);
END $$;

COMMENT ON FUNCTION apikey.revoke_bulk(uuid[], text, boolean) IS
'Revokes up to 1000 keys, all or nothing; was_active: revoke() would return true; dry_run changes nothing';

CREATE OR REPLACE FUNCTION apikey.update_bulk(key_ids uuid[], changes jsonb)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ids uuid[] := apikey._bulk_ids('update_bulk', key_ids, 1000);
    i   integer;
BEGIN
    FOR i IN 1 .. cardinality(ids) LOOP
        PERFORM apikey.update(ids[i], changes);
    END LOOP;
    RETURN cardinality(ids);
END $$;

COMMENT ON FUNCTION apikey.update_bulk(uuid[], jsonb) IS
'Applies the same changes to up to 1000 keys, all or nothing; returns the number of keys changed';

CREATE OR REPLACE FUNCTION apikey.introspect(display_prefix text)
RETURNS jsonb
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_introspect';

COMMENT ON FUNCTION apikey.introspect(text) IS
'Everything known about a key, by display prefix (admins only; no digest)';

-- Shows any key's settings and live limits: admins only.
REVOKE ALL ON FUNCTION apikey.introspect(text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION apikey.introspect(text) TO apikey_admin;

------------------------------------------------------------------------
-- Owner limits: what every key of an owner shares
------------------------------------------------------------------------

-- One row per owner with limits of its own: rate limits, quotas and a
-- concurrency limit debited together with each key's own, and the most
-- keys the owner may issue itself.  The id is the subject of the owner's
-- buckets and counters in shared memory: it stays when the limits change.
CREATE TABLE apikey.owner_limits (
    id              uuid CONSTRAINT owner_limits_pkey PRIMARY KEY
                    DEFAULT pg_catalog.gen_random_uuid(),
    owner           text COLLATE "C" NOT NULL
                    CONSTRAINT owner_limits_owner_key UNIQUE
                    CHECK (owner OPERATOR(pg_catalog.<>) ''),
    rate_limits     jsonb NOT NULL DEFAULT '[]'
                    CHECK (apikey._check_rate_limits(rate_limits)),
    daily_quota     bigint CHECK (daily_quota OPERATOR(pg_catalog.>=) 0),
    monthly_quota   bigint CHECK (monthly_quota OPERATOR(pg_catalog.>=) 0),
    max_concurrency integer CHECK (max_concurrency OPERATOR(pg_catalog.>) 0),
    max_keys        integer CHECK (max_keys OPERATOR(pg_catalog.>=) 0),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE apikey.owner_limits IS
'Limits every key of an owner shares, on top of each key''s own; set with apikey.set_owner_limits()';

COMMENT ON COLUMN apikey.owner_limits.max_keys IS
'Active keys the owner may have when it issues keys itself (admins are not bound by it)';

-- A change reaches every backend's verification cache at commit: the
-- cached keys carry their owner's limits.
CREATE TRIGGER owner_limits_invalidate
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON apikey.owner_limits
    FOR EACH STATEMENT EXECUTE FUNCTION apikey._invalidate();

-- Owners read their own limits, admins all; every write goes through
-- set_owner_limits(), which audits it.
ALTER TABLE apikey.owner_limits ENABLE ROW LEVEL SECURITY;

ALTER TABLE apikey.owner_limits FORCE ROW LEVEL SECURITY;

CREATE POLICY owner_limits_admin ON apikey.owner_limits TO apikey_admin USING (true);

CREATE POLICY owner_limits_owner ON apikey.owner_limits TO PUBLIC
    USING (owner OPERATOR(pg_catalog.=) (SELECT apikey.current_owner()));

GRANT SELECT ON apikey.owner_limits TO PUBLIC;

CREATE FUNCTION apikey.set_owner_limits(owner text, limits jsonb)
RETURNS apikey.owner_limits
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_set_owner_limits';

COMMENT ON FUNCTION apikey.set_owner_limits(text, jsonb) IS
'Sets the limits every key of an owner shares: rate_limits, daily_quota, monthly_quota, max_concurrency, max_keys; NULL or {} removes them (admins only)';

-- Limits are the admins' to set; the function says so to anyone else.

-- An owner reads the counters of its owner limits' quotas as well.
CREATE POLICY quota_counters_owner_limits ON apikey.quota_counters TO PUBLIC
    USING (subject IN (SELECT o.id FROM apikey.owner_limits AS o));

SELECT pg_catalog.pg_extension_config_dump('apikey.owner_limits', '');

------------------------------------------------------------------------
-- Verification (the hot path: shared and backend memory only)
------------------------------------------------------------------------

-- Anyone may call these (PUBLIC's default EXECUTE), as every request does:
-- verify() and check() answer only about the token they are given.

CREATE FUNCTION apikey.verify(
    token     text,
    scope     text DEFAULT NULL,
    client_ip text DEFAULT NULL)
RETURNS apikey.verification
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_verify_0_2';

COMMENT ON FUNCTION apikey.verify(text, text, text) IS
'VALID, MALFORMED, NOT_FOUND, REVOKED, EXPIRED, DISABLED, BLOCKED, IP_NOT_ALLOWED or INSUFFICIENT_SCOPE; never raises for a bad token';

CREATE FUNCTION apikey.check(
    token     text,
    scope     text    DEFAULT NULL,
    client_ip text    DEFAULT NULL,
    cost      integer DEFAULT 1,
    endpoint  text    DEFAULT NULL,
    method    text    DEFAULT NULL)
RETURNS apikey.check_result
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_check_0_2';

COMMENT ON FUNCTION apikey.check(text, text, text, integer, text, text) IS
'verify, address blocks and abuse cooldown, per-address limit, in-flight and concurrency limits, quotas, then the key''s and its owner''s rate limits; with HTTP status and headers.  cost 0 looks without taking anything; an endpoint opens a request that finish() closes';

-- An application's request, opened by check(..., endpoint => ...), is
-- closed with its real status and duration.
CREATE FUNCTION apikey.finish(
    status  integer,
    latency interval DEFAULT NULL)
RETURNS boolean
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_finish';

COMMENT ON FUNCTION apikey.finish(integer, interval) IS
'Closes the request check(..., endpoint => ...) opened in this session: its HTTP status and latency go to usage and its access event; false if none is open';

-- Anyone holding a token may see the limits of its key, as verify()
-- tells them its scopes.
CREATE FUNCTION apikey.limits(token text)
RETURNS TABLE (name text, kind text, applies_to text, limit_value bigint,
               remaining bigint, reset_at timestamptz, shadow boolean)
LANGUAGE c VOLATILE ROWS 8
AS 'MODULE_PATHNAME', 'apikey_limits';

COMMENT ON FUNCTION apikey.limits(text) IS
'Every limit of the key a token names, its owner''s included, as it stands now: rate limits, quotas, concurrency, uses; no rows if the token does not verify';

CREATE OR REPLACE FUNCTION apikey.consume(
    key_id             uuid,
    cost               integer DEFAULT 1,
    refund_on_rollback boolean DEFAULT false)
RETURNS apikey.limit_result
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_consume';

COMMENT ON FUNCTION apikey.consume(uuid, integer, boolean) IS
'Debits cost from the quotas and rate limits of a key and its owner, all or none';

CREATE OR REPLACE FUNCTION apikey.throttle(
    bucket text,
    rate   integer,
    period interval,
    burst  integer DEFAULT NULL,
    cost   integer DEFAULT 1)
RETURNS apikey.limit_result
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_throttle';

COMMENT ON FUNCTION apikey.throttle(text, integer, interval, integer, integer) IS
'A token bucket in shared memory for any subject: rate per period, burst (default rate)';

-- throttle() names an administrator shares between the roles of the
-- database, with the parameters every call must give.
CREATE TABLE apikey.shared_throttles (
    name            text CONSTRAINT shared_throttles_pkey PRIMARY KEY
                    CHECK (octet_length(name) OPERATOR(pg_catalog.<=) 255 AND
                           name OPERATOR(pg_catalog.<>) ''),
    rate            integer NOT NULL CHECK (rate OPERATOR(pg_catalog.>) 0),
    period          interval NOT NULL
                    CHECK (period OPERATOR(pg_catalog.>) '0'::interval),
    burst           integer CHECK (burst OPERATOR(pg_catalog.>) 0),
    declared_by     name NOT NULL DEFAULT CURRENT_USER,
    declared_at     timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE apikey.shared_throttles IS
'throttle() names shared by every role of the database; other names are private to the calling role';

CREATE TRIGGER shared_throttles_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON apikey.shared_throttles
    FOR EACH STATEMENT EXECUTE FUNCTION apikey._shared_throttles_changed();

GRANT SELECT ON apikey.shared_throttles TO PUBLIC;

GRANT INSERT, UPDATE, DELETE ON apikey.shared_throttles TO apikey_admin;

CREATE FUNCTION apikey.clear_throttles(role regrole, bucket text DEFAULT NULL)
RETURNS bigint
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_clear_throttles';

COMMENT ON FUNCTION apikey.clear_throttles(regrole, text) IS
'Removes a role''s throttle() buckets in this database (role NULL: the shared names''), or only one bucket; returns how many';

REVOKE ALL ON FUNCTION apikey.clear_throttles(regrole, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION apikey.clear_throttles(regrole, text) TO apikey_admin;

CREATE FUNCTION apikey.reset_buckets(class text DEFAULT NULL)
RETURNS bigint
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_reset_buckets';

COMMENT ON FUNCTION apikey.reset_buckets(text) IS
'Forgets every bucket and cooldown of a class (key, address, named, cooldown; NULL: all), as a restart would; returns how many';

REVOKE ALL ON FUNCTION apikey.reset_buckets(text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION apikey.reset_buckets(text) TO apikey_admin;

COMMENT ON TABLE apikey.scope_map IS
'What check_request() requires -- a scope, a signature, or nothing on a public endpoint: the matching row (method or *, LIKE pattern on request.path) with the highest priority, then the longest pattern; no match requires nothing';

COMMENT ON COLUMN apikey.scope_map.require_signature IS
'Requests must carry an HMAC signature of the key''s signing secret (doc/authentication.md)';

COMMENT ON COLUMN apikey.scope_map.public IS
'No key needed: a request without one is anonymous, limited per client address; a key sent is checked as usual';

-- also when applied with session_replication_role = replica
ALTER TABLE apikey.scope_map ENABLE ALWAYS TRIGGER scope_map_changed;

-- Which scope each endpoint requires is the admins' to read and change.
REVOKE ALL ON apikey.scope_map FROM PUBLIC;

GRANT SELECT, INSERT, UPDATE, DELETE ON apikey.scope_map TO apikey_admin;

CREATE OR REPLACE FUNCTION apikey.check_request()
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_check_request';

COMMENT ON FUNCTION apikey.check_request() IS
'PostgREST db-pre-request: checks the key of the request (header apikey.header), adds the rate-limit headers, or raises the HTTP error';

CREATE FUNCTION apikey.exchange(token text, ttl interval DEFAULT '1 hour',
                                refresh boolean DEFAULT false)
RETURNS jsonb
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_exchange';

COMMENT ON FUNCTION apikey.exchange(text, interval, boolean) IS
'Trades a valid key for an HS256 JWT signed with apikey.jwt_secret: {access_token, token_type, expires_in}; with refresh, also {refresh_token, refresh_expires_in}';

-- The roles PostgREST impersonates get what a request needs, by name, so
-- that revoking PUBLIC's defaults leaves PostgREST working.
DO $$
DECLARE
    r name;
BEGIN
    FOR r IN SELECT rolname FROM pg_catalog.pg_roles
              WHERE rolname OPERATOR(pg_catalog.=) ANY ('{anon,authenticated,service_role}')
    LOOP
        EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA apikey TO %I', r);
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION apikey.check_request(),'
                                  ' apikey.exchange(text, interval, boolean), apikey.current_owner(),'
                                  ' apikey.current_key_id() TO %I', r);
    END LOOP;
END $$;

------------------------------------------------------------------------
-- Address blocks and abuse cooldowns
------------------------------------------------------------------------

-- Addresses answered BLOCKED before their token is even looked at: for
-- every request (owner NULL, admins only) or for one owner's keys.  Each
-- backend keeps them in memory, read again when a change commits.
CREATE TABLE apikey.address_blocks (
    addresses   cidr NOT NULL,
    owner       text,
    reason      text NOT NULL CHECK (reason OPERATOR(pg_catalog.<>) ''),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    expires_at  timestamptz,
    created_by  text NOT NULL,
    CONSTRAINT address_blocks_addresses_owner_key
        UNIQUE NULLS NOT DISTINCT (addresses, owner)
);

CREATE INDEX address_blocks_owner_idx ON apikey.address_blocks (owner);

COMMENT ON TABLE apikey.address_blocks IS
'Client addresses answered BLOCKED: for every request (owner NULL) or for the keys of one owner; set with apikey.block()';

CREATE FUNCTION apikey._blocks_changed()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'apikey_blocks_changed';

-- Only ever run as a trigger: no one needs to call it.
REVOKE ALL ON FUNCTION apikey._blocks_changed() FROM PUBLIC;

-- every backend reads the blocks again once the change commits
CREATE TRIGGER address_blocks_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON apikey.address_blocks
    FOR EACH STATEMENT EXECUTE FUNCTION apikey._blocks_changed();

-- Owners read the blocks of their keys, admins all; every write goes
-- through block() and unblock(), which audit it.
ALTER TABLE apikey.address_blocks ENABLE ROW LEVEL SECURITY;

ALTER TABLE apikey.address_blocks FORCE ROW LEVEL SECURITY;

CREATE POLICY address_blocks_admin ON apikey.address_blocks TO apikey_admin USING (true);

CREATE POLICY address_blocks_owner ON apikey.address_blocks TO PUBLIC
    USING (owner OPERATOR(pg_catalog.=) (SELECT apikey.current_owner()));

GRANT SELECT ON apikey.address_blocks TO PUBLIC;

CREATE FUNCTION apikey.block(
    addresses cidr,
    reason    text,
    duration  interval DEFAULT NULL,
    owner     text     DEFAULT NULL)
RETURNS apikey.address_blocks
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_block';

COMMENT ON FUNCTION apikey.block(cidr, text, interval, text) IS
'Blocks client addresses for duration (NULL: until unblock()): for every request (owner NULL, admins only), or for the keys of owner';

CREATE FUNCTION apikey.unblock(addresses cidr)
RETURNS integer
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_unblock';

COMMENT ON FUNCTION apikey.unblock(cidr) IS
'Removes the blocks of exactly these addresses the caller may manage and, for admins, lifts the abuse cooldowns of the addresses in them; returns how many';

CREATE FUNCTION apikey.unblock_key(display_prefix text)
RETURNS boolean
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_unblock_key';

COMMENT ON FUNCTION apikey.unblock_key(text) IS
'Lifts the abuse cooldown of a display prefix (admins only); false if it had none';

-- Cooldowns are the server's: admins only.
REVOKE ALL ON FUNCTION apikey.unblock_key(text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION apikey.unblock_key(text) TO apikey_admin;

-- The abuse cooldowns in force, from shared memory: rows for admins only.
CREATE FUNCTION apikey._cooldowns(
    OUT address   cidr,
    OUT subject   bytea,
    OUT until     timestamptz)
RETURNS SETOF record
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_cooldowns';

-- The subject a display prefix's cooldown is kept under.
CREATE FUNCTION apikey._name_subject(name text)
RETURNS bytea
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'apikey_name_subject';

CREATE VIEW apikey.blocks WITH (security_invoker = true) AS
SELECT 'block'::text AS kind, b.addresses, NULL::text AS display_prefix,
       b.owner, b.reason, b.created_at, b.expires_at, b.created_by
  FROM apikey.address_blocks AS b
 WHERE b.expires_at IS NULL OR b.expires_at > pg_catalog.now()
UNION ALL
SELECT 'cooldown', c.address, k.prefix, k.owner,
       'failed verifications', NULL, c.until, NULL
  FROM apikey._cooldowns() AS c
  LEFT JOIN apikey.keys AS k
    ON c.address IS NULL AND apikey._name_subject(k.prefix) = c.subject;

COMMENT ON VIEW apikey.blocks IS
'Address blocks in force and, for admins, the abuse cooldowns in force (of an address, or of a key''s display prefix)';

-- security_invoker: owners see the blocks of their keys, admins all.
GRANT SELECT ON apikey.blocks TO PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('apikey.address_blocks', '');

------------------------------------------------------------------------
-- Enterprise authentication (doc/authentication.md): request signing,
-- client certificates, refresh tokens, leak reports
------------------------------------------------------------------------

-- Request signing.  A key's signing secret is derived from the server's
-- root secret (apikey.signing_key_file) and the key's id: it is stored
-- nowhere.

CREATE TYPE apikey.signature_verification AS (
    valid   boolean,
    code    text,
    key_id  uuid,
    owner   text
);

CREATE FUNCTION apikey.signing_secret(key_id uuid)
RETURNS text
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_signing_secret';

COMMENT ON FUNCTION apikey.signing_secret(uuid) IS
'The secret requests of this key are signed with (HMAC-SHA-256); for its owner or an admin, audited';

-- Checks the caller itself (the key's owner or an admin): anyone may call
-- it, through PUBLIC's default EXECUTE.

CREATE FUNCTION apikey.verify_signature(
    key         text,
    method      text,
    path        text,
    ts          bigint,
    body_sha256 text,
    signature   text,
    nonce       text DEFAULT NULL)
RETURNS apikey.signature_verification
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_verify_signature';

COMMENT ON FUNCTION apikey.verify_signature(text, text, text, bigint, text, text, text) IS
'VALID, SIGNATURE_INVALID, SIGNATURE_EXPIRED, REPLAYED, NONCE_STORE_UNAVAILABLE, or the key''s own code; key is a display prefix or a key id';

-- Anyone may call it, as anyone may call verify(): without the signing
-- secret nothing passes.  SECURITY DEFINER to find a key by its display
-- prefix whoever owns it.

-- Client certificates.  The registry says which certificates are let in
-- and for whom; the TLS handshake (ssl_ca_file, or the proxy) has checked
-- their chain of trust.

CREATE TABLE apikey.certificates (
    id          uuid CONSTRAINT certificates_pkey PRIMARY KEY
                DEFAULT pg_catalog.gen_random_uuid(),
    fingerprint text COLLATE "C" NOT NULL
                CHECK (fingerprint OPERATOR(pg_catalog.~) '^[0-9a-f]{64}$'),
    subject_cn  text,
    issuer      text NOT NULL,
    not_before  timestamptz NOT NULL,
    not_after   timestamptz NOT NULL,
    owner       text NOT NULL,
    org         text,
    name        text,
    scopes      text[] NOT NULL DEFAULT '{}',
    tier        text COLLATE "C" NOT NULL DEFAULT 'free'
                CONSTRAINT certificates_tier_fkey REFERENCES apikey.tiers (name)
                ON UPDATE CASCADE,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    revoked_at  timestamptz,
    CONSTRAINT certificates_revoked_check
        CHECK (active OPERATOR(pg_catalog.=) (revoked_at IS NULL))
);

-- verification reads every registration of a fingerprint through this
-- index (src/auth/certificate.c); at most one of them is active
CREATE INDEX certificates_fingerprint_idx ON apikey.certificates (fingerprint);

CREATE UNIQUE INDEX certificates_active_key ON apikey.certificates (fingerprint)
    WHERE active;

CREATE INDEX certificates_owner_idx ON apikey.certificates (owner);

COMMENT ON TABLE apikey.certificates IS
'Client certificates let in, by the SHA-256 fingerprint of their DER, and the owner each acts for';

COMMENT ON COLUMN apikey.certificates.fingerprint IS
'SHA-256 of the certificate''s DER, 64 lower-case hexadecimal digits (openssl x509 -fingerprint -sha256, without colons)';

COMMENT ON COLUMN apikey.certificates.tier IS
'The tier whose rate limits the owner''s certificate requests are debited from';

-- Owners see their own certificates, admins all of them; every write goes
-- through register_certificate() and revoke_certificate().
ALTER TABLE apikey.certificates ENABLE ROW LEVEL SECURITY;

ALTER TABLE apikey.certificates FORCE ROW LEVEL SECURITY;

CREATE POLICY certificates_admin ON apikey.certificates TO apikey_admin USING (true);

CREATE POLICY certificates_owner ON apikey.certificates TO PUBLIC
    USING (owner OPERATOR(pg_catalog.=) (SELECT apikey.current_owner()));

GRANT SELECT ON apikey.certificates TO PUBLIC;

CREATE TYPE apikey.certificate_verification AS (
    valid       boolean,
    code        text,
    cert_id     uuid,
    owner       text,
    org         text,
    subject_cn  text,
    not_after   timestamptz
);

CREATE FUNCTION apikey.register_certificate(
    pem     text,
    owner   text,
    name    text   DEFAULT NULL,
    scopes  text[] DEFAULT '{}',
    org     text   DEFAULT NULL,
    tier    text   DEFAULT 'free')
RETURNS TABLE (cert_id uuid, fingerprint text, subject_cn text, not_after timestamptz)
LANGUAGE c VOLATILE ROWS 1
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_register_certificate';

COMMENT ON FUNCTION apikey.register_certificate(text, text, text, text[], text, text) IS
'Registers a client certificate (PEM) for an owner; its requests act for the owner';

CREATE FUNCTION apikey.revoke_certificate(cert_id uuid)
RETURNS boolean
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_revoke_certificate';

COMMENT ON FUNCTION apikey.revoke_certificate(uuid) IS
'Revokes a certificate''s registration; false if it was revoked already';

-- register and revoke check the caller themselves (owners their own,
-- admins any): anyone may call them, through PUBLIC's default EXECUTE.

CREATE FUNCTION apikey.verify_certificate(fingerprint text DEFAULT NULL)
RETURNS apikey.certificate_verification
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_verify_certificate';

COMMENT ON FUNCTION apikey.verify_certificate(text) IS
'VALID, CERT_MISSING, CERT_UNKNOWN, CERT_EXPIRED, CERT_NOT_YET_VALID or CERT_REVOKED; without a fingerprint, the session''s own TLS client certificate';

-- Anyone may call it, as anyone may call verify(): a fingerprint is no
-- proof of possession, and the owner is told only for a certificate that
-- verifies.  It reads the registry through its index, whoever calls.

-- Refresh tokens of exchange()'s JWT sessions.  Only digests are stored;
-- nobody reads them but the extension's functions.

CREATE TABLE apikey.refresh_tokens (
    id              uuid CONSTRAINT refresh_tokens_pkey PRIMARY KEY
                    DEFAULT pg_catalog.gen_random_uuid(),
    family_id       uuid NOT NULL,
    key_id          uuid NOT NULL CONSTRAINT refresh_tokens_key_id_fkey
                    REFERENCES apikey.keys (id) ON DELETE CASCADE,
    token_hash      bytea NOT NULL CONSTRAINT refresh_tokens_token_hash_key UNIQUE
                    CHECK (pg_catalog.octet_length(token_hash) OPERATOR(pg_catalog.=) 32),
    access_ttl      interval NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    revoked_at      timestamptz,
    revoke_reason   text
);

CREATE INDEX refresh_tokens_family_idx ON apikey.refresh_tokens (family_id);

CREATE INDEX refresh_tokens_key_id_idx ON apikey.refresh_tokens (key_id);

CREATE INDEX refresh_tokens_expires_at_idx ON apikey.refresh_tokens (expires_at);

COMMENT ON TABLE apikey.refresh_tokens IS
'Refresh tokens of exchange(refresh => true), by digest: each used once, a family revoked when one is reused';

COMMENT ON COLUMN apikey.refresh_tokens.family_id IS
'The session: the first token and every token refresh() returned from it';

-- Written by exchange() and refresh() only (SECURITY DEFINER).  Admins may
-- read the sessions, never the digests.
REVOKE ALL ON apikey.refresh_tokens FROM PUBLIC;

GRANT SELECT (id, family_id, key_id, access_ttl, created_at, expires_at,
              used_at, revoked_at, revoke_reason)
    ON apikey.refresh_tokens TO apikey_admin;

CREATE FUNCTION apikey.refresh(refresh_token text)
RETURNS jsonb
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_refresh';

COMMENT ON FUNCTION apikey.refresh(text) IS
'A new access token and refresh token for a refresh token, used up; a refusal is returned as {code, message, details, hint}';

-- Anyone may call it (PUBLIC's default EXECUTE): the refresh token is the
-- credential.  The PostgREST roles get it by name below.

DO $$
DECLARE
    r name;
BEGIN
    FOR r IN SELECT rolname FROM pg_catalog.pg_roles
              WHERE rolname OPERATOR(pg_catalog.=) ANY ('{anon,authenticated,service_role}')
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION apikey.refresh(text) TO %I', r);
    END LOOP;
END $$;

-- Leak reports.  Members of apikey_leak_reporter may revoke any key whose
-- token they present, as GitHub's secret scanning partners do; the role
-- belongs to the cluster, so it is created only if missing.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles
                   WHERE rolname OPERATOR(pg_catalog.=) 'apikey_leak_reporter') THEN
        CREATE ROLE apikey_leak_reporter NOLOGIN;
    END IF;
END
$$;

CREATE FUNCTION apikey.report_leak(token text, source text)
RETURNS text
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_report_leak';

COMMENT ON FUNCTION apikey.report_leak(text, text) IS
'Revokes the key (or refresh tokens) of a leaked token and audits the source: REVOKED, ALREADY_REVOKED, NOT_FOUND, MALFORMED or STATIC_KEY';

-- Revokes keys of any owner: the leak reporters' and admins' only.
REVOKE ALL ON FUNCTION apikey.report_leak(text, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION apikey.report_leak(text, text) TO apikey_leak_reporter, apikey_admin;

------------------------------------------------------------------------
-- Live counters (admins only)
------------------------------------------------------------------------

CREATE VIEW apikey.stats WITH (security_invoker = true) AS
SELECT * FROM apikey._stats();

COMMENT ON VIEW apikey.stats IS
'Live counters from shared memory, summed over all backends since the server started';

-- Admins only, as apikey._stats() is.
GRANT SELECT ON apikey.stats TO apikey_admin;

CREATE VIEW apikey.bucket_use WITH (security_invoker = true) AS
SELECT * FROM apikey._bucket_use();

COMMENT ON VIEW apikey.bucket_use IS
'Cells in shared memory by class; throttle() buckets by role and database (role NULL: shared names)';

GRANT SELECT ON apikey.bucket_use TO apikey_admin;

------------------------------------------------------------------------
-- The security report: settings that can put tokens or digests in a log
-- or a view (doc/security.md, "Logging and secrets")
------------------------------------------------------------------------

-- One row per setting: its value in this session (NULL when the module
-- that defines it is not loaded), what a role that carries tokens should
-- have, whether it has it, and why.  Set the recommended values for those
-- roles (ALTER ROLE authenticator SET ...) and check them in a session of
-- that role.  The last rows look for secrets in role and database
-- settings, which every role can read in pg_db_role_setting.
CREATE FUNCTION apikey.security_report()
RETURNS TABLE (setting text, current_value text, recommended text, ok boolean, reason text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT r.setting, v.value, r.recommended,
       v.value IS NULL OR v.value OPERATOR(pg_catalog.=) ANY (r.safe), r.reason
  FROM (VALUES
    ('log_statement', 'none', ARRAY['none'],
     'Logs the text of statements, tokens included as literals, and their bind parameters. apikey masks well-formed tokens in these lines; static keys and JWTs it cannot recognize.'),
    ('log_min_duration_statement', '-1', ARRAY['-1'],
     'Logs slow statements with their text and parameters, whatever log_statement says.'),
    ('log_min_error_statement', 'panic', ARRAY['panic'],
     'Logs the statement of every failed query (and of LOG messages). apikey hides the statement when it holds a well-formed token, even for errors raised before apikey runs; not for a static key or a JWT.'),
    ('log_parameter_max_length', '0', ARRAY['0'],
     'How much of each bind parameter log_statement and log_min_duration_statement print: -1 is all of it, the token of "SELECT apikey.check($1)" included.'),
    ('log_parameter_max_length_on_error', '0', ARRAY['0'],
     'How much of each bind parameter is printed with an error.'),
    ('debug_print_parse', 'off', ARRAY['off'],
     'Logs query trees, with their constants.'),
    ('debug_print_rewritten', 'off', ARRAY['off'],
     'Logs rewritten query trees, with their constants.'),
    ('debug_print_plan', 'off', ARRAY['off'],
     'Logs plans, with their constants.'),
    ('track_activities', 'off', ARRAY['off'],
     'Shows each running statement, token included, in pg_stat_activity to its role and to pg_read_all_stats, and in "Failed process was running" after a crash (apikey masks tokens there).'),
    ('track_activity_query_size', '1kB', NULL,
     'How much of a statement pg_stat_activity and the crash report keep; a token cut short at its end is masked all the same.'),
    ('pg_stat_statements.track_utility', 'off', ARRAY['off'],
     'Keeps utility statements verbatim (SET apikey.static_key = ...), where normal queries have their constants replaced by $n.'),
    ('auto_explain.log_min_duration', '-1', ARRAY['-1'],
     'Logs plans and query text of slow statements; apikey masks tokens, and digests in plans that name apikey.'),
    ('auto_explain.log_nested_statements', 'off', ARRAY['off'],
     'Logs the statements of functions, apikey''s own included: a key''s digest appears in issue() and rotate() plans.'),
    ('auto_explain.log_parameter_max_length', '0', ARRAY['0'],
     'Logs bind parameters of the statements it explains (PostgreSQL 16 and later).'),
    ('auto_explain.log_verbose', 'off', ARRAY['off'],
     'Shows output columns with their constants in plans.')
  ) AS r(setting, recommended, safe, reason),
  LATERAL (SELECT pg_catalog.current_setting(r.setting, true) AS value) AS v
UNION ALL
SELECT 'pg_db_role_setting: ' OPERATOR(pg_catalog.||) s.name,
       pg_catalog.count(c.cfg)::text OPERATOR(pg_catalog.||) ' in clear',
       '0', pg_catalog.count(c.cfg) OPERATOR(pg_catalog.=) 0,
       'Role and database settings are readable by every role: a secret set with ALTER ROLE or ALTER DATABASE is public. apikey refuses them; remove any left from before (ALTER ROLE ... RESET).'
  FROM (VALUES ('apikey.static_key'), ('apikey.jwt_secret')) AS s(name)
  LEFT JOIN (SELECT x.cfg FROM pg_catalog.pg_db_role_setting d, pg_catalog.unnest(d.setconfig) AS x(cfg)) AS c
    ON pg_catalog.starts_with(c.cfg, s.name OPERATOR(pg_catalog.||) '=')
   AND NOT pg_catalog.starts_with(c.cfg, 'apikey.static_key=blake2b:')
 GROUP BY s.name
$$;

COMMENT ON FUNCTION apikey.security_report() IS
'Settings that can put tokens or digests in a log or a view: value in this session, recommended value for roles that carry tokens, and why';

-- Admins read it: it says where secrets may have leaked.
REVOKE ALL ON FUNCTION apikey.security_report() FROM PUBLIC;

GRANT EXECUTE ON FUNCTION apikey.security_report() TO apikey_admin;

-- pg_dump keeps the rows of these tables (the three seeded tiers are
-- re-created by CREATE EXTENSION, so only tiers added later are dumped).
SELECT pg_catalog.pg_extension_config_dump('apikey.keys', '');

SELECT pg_catalog.pg_extension_config_dump('apikey.audit_log', '');

SELECT pg_catalog.pg_extension_config_dump('apikey.audit_log_id_seq', '');

SELECT pg_catalog.pg_extension_config_dump('apikey.usage_hours', '');

SELECT pg_catalog.pg_extension_config_dump('apikey.scope_map', '');

SELECT pg_catalog.pg_extension_config_dump('apikey.quota_counters', '');

SELECT pg_catalog.pg_extension_config_dump('apikey.shared_throttles', '');

SELECT pg_catalog.pg_extension_config_dump('apikey.certificates', '');

SELECT pg_catalog.pg_extension_config_dump('apikey.refresh_tokens', '');

SELECT pg_catalog.pg_extension_config_dump('apikey.tiers',
    $$WHERE name NOT IN ('free', 'premium', 'enterprise')$$);

------------------------------------------------------------------------
-- The worker of this database
------------------------------------------------------------------------

-- The launcher starts a worker in each database where apikey is installed;
-- this asks for one as soon as the installation commits.
CREATE FUNCTION apikey._serve_database()
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_serve_database';

REVOKE ALL ON FUNCTION apikey._serve_database() FROM PUBLIC;


------------------------------------------------------------------------
-- 3. What 0.1.0 had and 0.2.0 has not
------------------------------------------------------------------------

-- The quota counts of 0.1.0's keys, added up per lineage for the latest
-- day and month counted: a counter that comes back into shared memory
-- starts from its row.
INSERT INTO apikey.quota_counters (subject, day, day_used, month, month_used)
SELECT c.lineage, c.last_day,
       coalesce(pg_catalog.sum(c.daily_usage)
                FILTER (WHERE c.usage_day OPERATOR(pg_catalog.=) c.last_day), 0),
       c.last_month,
       coalesce(pg_catalog.sum(c.monthly_usage)
                FILTER (WHERE c.usage_month OPERATOR(pg_catalog.=) c.last_month), 0)
  FROM (SELECT k.lineage, k.daily_usage, k.usage_day, k.monthly_usage, k.usage_month,
               pg_catalog.max(k.usage_day) OVER w AS last_day,
               pg_catalog.max(k.usage_month) OVER w AS last_month
          FROM apikey.keys AS k
        WINDOW w AS (PARTITION BY k.lineage)) AS c
 WHERE c.last_day IS NOT NULL OR c.last_month IS NOT NULL
 GROUP BY c.lineage, c.last_day, c.last_month;

ALTER TABLE apikey.keys
    DROP COLUMN daily_usage,
    DROP COLUMN usage_day,
    DROP COLUMN monthly_usage,
    DROP COLUMN usage_month;

DROP FUNCTION apikey._key_status(timestamptz, timestamptz, uuid);

-- The launcher starts this database's worker once the update commits.
SELECT apikey._serve_database();
