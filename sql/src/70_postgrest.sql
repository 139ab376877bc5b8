------------------------------------------------------------------------
-- PostgREST and Supabase (doc/postgrest.md)
------------------------------------------------------------------------

CREATE TABLE apikey.scope_map (
    method        text    NOT NULL DEFAULT '*'
                  CHECK (method IN ('*', 'GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS')),
    path_pattern  text    NOT NULL CHECK (path_pattern OPERATOR(pg_catalog.<>) ''),
    scope         text    CHECK (scope OPERATOR(pg_catalog.<>) ''),
    priority      integer NOT NULL DEFAULT 0,
    require_signature boolean NOT NULL DEFAULT false,
    public        boolean NOT NULL DEFAULT false,
    PRIMARY KEY (method, path_pattern),
    -- a row says something: a scope, a signature, that it is public
    CONSTRAINT scope_map_requires_something
        CHECK (scope IS NOT NULL OR require_signature OR public)
);

COMMENT ON TABLE apikey.scope_map IS
'What check_request() requires -- a scope, a signature, or nothing on a public endpoint: the matching row (method or *, LIKE pattern on request.path) with the highest priority, then the longest pattern; no match requires nothing';
COMMENT ON COLUMN apikey.scope_map.require_signature IS
'Requests must carry an HMAC signature of the key''s signing secret (doc/authentication.md)';
COMMENT ON COLUMN apikey.scope_map.public IS
'No key needed: a request without one is anonymous, limited per client address; a key sent is checked as usual';

-- every backend re-reads the map once the change commits
CREATE TRIGGER scope_map_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON apikey.scope_map
    FOR EACH STATEMENT EXECUTE FUNCTION apikey._scope_map_changed();
-- also when applied with session_replication_role = replica
ALTER TABLE apikey.scope_map ENABLE ALWAYS TRIGGER scope_map_changed;

-- Which scope each endpoint requires is the admins' to read and change.
REVOKE ALL ON apikey.scope_map FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON apikey.scope_map TO apikey_admin;

CREATE FUNCTION apikey.check_request()
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


