------------------------------------------------------------------------
-- Tables, each with its triggers, row-level security and privileges
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
                    CHECK (price_per_1k OPERATOR(pg_catalog.>=) 0),
    priority        smallint NOT NULL DEFAULT 1
                    CHECK (priority OPERATOR(pg_catalog.>=) 0 AND priority OPERATOR(pg_catalog.<=) 3)
);

COMMENT ON TABLE apikey.tiers IS
'Plans: the rate limits, quotas and price a key gets unless it has its own';
COMMENT ON COLUMN apikey.tiers.priority IS
'0 (shed first) to 3 (shed last) under apikey.max_inflight; see apikey.inflight_reserve';

INSERT INTO apikey.tiers (name, rate_limits) VALUES
    ('free',       '[{"name": "default", "limit": 10,   "period": "1 second", "burst": 100}]'),
    ('premium',    '[{"name": "default", "limit": 100,  "period": "1 second", "burst": 1000}]'),
    ('enterprise', '[{"name": "default", "limit": 1000, "period": "1 second", "burst": 10000}]');

-- Any change to the tiers empties every backend's verification cache.
CREATE TRIGGER tiers_invalidate
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON apikey.tiers
    FOR EACH STATEMENT EXECUTE FUNCTION apikey._invalidate();
-- ALWAYS: also for changes applied with session_replication_role = replica,
-- as logical replication applies them.
ALTER TABLE apikey.tiers ENABLE ALWAYS TRIGGER tiers_invalidate;

-- Anyone may read the plans; only admins change them.
GRANT SELECT ON apikey.tiers TO PUBLIC;
GRANT INSERT, UPDATE, DELETE ON apikey.tiers TO apikey_admin;

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
    lineage         uuid NOT NULL,
    disabled_at     timestamptz,
    disable_reason  text,
    disabled_by_admin boolean NOT NULL DEFAULT false,
    max_uses        bigint CHECK (max_uses OPERATOR(pg_catalog.>=) 1),
    priority        smallint
                    CHECK (priority OPERATOR(pg_catalog.>=) 0 AND priority OPERATOR(pg_catalog.<=) 3),
    expiry_warned_for timestamptz
) WITH (fillfactor = 90);  -- room for the worker's HOT updates of last_used_at

CREATE INDEX keys_owner_idx ON apikey.keys (owner);
-- owners' row-level security on quota_counters finds the keys of a lineage
CREATE INDEX keys_lineage_idx ON apikey.keys (lineage);
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

-- A change to a key reaches every backend's verification cache at commit.
CREATE TRIGGER keys_invalidate_insert
    AFTER INSERT ON apikey.keys
    FOR EACH ROW EXECUTE FUNCTION apikey._invalidate();

-- last_used_at and expiry_warned_for change behind the keys' backs (the
-- worker); they are not cached.
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

CREATE TRIGGER keys_invalidate_delete
    AFTER DELETE ON apikey.keys
    FOR EACH ROW EXECUTE FUNCTION apikey._invalidate();

CREATE TRIGGER keys_invalidate_truncate
    AFTER TRUNCATE ON apikey.keys
    FOR EACH STATEMENT EXECUTE FUNCTION apikey._invalidate();

-- ALWAYS: a revocation applied with session_replication_role = replica (by
-- logical replication, or by hand) must reach the caches all the same.
ALTER TABLE apikey.keys ENABLE ALWAYS TRIGGER keys_invalidate_insert;
ALTER TABLE apikey.keys ENABLE ALWAYS TRIGGER keys_invalidate_update;
ALTER TABLE apikey.keys ENABLE ALWAYS TRIGGER keys_invalidate_delete;
ALTER TABLE apikey.keys ENABLE ALWAYS TRIGGER keys_invalidate_truncate;

-- Row-level security: owners see only their own keys, admins all of them.
ALTER TABLE apikey.keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE apikey.keys FORCE ROW LEVEL SECURITY;
CREATE POLICY keys_admin ON apikey.keys TO apikey_admin USING (true);
CREATE POLICY keys_owner ON apikey.keys TO PUBLIC
    USING (owner OPERATOR(pg_catalog.=) (SELECT apikey.current_owner()));

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
) WITH (fillfactor = 70);  -- room for the worker's HOT updates

COMMENT ON TABLE apikey.quota_counters IS
'Daily and monthly quota counts per key lineage and per owner, and uses of keys with max_uses, as of the worker''s last flush; apikey.key_list shows a key''s live';

ALTER TABLE apikey.quota_counters ENABLE ROW LEVEL SECURITY;
ALTER TABLE apikey.quota_counters FORCE ROW LEVEL SECURITY;
CREATE POLICY quota_counters_admin ON apikey.quota_counters TO apikey_admin USING (true);
-- keys is itself filtered to the caller's own rows
CREATE POLICY quota_counters_owner ON apikey.quota_counters TO PUBLIC
    USING (subject IN (SELECT k.lineage FROM apikey.keys AS k));
GRANT SELECT ON apikey.quota_counters TO PUBLIC;

CREATE VIEW apikey.key_list WITH (security_invoker = true) AS
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

CREATE TABLE apikey.audit_log (
    id              bigint GENERATED ALWAYS AS IDENTITY
                    CONSTRAINT audit_log_pkey PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT pg_catalog.now(),
    action          text NOT NULL CHECK (action OPERATOR(pg_catalog.=) ANY (ARRAY[
                        'issued', 'updated', 'rotated', 'revoked', 'expired',
                        'denied', 'quota_alert', 'signing_secret_read',
                        'certificate_registered', 'certificate_revoked',
                        'leak_reported', 'refresh_reuse', 'disabled', 'enabled',
                        'owner_limits', 'blocked', 'unblocked', 'expiry_warning'])),
    key_id          uuid,
    owner           text,
    actor           text,
    client_ip       inet,
    request_method  text,
    request_path    text,
    status          integer,
    detail          jsonb NOT NULL DEFAULT '{}',
    session_role    text,
    subject         text,
    actor_key_id    uuid
);

CREATE INDEX audit_log_key_id_idx ON apikey.audit_log (key_id, at);
CREATE INDEX audit_log_owner_idx ON apikey.audit_log (owner, at);
CREATE INDEX audit_log_at_idx ON apikey.audit_log (at);

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

-- Append-only: audit rows are never changed or removed, except by the
-- worker's retention job.
CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON apikey.audit_log
    FOR EACH ROW EXECUTE FUNCTION apikey._audit_guard();

CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON apikey.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION apikey._audit_guard();
-- ALWAYS: session_replication_role = replica must not be a way around them.
ALTER TABLE apikey.audit_log ENABLE ALWAYS TRIGGER audit_log_append_only;
ALTER TABLE apikey.audit_log ENABLE ALWAYS TRIGGER audit_log_no_truncate;

-- Owners read their own trail; admins all of it.  Rows are written by the
-- lifecycle functions and the worker only.
ALTER TABLE apikey.audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE apikey.audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_log_admin ON apikey.audit_log TO apikey_admin USING (true);
CREATE POLICY audit_log_owner ON apikey.audit_log TO PUBLIC
    USING (owner OPERATOR(pg_catalog.=) (SELECT apikey.current_owner()));
GRANT SELECT ON apikey.audit_log TO PUBLIC;

CREATE TABLE apikey.usage_hours (
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
    CONSTRAINT usage_hours_pkey PRIMARY KEY (key_id, hour)
) WITH (fillfactor = 70);  -- the current hour's rows are rewritten at every checkpoint

CREATE INDEX usage_hours_hour_idx ON apikey.usage_hours (hour);

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
CREATE POLICY usage_hours_admin ON apikey.usage_hours TO apikey_admin USING (true);
-- keys is itself filtered to the caller's own rows
CREATE POLICY usage_hours_owner ON apikey.usage_hours TO PUBLIC
    USING (key_id IN (SELECT k.id FROM apikey.keys AS k));
GRANT SELECT ON apikey.usage_hours TO PUBLIC;


