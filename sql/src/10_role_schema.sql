------------------------------------------------------------------------
-- The admin role and the schema
------------------------------------------------------------------------

-- Members of apikey_admin manage every key, tier and scope mapping.  A role
-- belongs to the cluster, not to one database: created only if missing.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles
                   WHERE rolname OPERATOR(pg_catalog.=) 'apikey_admin') THEN
        CREATE ROLE apikey_admin NOLOGIN;
    END IF;
END
$$;

-- The schema is the script's own (apikey.control: schema = pg_catalog), so
-- that DROP EXTENSION drops it; if one named apikey exists already, this
-- fails rather than mix apikey's objects with someone else's.
CREATE SCHEMA apikey;
COMMENT ON SCHEMA apikey IS 'API keys, rate limits, quotas and audit (extension apikey)';
-- Anyone may look names up in the schema; each object says who may use it.
GRANT USAGE ON SCHEMA apikey TO PUBLIC;


