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
