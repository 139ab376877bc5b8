/* apikey 0.1.0: API keys, rate limits and quotas inside PostgreSQL */

\echo Use "CREATE EXTENSION apikey" to load this file. \quit

-- Every name below is schema-qualified and every operator in function
-- bodies is pg_catalog's: the script and the SQL functions must mean the
-- same thing whatever search_path their caller has.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles
                   WHERE rolname OPERATOR(pg_catalog.=) 'apikey_admin') THEN
        CREATE ROLE apikey_admin NOLOGIN;
    END IF;
END
$$;

COMMENT ON SCHEMA apikey IS 'API keys, rate limits, quotas and audit (extension apikey)';
GRANT USAGE ON SCHEMA apikey TO PUBLIC;


------------------------------------------------------------------------
-- Types
------------------------------------------------------------------------

CREATE TYPE apikey.verification AS (
    valid       boolean,
    code        text,
    key_id      uuid,
    owner       text,
    org         text,
    name        text,
    scopes      text[],
    tier        text,
    expires_at  timestamptz,
    metadata    jsonb
);


CREATE TYPE apikey.limit_result AS (
    allowed         boolean,
    code            text,
    limit_value     bigint,
    remaining       bigint,
    reset_at        timestamptz,
    retry_after_ms  bigint
);

CREATE TYPE apikey.check_result AS (
    allowed         boolean,
    status          integer,
    code            text,
    key_id          uuid,
    owner           text,
    scopes          text[],
    tier            text,
    limit_value     bigint,
    remaining       bigint,
    reset_at        timestamptz,
    retry_after_ms  bigint,
    headers         jsonb
);


------------------------------------------------------------------------
-- Helpers used by the tables
------------------------------------------------------------------------

CREATE FUNCTION apikey._check_rate_limits(rate_limits jsonb)
RETURNS boolean
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'apikey_check_rate_limits';

COMMENT ON FUNCTION apikey._check_rate_limits(jsonb) IS
'true, or an error saying what is wrong with a rate-limit array (CHECK constraints)';

-- The status of a key.  verify() applies the same rule in C
-- (ak_key_state in src/verify.c); the two must agree.
CREATE FUNCTION apikey._key_status(revoked_at timestamptz,
                                   expires_at timestamptz,
                                   rotated_to uuid)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN revoked_at IS NOT NULL
             AND (expires_at IS NULL OR revoked_at OPERATOR(pg_catalog.<) expires_at)
            THEN 'revoked'
        WHEN expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()
            THEN CASE WHEN rotated_to IS NULL THEN 'expired' ELSE 'revoked' END
        WHEN rotated_to IS NOT NULL
            THEN 'rotating'
        ELSE 'active'
    END
$$;

COMMENT ON FUNCTION apikey._key_status(timestamptz, timestamptz, uuid) IS
'active, rotating (old key within its rotation grace), revoked or expired';

CREATE FUNCTION apikey.current_owner()
RETURNS text
LANGUAGE c STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'apikey_current_owner';

COMMENT ON FUNCTION apikey.current_owner() IS
'The owner the caller acts for: the key verified by check_request() in this transaction, else the JWT "sub" claim, else (outside PostgREST) the calling role';

CREATE FUNCTION apikey.current_key_id()
RETURNS uuid
LANGUAGE c STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'apikey_current_key_id';

COMMENT ON FUNCTION apikey.current_key_id() IS
'The key verified by check_request() in this transaction, or NULL';


------------------------------------------------------------------------
-- Tables
------------------------------------------------------------------------

CREATE TABLE apikey.tiers (
    name            text COLLATE "C" CONSTRAINT tiers_pkey PRIMARY KEY
                    CHECK (name OPERATOR(pg_catalog.<>) ''),
    rate_limits     jsonb NOT NULL DEFAULT '[]'
                    CHECK (apikey._check_rate_limits(rate_limits)),
    daily_quota     bigint CHECK (daily_quota OPERATOR(pg_catalog.>=) 0),
    monthly_quota   bigint CHECK (monthly_quota OPERATOR(pg_catalog.>=) 0),
    max_concurrency integer CHECK (max_concurrency OPERATOR(pg_catalog.>) 0),
    price_per_1k    numeric NOT NULL DEFAULT 0
                    CHECK (price_per_1k OPERATOR(pg_catalog.>=) 0)
);

COMMENT ON TABLE apikey.tiers IS
'Plans: the rate limits, quotas and price a key gets unless it has its own';

INSERT INTO apikey.tiers (name, rate_limits) VALUES
    ('free',       '[{"name": "default", "limit": 10,   "period": "1 second", "burst": 100}]'),
    ('premium',    '[{"name": "default", "limit": 100,  "period": "1 second", "burst": 1000}]'),
    ('enterprise', '[{"name": "default", "limit": 1000, "period": "1 second", "burst": 10000}]');

CREATE TABLE apikey.keys (
    id              uuid CONSTRAINT keys_pkey PRIMARY KEY
                    DEFAULT pg_catalog.gen_random_uuid(),
    prefix          text NOT NULL CONSTRAINT keys_prefix_key UNIQUE,
    key_hash        bytea NOT NULL CONSTRAINT keys_key_hash_key UNIQUE
                    CHECK (pg_catalog.octet_length(key_hash) OPERATOR(pg_catalog.=) 32),
    owner           text NOT NULL,
    org             text,
    name            text,
    scopes          text[] NOT NULL DEFAULT '{}',
    tier            text COLLATE "C" NOT NULL DEFAULT 'free'
                    CONSTRAINT keys_tier_fkey REFERENCES apikey.tiers (name)
                    ON UPDATE CASCADE,
    rate_limits     jsonb CHECK (apikey._check_rate_limits(rate_limits)),
    daily_quota     bigint CHECK (daily_quota OPERATOR(pg_catalog.>=) 0),
    monthly_quota   bigint CHECK (monthly_quota OPERATOR(pg_catalog.>=) 0),
    max_concurrency integer CHECK (max_concurrency OPERATOR(pg_catalog.>) 0),
    allowed_ips     cidr[],
    metadata        jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    expires_at      timestamptz,
    revoked_at      timestamptz,
    revoke_reason   text,
    last_used_at    timestamptz,
    rotated_from    uuid CONSTRAINT keys_rotated_from_fkey
                    REFERENCES apikey.keys (id) ON DELETE SET NULL,
    rotated_to      uuid CONSTRAINT keys_rotated_to_fkey
                    REFERENCES apikey.keys (id) ON DELETE SET NULL,
    jwt_role        text,
    daily_usage     bigint NOT NULL DEFAULT 0,
    usage_day       date,
    monthly_usage   bigint NOT NULL DEFAULT 0,
    usage_month     date
) WITH (fillfactor = 80);  -- room for the worker's HOT updates of usage columns

CREATE INDEX keys_owner_idx ON apikey.keys (owner);
CREATE INDEX keys_expires_at_idx ON apikey.keys (expires_at)
    WHERE revoked_at IS NULL AND expires_at IS NOT NULL;

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

CREATE TABLE apikey.audit_log (
    id              bigint GENERATED ALWAYS AS IDENTITY
                    CONSTRAINT audit_log_pkey PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT pg_catalog.now(),
    action          text NOT NULL CHECK (action OPERATOR(pg_catalog.=) ANY (ARRAY[
                        'issued', 'updated', 'rotated', 'revoked', 'expired',
                        'denied', 'quota_alert'])),
    key_id          uuid,
    owner           text,
    actor           text,
    client_ip       inet,
    request_method  text,
    request_path    text,
    status          integer,
    detail          jsonb NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_log_key_id_idx ON apikey.audit_log (key_id, at);
CREATE INDEX audit_log_owner_idx ON apikey.audit_log (owner, at);
CREATE INDEX audit_log_at_idx ON apikey.audit_log (at);

COMMENT ON TABLE apikey.audit_log IS
'Append-only record of every key change and denied request';

CREATE TABLE apikey.usage_hourly (
    key_id          uuid NOT NULL,
    hour            timestamptz NOT NULL,
    requests        bigint NOT NULL DEFAULT 0,
    allowed         bigint NOT NULL DEFAULT 0,
    rate_limited    bigint NOT NULL DEFAULT 0,
    quota_exceeded  bigint NOT NULL DEFAULT 0,
    denied_auth     bigint NOT NULL DEFAULT 0,
    cost_units      bigint NOT NULL DEFAULT 0,
    avg_ms          double precision,
    p95_ms          double precision,
    p99_ms          double precision,
    endpoints       jsonb NOT NULL DEFAULT '{}',
    latency_hist    bigint[],
    CONSTRAINT usage_hourly_pkey PRIMARY KEY (key_id, hour)
) WITH (fillfactor = 70);  -- the current hour's rows are updated every flush

CREATE INDEX usage_hourly_hour_idx ON apikey.usage_hourly (hour);

COMMENT ON TABLE apikey.usage_hourly IS
'Requests per key and UTC hour, written by the apikey worker every apikey.flush_interval';
COMMENT ON COLUMN apikey.usage_hourly.requests IS
'check() calls: allowed + rate_limited + quota_exceeded + denied_auth';
COMMENT ON COLUMN apikey.usage_hourly.rate_limited IS
'Refused with 429 or 503 other than by a quota (RATE_LIMITED, CONCURRENCY_LIMITED, BLOCKED, OVERLOADED)';
COMMENT ON COLUMN apikey.usage_hourly.denied_auth IS
'Refused with 401 or 403 although the token named this key (REVOKED, EXPIRED, IP_NOT_ALLOWED, INSUFFICIENT_SCOPE)';
COMMENT ON COLUMN apikey.usage_hourly.cost_units IS
'Units debited by allowed check() and consume() calls';
COMMENT ON COLUMN apikey.usage_hourly.avg_ms IS
'Mean duration of allowed requests, from check() to the end of their transaction';
COMMENT ON COLUMN apikey.usage_hourly.endpoints IS
'Per request.path: {"requests", "allowed", "total_ms"}; the 31 busiest, the rest as "(other)"';
COMMENT ON COLUMN apikey.usage_hourly.latency_hist IS
'The durations as a 40-bucket log-scale histogram (see apikey.latency_quantile)';


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

------------------------------------------------------------------------
-- Views
------------------------------------------------------------------------

CREATE VIEW apikey.key_list WITH (security_invoker = true) AS
SELECT k.id, k.prefix, k.owner, k.org, k.name, k.scopes, k.tier,
       k.rate_limits, k.daily_quota, k.monthly_quota, k.max_concurrency,
       k.allowed_ips, k.metadata, k.created_at, k.expires_at, k.revoked_at,
       k.revoke_reason, k.last_used_at, k.rotated_from, k.rotated_to,
       k.jwt_role, k.daily_usage, k.usage_day, k.monthly_usage, k.usage_month,
       apikey._key_status(k.revoked_at, k.expires_at, k.rotated_to) AS status
  FROM apikey.keys AS k;

COMMENT ON VIEW apikey.key_list IS
'apikey.keys without key_hash, with the status of each key';

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


------------------------------------------------------------------------
-- Triggers: cache invalidation and the append-only audit log
------------------------------------------------------------------------

CREATE FUNCTION apikey._invalidate()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'apikey_invalidate_trigger';

CREATE FUNCTION apikey._audit_guard()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'apikey_audit_guard';

CREATE TRIGGER keys_invalidate_insert
    AFTER INSERT ON apikey.keys
    FOR EACH ROW EXECUTE FUNCTION apikey._invalidate();

-- Usage counters and last_used_at change every flush; they are not cached.
CREATE TRIGGER keys_invalidate_update
    AFTER UPDATE ON apikey.keys
    FOR EACH ROW
    WHEN ((OLD.key_hash, OLD.prefix, OLD.owner, OLD.org, OLD.name, OLD.scopes,
           OLD.tier, OLD.rate_limits, OLD.daily_quota, OLD.monthly_quota,
           OLD.max_concurrency, OLD.allowed_ips, OLD.metadata, OLD.expires_at,
           OLD.revoked_at, OLD.rotated_to)
          IS DISTINCT FROM
          (NEW.key_hash, NEW.prefix, NEW.owner, NEW.org, NEW.name, NEW.scopes,
           NEW.tier, NEW.rate_limits, NEW.daily_quota, NEW.monthly_quota,
           NEW.max_concurrency, NEW.allowed_ips, NEW.metadata, NEW.expires_at,
           NEW.revoked_at, NEW.rotated_to))
    EXECUTE FUNCTION apikey._invalidate();

CREATE TRIGGER keys_invalidate_delete
    AFTER DELETE ON apikey.keys
    FOR EACH ROW EXECUTE FUNCTION apikey._invalidate();

CREATE TRIGGER keys_invalidate_truncate
    AFTER TRUNCATE ON apikey.keys
    FOR EACH STATEMENT EXECUTE FUNCTION apikey._invalidate();

CREATE TRIGGER tiers_invalidate
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON apikey.tiers
    FOR EACH STATEMENT EXECUTE FUNCTION apikey._invalidate();

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON apikey.audit_log
    FOR EACH ROW EXECUTE FUNCTION apikey._audit_guard();

CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON apikey.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION apikey._audit_guard();


------------------------------------------------------------------------
-- Key lifecycle (SECURITY DEFINER: they check the caller themselves)
------------------------------------------------------------------------

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
    rate_limits jsonb       DEFAULT NULL)
RETURNS TABLE (key_id uuid, token text, display_prefix text)
LANGUAGE c VOLATILE ROWS 1
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_issue';

COMMENT ON FUNCTION apikey.issue(text, text, text[], text, timestamptz, cidr[], jsonb, text, text, jsonb) IS
'Issues a key; the token is returned once and only its digest is stored';

CREATE FUNCTION apikey.rotate(
    key_id  uuid,
    grace   interval DEFAULT '7 days')
RETURNS TABLE (key_id uuid, token text, display_prefix text,
               old_key_expires_at timestamptz)
LANGUAGE c VOLATILE ROWS 1
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_rotate';

COMMENT ON FUNCTION apikey.rotate(uuid, interval) IS
'Issues a new key with the same settings; the old one works until old_key_expires_at';

CREATE FUNCTION apikey.revoke(
    key_id  uuid,
    reason  text DEFAULT NULL)
RETURNS boolean
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_revoke';

COMMENT ON FUNCTION apikey.revoke(uuid, text) IS
'Revokes a key at once in every backend; false if it no longer worked';

CREATE FUNCTION apikey.update(
    key_id  uuid,
    changes jsonb)
RETURNS apikey.key_list
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_update';

COMMENT ON FUNCTION apikey.update(uuid, jsonb) IS
'Changes name, scopes, expires_at, allowed_ips, metadata (owners) and tier, rate_limits, quotas, max_concurrency, jwt_role (admins)';

-- The bulk forms call the single ones, as the caller (SECURITY INVOKER):
-- the same owner checks and the same audit rows, all in the caller's
-- transaction, so one failure undoes the whole call.

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

CREATE FUNCTION apikey.issue_bulk(specs jsonb)
RETURNS TABLE (key_id uuid, token text, display_prefix text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    spec    jsonb;
    n       integer := 0;
    unknown text;
    state   text;
    msg     text;
    detail  text;
    hint    text;
BEGIN
    IF specs IS NULL OR jsonb_typeof(specs) <> 'array' THEN
        RAISE EXCEPTION 'invalid specs: it must be a JSON array of objects'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM apikey._bulk_limit('issue_bulk', jsonb_array_length(specs), 100);
    FOR spec IN SELECT e FROM jsonb_array_elements(specs) AS e LOOP
        n := n + 1;
        IF jsonb_typeof(spec) <> 'object' THEN
            RAISE EXCEPTION 'invalid specs: element % is not a JSON object', n
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        SELECT min(k) INTO unknown FROM jsonb_object_keys(spec) AS k
         WHERE k <> ALL ('{owner,name,scopes,tier,expires_at,allowed_ips,metadata,prefix,org,rate_limits}');
        IF unknown IS NOT NULL THEN
            RAISE EXCEPTION 'unknown key "%" in element % of specs', unknown, n
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'The keys are issue()''s arguments: owner, name, scopes, tier, expires_at, allowed_ips, metadata, prefix, org, rate_limits.';
        END IF;
        BEGIN
            RETURN QUERY
            SELECT i.key_id, i.token, i.display_prefix
              FROM apikey.issue(
                       owner       => spec->>'owner',
                       name        => spec->>'name',
                       scopes      => coalesce((SELECT array_agg(s) FROM jsonb_array_elements_text(
                                          nullif(spec->'scopes', 'null')) AS s), '{}'),
                       tier        => coalesce(spec->>'tier', 'free'),
                       expires_at  => (spec->>'expires_at')::timestamptz,
                       allowed_ips => (SELECT array_agg(a::cidr) FROM jsonb_array_elements_text(
                                          nullif(spec->'allowed_ips', 'null')) AS a),
                       metadata    => coalesce(nullif(spec->'metadata', 'null'), '{}'),
                       prefix      => coalesce(spec->>'prefix', 'ak_live'),
                       org         => spec->>'org',
                       rate_limits => nullif(spec->'rate_limits', 'null')) AS i;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                                    detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
            detail := concat_ws(' ', nullif(detail, ''), format('In element %s of specs.', n));
            IF hint = '' THEN
                RAISE EXCEPTION USING ERRCODE = state, MESSAGE = msg, DETAIL = detail;
            END IF;
            RAISE EXCEPTION USING ERRCODE = state, MESSAGE = msg, DETAIL = detail, HINT = hint;
        END;
    END LOOP;
END $$;

COMMENT ON FUNCTION apikey.issue_bulk(jsonb) IS
'Issues up to 100 keys from a JSON array of issue()''s named arguments, all or nothing';

CREATE FUNCTION apikey.revoke_bulk(
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

CREATE FUNCTION apikey.update_bulk(key_ids uuid[], changes jsonb)
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

CREATE FUNCTION apikey.introspect(display_prefix text)
RETURNS jsonb
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_introspect';

COMMENT ON FUNCTION apikey.introspect(text) IS
'Everything known about a key, by display prefix (admins only; no digest)';


------------------------------------------------------------------------
-- Verification (the hot path: shared and backend memory only)
------------------------------------------------------------------------

CREATE FUNCTION apikey.verify(
    token     text,
    scope     text DEFAULT NULL,
    client_ip inet DEFAULT NULL)
RETURNS apikey.verification
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_verify';

COMMENT ON FUNCTION apikey.verify(text, text, inet) IS
'VALID, MALFORMED, NOT_FOUND, REVOKED, EXPIRED, BLOCKED, IP_NOT_ALLOWED or INSUFFICIENT_SCOPE; never raises for a bad token';

CREATE FUNCTION apikey.check(
    token     text,
    scope     text    DEFAULT NULL,
    client_ip inet    DEFAULT NULL,
    cost      integer DEFAULT 1)
RETURNS apikey.check_result
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_check';

COMMENT ON FUNCTION apikey.check(text, text, inet, integer) IS
'verify, abuse cooldown, per-address limit, in-flight and concurrency limits, then the key''s rate limits; with HTTP status and headers';

CREATE FUNCTION apikey.consume(
    key_id             uuid,
    cost               integer DEFAULT 1,
    refund_on_rollback boolean DEFAULT false)
RETURNS apikey.limit_result
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_consume';

COMMENT ON FUNCTION apikey.consume(uuid, integer, boolean) IS
'Debits cost from every rate limit of a key, all or none';

CREATE FUNCTION apikey.throttle(
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


------------------------------------------------------------------------
-- PostgREST and Supabase (contract §8)
------------------------------------------------------------------------

CREATE TABLE apikey.scope_map (
    method        text    NOT NULL DEFAULT '*'
                  CHECK (method IN ('*', 'GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS')),
    path_pattern  text    NOT NULL CHECK (path_pattern OPERATOR(pg_catalog.<>) ''),
    scope         text    NOT NULL CHECK (scope OPERATOR(pg_catalog.<>) ''),
    priority      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (method, path_pattern)
);

COMMENT ON TABLE apikey.scope_map IS
'The scope check_request() requires: the matching row (method or *, LIKE pattern on request.path) with the highest priority, then the longest pattern; no match requires none';

CREATE FUNCTION apikey._scope_map_changed()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'apikey_scope_map_changed';

-- every backend re-reads the map once the change commits
CREATE TRIGGER scope_map_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON apikey.scope_map
    FOR EACH STATEMENT EXECUTE FUNCTION apikey._scope_map_changed();

CREATE FUNCTION apikey.check_request()
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_check_request';

COMMENT ON FUNCTION apikey.check_request() IS
'PostgREST db-pre-request: checks the key of the request (header apikey.header), adds the rate-limit headers, or raises the HTTP error';

CREATE FUNCTION apikey.exchange(token text, ttl interval DEFAULT '1 hour')
RETURNS jsonb
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_exchange';

COMMENT ON FUNCTION apikey.exchange(text, interval) IS
'Trades a valid key for an HS256 JWT signed with apikey.jwt_secret: {access_token, token_type, expires_in}';


------------------------------------------------------------------------
-- Live counters (admins only)
------------------------------------------------------------------------

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
    OUT events_dropped       bigint)
RETURNS record
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_stats';

CREATE VIEW apikey.stats WITH (security_invoker = true) AS
SELECT * FROM apikey._stats();

COMMENT ON VIEW apikey.stats IS
'Live counters from shared memory, summed over all backends since the server started';


------------------------------------------------------------------------
-- Row-level security and privileges (contract §9)
------------------------------------------------------------------------

ALTER TABLE apikey.keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE apikey.keys FORCE ROW LEVEL SECURITY;
CREATE POLICY keys_admin ON apikey.keys TO apikey_admin USING (true);
CREATE POLICY keys_owner ON apikey.keys TO PUBLIC
    USING (owner OPERATOR(pg_catalog.=) (SELECT apikey.current_owner()));

ALTER TABLE apikey.audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE apikey.audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_log_admin ON apikey.audit_log TO apikey_admin USING (true);
CREATE POLICY audit_log_owner ON apikey.audit_log TO PUBLIC
    USING (owner OPERATOR(pg_catalog.=) (SELECT apikey.current_owner()));

ALTER TABLE apikey.usage_hourly ENABLE ROW LEVEL SECURITY;
ALTER TABLE apikey.usage_hourly FORCE ROW LEVEL SECURITY;
CREATE POLICY usage_hourly_admin ON apikey.usage_hourly TO apikey_admin USING (true);
-- keys is itself filtered to the caller's own rows
CREATE POLICY usage_hourly_owner ON apikey.usage_hourly TO PUBLIC
    USING (key_id IN (SELECT k.id FROM apikey.keys AS k));

-- Owners read their rows, never key_hash; every write goes through the
-- functions above.
GRANT SELECT (id, prefix, owner, org, name, scopes, tier, rate_limits,
              daily_quota, monthly_quota, max_concurrency, allowed_ips,
              metadata, created_at, expires_at, revoked_at, revoke_reason,
              last_used_at, rotated_from, rotated_to, jwt_role, daily_usage,
              usage_day, monthly_usage, usage_month)
    ON apikey.keys TO PUBLIC;
GRANT SELECT ON apikey.key_list TO PUBLIC;
GRANT SELECT ON apikey.audit_log TO PUBLIC;
GRANT SELECT ON apikey.usage_hourly TO PUBLIC;
GRANT SELECT ON apikey.usage_daily, apikey.usage_monthly TO PUBLIC;
GRANT SELECT ON apikey.tiers TO PUBLIC;
GRANT INSERT, UPDATE, DELETE ON apikey.tiers TO apikey_admin;

REVOKE ALL ON FUNCTION apikey._invalidate() FROM PUBLIC;
REVOKE ALL ON FUNCTION apikey._audit_guard() FROM PUBLIC;
REVOKE ALL ON FUNCTION apikey.introspect(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apikey.introspect(text) TO apikey_admin;
REVOKE ALL ON FUNCTION apikey._stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apikey._stats() TO apikey_admin;
GRANT SELECT ON apikey.stats TO apikey_admin;

REVOKE ALL ON apikey.scope_map FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON apikey.scope_map TO apikey_admin;
REVOKE ALL ON FUNCTION apikey._scope_map_changed() FROM PUBLIC;

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
                                  ' apikey.exchange(text, interval), apikey.current_owner(),'
                                  ' apikey.current_key_id() TO %I', r);
    END LOOP;
END $$;

-- pg_dump keeps the rows of these tables (the three seeded tiers are
-- re-created by CREATE EXTENSION, so only tiers added later are dumped).
SELECT pg_catalog.pg_extension_config_dump('apikey.keys', '');
SELECT pg_catalog.pg_extension_config_dump('apikey.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('apikey.audit_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('apikey.usage_hourly', '');
SELECT pg_catalog.pg_extension_config_dump('apikey.scope_map', '');
SELECT pg_catalog.pg_extension_config_dump('apikey.tiers',
    $$WHERE name NOT IN ('free', 'premium', 'enterprise')$$);
