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


