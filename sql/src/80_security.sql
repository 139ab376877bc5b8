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

