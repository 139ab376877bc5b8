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


