-- The public surface of doc/apikey.md: objects, signatures,
-- privileges, row-level security.  Catches an accidental API change.
\set ON_ERROR_STOP on
\set QUIET on
BEGIN;
SELECT plan(90);

SELECT has_schema('apikey');
SELECT has_role('apikey_admin');
SELECT is((SELECT rolcanlogin FROM pg_roles WHERE rolname = 'apikey_admin'), false,
          'apikey_admin is NOLOGIN');

SELECT tables_are('apikey', ARRAY['keys', 'tiers', 'audit_log', 'usage_hours', 'scope_map',
                                  'quota_counters', 'shared_throttles', 'certificates',
                                  'refresh_tokens', 'owner_limits', 'address_blocks']);
SELECT views_are('apikey', ARRAY['key_list', 'stats', 'bucket_use', 'usage_hourly', 'usage_daily',
                                 'usage_monthly', 'blocks']);
SELECT types_are('apikey', ARRAY['verification', 'limit_result', 'check_result',
                                 'signature_verification', 'certificate_verification']);

SELECT columns_are('apikey', 'keys', ARRAY[
    'id', 'prefix', 'key_hash', 'owner', 'org', 'name', 'scopes', 'tier',
    'rate_limits', 'daily_quota', 'monthly_quota', 'max_concurrency',
    'allowed_ips', 'metadata', 'created_at', 'expires_at', 'revoked_at',
    'revoke_reason', 'last_used_at', 'rotated_from', 'rotated_to', 'jwt_role', 'lineage',
    'disabled_at', 'disable_reason', 'disabled_by_admin', 'max_uses', 'priority',
    'expiry_warned_for']);
SELECT columns_are('apikey', 'quota_counters', ARRAY[
    'subject', 'day', 'day_used', 'month', 'month_used']);
SELECT columns_are('apikey', 'tiers', ARRAY[
    'name', 'rate_limits', 'daily_quota', 'monthly_quota', 'max_concurrency',
    'price_per_1k', 'priority']);
SELECT columns_are('apikey', 'owner_limits', ARRAY[
    'id', 'owner', 'rate_limits', 'daily_quota', 'monthly_quota', 'max_concurrency',
    'max_keys', 'updated_at']);
SELECT columns_are('apikey', 'address_blocks', ARRAY[
    'addresses', 'owner', 'reason', 'created_at', 'expires_at', 'created_by']);
SELECT columns_are('apikey', 'blocks', ARRAY[
    'kind', 'addresses', 'display_prefix', 'owner', 'reason', 'created_at', 'expires_at',
    'created_by']);
SELECT columns_are('apikey', 'audit_log', ARRAY[
    'id', 'at', 'action', 'key_id', 'owner', 'actor', 'client_ip',
    'request_method', 'request_path', 'status', 'detail', 'session_role',
    'subject', 'actor_key_id']);
SELECT columns_are('apikey', 'scope_map', ARRAY['method', 'path_pattern', 'scope', 'priority',
                                               'require_signature', 'public']);
SELECT columns_are('apikey', 'certificates', ARRAY[
    'id', 'fingerprint', 'subject_cn', 'issuer', 'not_before', 'not_after', 'owner', 'org',
    'name', 'scopes', 'tier', 'active', 'created_at', 'revoked_at']);
SELECT columns_are('apikey', 'refresh_tokens', ARRAY[
    'id', 'family_id', 'key_id', 'token_hash', 'access_ttl', 'created_at', 'expires_at',
    'used_at', 'revoked_at', 'revoke_reason']);
SELECT columns_are('apikey', 'usage_hourly', ARRAY[
    'key_id', 'hour', 'requests', 'allowed', 'rate_limited', 'quota_exceeded',
    'denied_auth', 'cost_units', 'avg_ms', 'p95_ms', 'p99_ms', 'endpoints',
    'latency_hist']);
SELECT columns_are('apikey', 'usage_daily', ARRAY[
    'key_id', 'day', 'requests', 'allowed', 'rate_limited', 'quota_exceeded',
    'denied_auth', 'cost_units', 'avg_ms', 'p95_ms', 'p99_ms', 'cost',
    'latency_hist']);
SELECT columns_are('apikey', 'usage_monthly', ARRAY[
    'key_id', 'month', 'requests', 'allowed', 'rate_limited', 'quota_exceeded',
    'denied_auth', 'cost_units', 'avg_ms', 'p95_ms', 'p99_ms', 'cost',
    'latency_hist']);
SELECT is(
    (SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c
      WHERE c.relnamespace = 'apikey'::regnamespace AND c.relkind = 'v'
        AND NOT 'security_invoker=true' = ANY (coalesce(c.reloptions, '{}'))),
    NULL, 'every view is security_invoker');
SELECT columns_are('apikey', 'stats', ARRAY[
    'requests_total', 'valid_total', 'invalid_total', 'rate_limited_total',
    'quota_exceeded_total', 'blocked_total', 'overloaded_total', 'cache_hits',
    'cache_misses', 'buckets_in_use', 'buckets_capacity', 'events_dropped',
    'key_buckets', 'address_buckets', 'named_buckets', 'concurrency_slots',
    'quota_counters', 'cooldowns', 'shared_memory_used', 'shared_memory_budget',
    'shadow_limited_total', 'anonymous_total', 'shared_key_hits', 'shared_key_misses',
    'shared_keys']);
SELECT columns_are('apikey', 'bucket_use', ARRAY['class', 'role', 'database', 'buckets']);
-- the columns of 0.1.0 (and their live quota counts, and status) first;
-- columns added to keys since follow, as an upgrade's CREATE OR REPLACE
-- VIEW can only add them at the end
SELECT is(
    (SELECT array_agg(attname ORDER BY attnum) FROM pg_attribute
      WHERE attrelid = 'apikey.key_list'::regclass AND attnum > 0),
    (SELECT array_agg(attname ORDER BY attnum) FROM pg_attribute
      WHERE attrelid = 'apikey.keys'::regclass AND attnum > 0
        AND attnum < (SELECT attnum FROM pg_attribute WHERE attrelid = 'apikey.keys'::regclass
                                                          AND attname = 'lineage')
        AND attname <> 'key_hash' AND NOT attisdropped)
      || ARRAY['daily_usage', 'usage_day', 'monthly_usage', 'usage_month', 'status']::name[]
      || (SELECT array_agg(attname ORDER BY attnum) FROM pg_attribute
           WHERE attrelid = 'apikey.keys'::regclass AND NOT attisdropped
             AND attnum >= (SELECT attnum FROM pg_attribute WHERE attrelid = 'apikey.keys'::regclass
                                                               AND attname = 'lineage')),
    'key_list is keys without key_hash, with live quota counts and status after 0.1.0''s columns');
SELECT is(
    (SELECT array_agg(format('%s %s', attname, format_type(atttypid, atttypmod)) ORDER BY attnum)
       FROM pg_attribute WHERE attrelid = 'apikey.verification'::regclass AND attnum > 0),
    ARRAY['valid boolean', 'code text', 'key_id uuid', 'owner text', 'org text',
          'name text', 'scopes text[]', 'tier text', 'expires_at timestamp with time zone',
          'metadata jsonb'],
    'apikey.verification has the documented columns');

-- named arguments with their defaults, as PostgREST calls them
SELECT is(pg_get_function_arguments('apikey.issue'::regproc),
    'owner text, name text DEFAULT NULL::text, scopes text[] DEFAULT ''{}''::text[], '
    'tier text DEFAULT ''free''::text, expires_at timestamp with time zone DEFAULT NULL::timestamp with time zone, '
    'allowed_ips cidr[] DEFAULT NULL::cidr[], metadata jsonb DEFAULT ''{}''::jsonb, '
    'prefix text DEFAULT ''ak_live''::text, org text DEFAULT NULL::text, '
    'rate_limits jsonb DEFAULT NULL::jsonb, max_uses bigint DEFAULT NULL::bigint', 'issue() arguments');
SELECT is(pg_get_function_result('apikey.issue'::regproc),
    'TABLE(key_id uuid, token text, display_prefix text)', 'issue() result');
SELECT is(pg_get_function_arguments('apikey.rotate'::regproc),
    'key_id uuid, grace interval DEFAULT ''7 days''::interval', 'rotate() arguments');
SELECT is(pg_get_function_result('apikey.rotate'::regproc),
    'TABLE(key_id uuid, token text, display_prefix text, old_key_expires_at timestamp with time zone)',
    'rotate() result');
SELECT function_returns('apikey', 'revoke', ARRAY['uuid', 'text'], 'boolean');
SELECT function_returns('apikey', 'update', ARRAY['uuid', 'jsonb'], 'apikey.key_list');
SELECT function_returns('apikey', 'introspect', ARRAY['text'], 'jsonb');
SELECT is(pg_get_function_arguments('apikey.verify'::regproc),
    'token text, scope text DEFAULT NULL::text, client_ip text DEFAULT NULL::text',
    'verify() arguments');
SELECT function_returns('apikey', 'verify', ARRAY['text', 'text', 'text'], 'apikey.verification');
SELECT is(pg_get_function_arguments('apikey.check'::regproc),
    'token text, scope text DEFAULT NULL::text, client_ip text DEFAULT NULL::text, cost integer DEFAULT 1, '
    'endpoint text DEFAULT NULL::text, method text DEFAULT NULL::text',
    'check() arguments');
SELECT is(pg_get_function_arguments('apikey.finish'::regproc),
    'status integer, latency interval DEFAULT NULL::interval', 'finish() arguments');
SELECT function_returns('apikey', 'finish', ARRAY['integer', 'interval'], 'boolean');
SELECT is(pg_get_function_result('apikey.limits'::regproc),
    'TABLE(name text, kind text, applies_to text, limit_value bigint, remaining bigint, '
    'reset_at timestamp with time zone, shadow boolean)', 'limits() result');
SELECT function_returns('apikey', 'set_owner_limits', ARRAY['text', 'jsonb'], 'apikey.owner_limits');
SELECT is(pg_get_function_arguments('apikey.block'::regproc),
    'addresses cidr, reason text, duration interval DEFAULT NULL::interval, owner text DEFAULT NULL::text',
    'block() arguments');
SELECT function_returns('apikey', 'block', ARRAY['cidr', 'text', 'interval', 'text'], 'apikey.address_blocks');
SELECT function_returns('apikey', 'unblock', ARRAY['cidr'], 'integer');
SELECT function_returns('apikey', 'unblock_key', ARRAY['text'], 'boolean');
SELECT function_returns('apikey', 'disable', ARRAY['uuid', 'text'], 'boolean');
SELECT function_returns('apikey', 'enable', ARRAY['uuid'], 'boolean');
SELECT is(
    (SELECT array_agg(format('%s %s', attname, format_type(atttypid, atttypmod)) ORDER BY attnum)
       FROM pg_attribute WHERE attrelid = 'apikey.check_result'::regclass AND attnum > 0),
    ARRAY['allowed boolean', 'status integer', 'code text', 'key_id uuid', 'owner text',
          'scopes text[]', 'tier text', 'limit_value bigint', 'remaining bigint',
          'reset_at timestamp with time zone', 'retry_after_ms bigint', 'headers jsonb'],
    'apikey.check_result has the documented columns');
SELECT is(
    (SELECT array_agg(format('%s %s', attname, format_type(atttypid, atttypmod)) ORDER BY attnum)
       FROM pg_attribute WHERE attrelid = 'apikey.limit_result'::regclass AND attnum > 0),
    ARRAY['allowed boolean', 'code text', 'limit_value bigint', 'remaining bigint',
          'reset_at timestamp with time zone', 'retry_after_ms bigint'],
    'apikey.limit_result has the documented columns');
SELECT is(pg_get_function_arguments('apikey.consume'::regproc),
    'key_id uuid, cost integer DEFAULT 1, refund_on_rollback boolean DEFAULT false',
    'consume() arguments');
SELECT is(pg_get_function_arguments('apikey.throttle'::regproc),
    'bucket text, rate integer, period interval, burst integer DEFAULT NULL::integer, cost integer DEFAULT 1',
    'throttle() arguments');
SELECT function_returns('apikey', 'current_owner', ARRAY[]::text[], 'text');
SELECT function_returns('apikey', 'check_request', ARRAY[]::text[], 'void');
SELECT is(pg_get_function_arguments('apikey.exchange'::regproc),
    'token text, ttl interval DEFAULT ''01:00:00''::interval, refresh boolean DEFAULT false',
    'exchange() arguments');
SELECT function_returns('apikey', 'exchange', ARRAY['text', 'interval', 'boolean'], 'jsonb');
SELECT function_returns('apikey', 'refresh', ARRAY['text'], 'jsonb');
SELECT function_returns('apikey', 'signing_secret', ARRAY['uuid'], 'text');
SELECT is(pg_get_function_arguments('apikey.verify_signature'::regproc),
    'key text, method text, path text, ts bigint, body_sha256 text, signature text, nonce text DEFAULT NULL::text',
    'verify_signature() arguments');
SELECT is(pg_get_function_arguments('apikey.register_certificate'::regproc),
    'pem text, owner text, name text DEFAULT NULL::text, scopes text[] DEFAULT ''{}''::text[], '
    'org text DEFAULT NULL::text, tier text DEFAULT ''free''::text',
    'register_certificate() arguments');
SELECT is(pg_get_function_result('apikey.register_certificate'::regproc),
    'TABLE(cert_id uuid, fingerprint text, subject_cn text, not_after timestamp with time zone)',
    'register_certificate() result');
SELECT function_returns('apikey', 'revoke_certificate', ARRAY['uuid'], 'boolean');
SELECT function_returns('apikey', 'verify_certificate', ARRAY['text'], 'apikey.certificate_verification');
SELECT function_returns('apikey', 'report_leak', ARRAY['text', 'text'], 'text');
SELECT is(pg_get_function_result('apikey.issue_bulk'::regproc),
    'TABLE(key_id uuid, token text, display_prefix text)', 'issue_bulk() result');
SELECT is(pg_get_function_arguments('apikey.revoke_bulk'::regproc),
    'key_ids uuid[], reason text DEFAULT NULL::text, dry_run boolean DEFAULT false',
    'revoke_bulk() arguments');
SELECT is(pg_get_function_result('apikey.revoke_bulk'::regproc),
    'TABLE(key_id uuid, was_active boolean, revoked boolean)', 'revoke_bulk() result');
SELECT function_returns('apikey', 'update_bulk', ARRAY['uuid[]', 'jsonb'], 'integer');
SELECT function_returns('apikey', 'current_key_id', ARRAY[]::text[], 'uuid');

-- privileges: PUBLIC reads every column of keys but key_hash, writes nothing
SELECT is(
    (SELECT array_agg(column_name::text ORDER BY column_name)
       FROM information_schema.column_privileges
      WHERE table_schema = 'apikey' AND table_name = 'keys' AND grantee = 'PUBLIC'
        AND privilege_type = 'SELECT'),
    (SELECT array_agg(attname::text ORDER BY attname) FROM pg_attribute
      WHERE attrelid = 'apikey.keys'::regclass AND attnum > 0 AND attname <> 'key_hash'),
    'PUBLIC may SELECT every column of keys but key_hash');
SELECT is(
    (SELECT count(*)::int FROM information_schema.table_privileges
      WHERE table_schema = 'apikey' AND grantee = 'PUBLIC'
        AND privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')),
    0, 'PUBLIC writes no table');
SELECT table_privs_are('apikey', 'tiers', 'apikey_admin', ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']);
SELECT function_privs_are('apikey', 'introspect', ARRAY['text'], 'public', ARRAY[]::text[]);
SELECT function_privs_are('apikey', 'introspect', ARRAY['text'], 'apikey_admin', ARRAY['EXECUTE']);
SELECT function_returns('apikey', 'security_report', ARRAY[]::text[], 'setof record');
SELECT function_privs_are('apikey', 'security_report', ARRAY[]::text[], 'public', ARRAY[]::text[]);
SELECT function_privs_are('apikey', 'security_report', ARRAY[]::text[], 'apikey_admin', ARRAY['EXECUTE']);
SELECT table_privs_are('apikey', 'scope_map', 'public', ARRAY[]::text[]);
SELECT table_privs_are('apikey', 'scope_map', 'apikey_admin', ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']);
-- nobody but the worker writes or locks quota counts
SELECT table_privs_are('apikey', 'quota_counters', 'public', ARRAY['SELECT']);
SELECT table_privs_are('apikey', 'quota_counters', 'apikey_admin', ARRAY['SELECT']);
SELECT policies_are('apikey', 'quota_counters',
    ARRAY['quota_counters_admin', 'quota_counters_owner', 'quota_counters_owner_limits']);
SELECT table_privs_are('apikey', 'shared_throttles', 'public', ARRAY['SELECT']);
SELECT table_privs_are('apikey', 'shared_throttles', 'apikey_admin', ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']);
SELECT function_privs_are('apikey', 'clear_throttles', ARRAY['regrole', 'text'], 'public', ARRAY[]::text[]);
SELECT function_privs_are('apikey', 'clear_throttles', ARRAY['regrole', 'text'], 'apikey_admin', ARRAY['EXECUTE']);
SELECT function_privs_are('apikey', 'reset_buckets', ARRAY['text'], 'public', ARRAY[]::text[]);
SELECT function_privs_are('apikey', 'reset_buckets', ARRAY['text'], 'apikey_admin', ARRAY['EXECUTE']);
SELECT table_privs_are('apikey', 'owner_limits', 'apikey_admin', ARRAY['SELECT']);
SELECT function_privs_are('apikey', 'unblock_key', ARRAY['text'], 'public', ARRAY[]::text[]);

-- row-level security: enabled and forced where owners read
SELECT is(
    (SELECT array_agg(relname::text ORDER BY relname) FROM pg_class
      WHERE relnamespace = 'apikey'::regnamespace AND relrowsecurity AND relforcerowsecurity),
    ARRAY['address_blocks', 'audit_log', 'certificates', 'keys', 'owner_limits',
          'quota_counters', 'usage_hours'],
    'RLS is enabled and forced on every table owners read');
SELECT policies_are('apikey', 'keys', ARRAY['keys_admin', 'keys_owner']);

-- pg_dump keeps the user data
SELECT is(
    (SELECT array_agg(c.relname::text ORDER BY c.relname)
       FROM pg_extension e, unnest(e.extconfig) AS cfg(oid) JOIN pg_class c ON c.oid = cfg.oid
      WHERE e.extname = 'apikey'),
    ARRAY['address_blocks', 'audit_log', 'audit_log_id_seq', 'certificates', 'keys',
          'owner_limits', 'quota_counters', 'refresh_tokens', 'scope_map', 'shared_throttles',
          'tiers', 'usage_hours'],
    'pg_extension_config_dump covers every table of data');
SELECT policies_are('apikey', 'certificates', ARRAY['certificates_admin', 'certificates_owner']);

SELECT * FROM finish();
ROLLBACK;
