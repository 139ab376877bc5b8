--
-- PostgREST integration (doc/postgrest.md): check_request() as db-pre-request,
-- the errors PostgREST turns into HTTP answers, the scope map, the key
-- identity for RLS, and exchange().
--
-- pg_temp.request() plays the part of PostgREST: it switches to the
-- request's role and sets the request the way PostgREST does
-- (transaction-local settings), calls check_request() and reports what
-- PostgREST would read: the error, or response.headers.  This session is
-- PostgREST's authenticator: request settings count only in a session of
-- one of apikey.authenticator_roles that has switched role.
--
\set VERBOSITY terse
DROP ROLE IF EXISTS regress_rest_web;
CREATE ROLE regress_rest_web NOLOGIN;
SELECT set_config('apikey.authenticator_roles', quote_ident(session_user), false) <> '' AS authenticator;
CREATE FUNCTION pg_temp.request(method text, path text, headers jsonb,
                                app_headers text DEFAULT NULL)
RETURNS TABLE (state text, message text, detail text, hint text,
               response_headers text, owner text)
LANGUAGE plpgsql AS $$
DECLARE
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM set_config('role', 'regress_rest_web', true),
            set_config('request.method', method, true),
            set_config('request.path', path, true),
            set_config('request.headers', headers::text, true),
            set_config('response.headers', coalesce(app_headers, ''), true);
    BEGIN
        PERFORM apikey.check_request();
        RETURN QUERY SELECT '00000', NULL::text, NULL::text, NULL::text,
            regexp_replace(current_setting('response.headers'),
                           '"X-RateLimit-Reset": "\d+"', '"X-RateLimit-Reset": "(epoch)"'),
            apikey.current_owner();
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                                det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
        RETURN QUERY SELECT st, msg,
            regexp_replace(det, '"X-RateLimit-Reset":"\d+"', '"X-RateLimit-Reset":"(epoch)"'),
            hnt, NULL::text, NULL::text;
    END;
END $$;

SELECT key_id AS k, token AS t FROM apikey.issue('regress_rest', scopes => '{read}',
    rate_limits => '[{"name": "minute", "limit": 2, "period": "1 minute", "burst": 2}]') \gset
SELECT token AS t_read FROM apikey.issue('regress_rest', scopes => '{read}',
    rate_limits => '[]') \gset
SELECT token AS t_ip FROM apikey.issue('regress_rest', scopes => '{read}',
    allowed_ips => '{10.0.0.0/8}', rate_limits => '[]') \gset
SELECT key_id AS k_rev, token AS t_rev FROM apikey.issue('regress_rest', rate_limits => '[]') \gset
SELECT apikey.revoke(:'k_rev');

-- Writes need "write", reads "read"; the most specific rule wins.
INSERT INTO apikey.scope_map (method, path_pattern, scope, priority) VALUES
    ('*',    '/%',         'read',  0),
    ('POST', '/%',         'write', 0),
    ('GET',  '/admin/%',   'admin', 0),
    ('GET',  '/admin/pub%', 'read', 0),
    ('*',    '/rpc/audit', 'audit', 10);

-- 200: the rate-limit headers follow the ones the application set; the
-- key's owner is the caller for RLS.  In a READ ONLY transaction, as GET.
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
SELECT * FROM pg_temp.request('GET', '/items', jsonb_build_object('x-api-key', :'t'),
                              '[{"Cache-Control": "no-cache"}]');
SELECT apikey.current_key_id() = :'k' AS key_id_is_the_key;
COMMIT;
-- forgotten at the end of the transaction
SELECT apikey.current_key_id() IS NULL AS forgotten, apikey.current_owner() = current_user AS owner_is_role;

-- 401: no key, an empty one, a malformed, an unknown and a revoked key
SELECT state, message, detail, hint FROM pg_temp.request('GET', '/items', '{}');
SELECT state, message, detail FROM pg_temp.request('GET', '/items', '{"x-api-key": ""}');
SELECT state, message, detail FROM pg_temp.request('GET', '/items', '{"x-api-key": "not a key"}');
-- longer than any token: an invalid key, not a missing one
SELECT state, message, detail FROM pg_temp.request('GET', '/items', jsonb_build_object('x-api-key', repeat('x', 300)));
SELECT state, message, detail FROM pg_temp.request('GET', '/items',
    jsonb_build_object('x-api-key', 'ak_live_' || repeat('A', 38)));
SELECT state, message, detail FROM pg_temp.request('GET', '/items', jsonb_build_object('x-api-key', :'t_rev'));

-- 403: a scope the key lacks, through the map
SELECT state, message, detail, hint FROM pg_temp.request('POST', '/items', jsonb_build_object('x-api-key', :'t_read'));
SELECT state, hint FROM pg_temp.request('GET', '/admin/users', jsonb_build_object('x-api-key', :'t_read'));
SELECT state, hint FROM pg_temp.request('GET', '/rpc/audit', jsonb_build_object('x-api-key', :'t_read'));
-- the longer pattern of the same priority: /admin/pub% needs "read"
SELECT state FROM pg_temp.request('GET', '/admin/public', jsonb_build_object('x-api-key', :'t_read'));
-- other methods fall back to the "*" rules
SELECT state FROM pg_temp.request('PATCH', '/items', jsonb_build_object('x-api-key', :'t_read'));

-- 403: an address outside the key's allowlist (first hop of x-forwarded-for)
SELECT state, message, detail FROM pg_temp.request('GET', '/items',
    jsonb_build_object('x-api-key', :'t_ip', 'x-forwarded-for', '192.0.2.1, 10.0.0.1'));
SELECT state FROM pg_temp.request('GET', '/items',
    jsonb_build_object('x-api-key', :'t_ip', 'x-forwarded-for', '10.1.2.3, 192.0.2.1'));
-- no address at all: the allowlist cannot be satisfied
SELECT state, detail FROM pg_temp.request('GET', '/items', jsonb_build_object('x-api-key', :'t_ip'));

-- 429 once the burst of 2 is spent (one request above, one here), with
-- Retry-After in the headers and the hint
SELECT state, response_headers FROM pg_temp.request('GET', '/items', jsonb_build_object('x-api-key', :'t'));
SELECT state, message, detail, hint FROM pg_temp.request('GET', '/items', jsonb_build_object('x-api-key', :'t'));
-- the error's two JSON texts have exactly the fields and types PostgREST reads
SELECT (SELECT array_agg(jsonb_typeof(v) ORDER BY k) FROM jsonb_each(message::jsonb) AS e(k, v)) AS message_types,
       jsonb_typeof(detail::jsonb->'status') AS status_type,
       (SELECT bool_and(jsonb_typeof(v) = 'string') FROM jsonb_each(detail::jsonb->'headers') AS e(k, v))
           AS header_values_are_strings
  FROM pg_temp.request('GET', '/items', jsonb_build_object('x-api-key', :'t'));

-- 503 when apikey.max_inflight requests are already in flight: the first
-- check_request of this transaction holds the only slot
SET apikey.max_inflight = 1;
BEGIN;
SELECT state FROM pg_temp.request('GET', '/items', jsonb_build_object('x-api-key', :'t_ip', 'x-forwarded-for', '10.0.0.1'));
SELECT state, message, detail, hint FROM pg_temp.request('GET', '/items', jsonb_build_object('x-api-key', :'t_ip', 'x-forwarded-for', '10.0.0.1'));
ROLLBACK;
RESET apikey.max_inflight;

-- PostgREST 11: PTnnn, the reason phrase as message
SET apikey.postgrest_error_style = 'pt';
SELECT state, message, detail, hint FROM pg_temp.request('GET', '/items', '{}');
SELECT state, message, detail, hint FROM pg_temp.request('GET', '/items', jsonb_build_object('x-api-key', :'t'));
RESET apikey.postgrest_error_style;

-- PostgREST 11's legacy per-header settings (on PostgreSQL 14 and later
-- only for header names that are identifiers)
SET apikey.header = 'xapikey';
BEGIN;
SELECT set_config('request.header.xapikey', :'t_read', true) IS NOT NULL AS legacy_header_set;
SELECT state FROM pg_temp.request('GET', '/items', '{}');
ROLLBACK;
RESET apikey.header;

-- Another header name; header names are matched in lower case
SET apikey.header = 'X-App-Key';
SHOW apikey.header;
SELECT state FROM pg_temp.request('GET', '/items', jsonb_build_object('x-app-key', :'t_ip', 'x-forwarded-for', '10.0.0.1'));
SELECT state, hint FROM pg_temp.request('GET', '/items', jsonb_build_object('x-api-key', :'t_ip', 'x-forwarded-for', '10.0.0.1'));
RESET apikey.header;
SET apikey.client_ip_header = 'x-real-ip';
SELECT state FROM pg_temp.request('GET', '/items', jsonb_build_object('x-api-key', :'t_ip', 'x-real-ip', '10.9.9.9'));
RESET apikey.client_ip_header;
SET apikey.header = '';

-- response.headers that is not an array is left alone, with a warning
-- (a key of the free tier, whose limits have headers to add)
SELECT token AS t_free FROM apikey.issue('regress_rest', scopes => '{read}') \gset
SELECT state, response_headers FROM pg_temp.request('GET', '/items',
    jsonb_build_object('x-api-key', :'t_free'), '{"Cache-Control": "no-cache"}');
-- a key without limits adds nothing
SELECT state, response_headers FROM pg_temp.request('GET', '/items',
    jsonb_build_object('x-api-key', :'t_read'), '[{"Cache-Control": "no-cache"}]');

-- Outside PostgREST (no request.method): plain errors
SELECT state, message, detail FROM pg_temp.request('', '', '{}');
SELECT state, message, detail FROM pg_temp.request('', '', jsonb_build_object('x-api-key', :'t'));

-- A change to the scope map applies from the next transaction
DELETE FROM apikey.scope_map WHERE scope = 'write';
SELECT state FROM pg_temp.request('POST', '/items', jsonb_build_object('x-api-key', :'t_ip', 'x-forwarded-for', '10.0.0.1'));
TRUNCATE apikey.scope_map;
SELECT state FROM pg_temp.request('GET', '/admin/users', jsonb_build_object('x-api-key', :'t_ip', 'x-forwarded-for', '10.0.0.1'));

-- The identity cannot be forged: current_key_id() is not a setting, and a
-- verified key outranks the JWT subject
SELECT set_config('apikey.current_key_id', :'k', false);
BEGIN;
SELECT set_config('role', 'regress_rest_web', true) IS NOT NULL AS switched,
       set_config('request.jwt.claims', '{"sub": "mallory"}', true) IS NOT NULL AS claims_set;
SELECT apikey.current_owner() AS jwt_owner, apikey.current_key_id() AS key_id;
SELECT owner FROM pg_temp.request('GET', '/items', jsonb_build_object('x-api-key', :'t_ip', 'x-forwarded-for', '10.0.0.1'));
ROLLBACK;

-- The same requests from a session that is not PostgREST's authenticator:
-- its request settings count for nothing, so it is not a PostgREST request
-- (plain errors) and has no client address (a forged X-Forwarded-For does
-- not meet the allowlist); the key itself is verified all the same.
RESET apikey.authenticator_roles;
SELECT state, message, detail FROM pg_temp.request('GET', '/items',
    jsonb_build_object('x-api-key', :'t_ip', 'x-forwarded-for', '10.0.0.1'));
SELECT state, message, detail FROM pg_temp.request('GET', '/items', jsonb_build_object('x-api-key', :'t_rev'));
BEGIN;
SELECT set_config('role', 'regress_rest_web', true) IS NOT NULL AS switched,
       set_config('request.jwt.claims', '{"sub": "mallory"}', true) IS NOT NULL AS claims_set;
SELECT apikey.current_owner() AS owner_is_the_role;
SELECT state, owner FROM pg_temp.request('GET', '/items', jsonb_build_object('x-api-key', :'t_read'));
ROLLBACK;
SELECT set_config('apikey.authenticator_roles', quote_ident(session_user), false) <> '' AS authenticator;

-- exchange(): a key for a JWT
SELECT key_id AS k_x, token AS t_x FROM apikey.issue('regress_rest', scopes => '{read}',
    rate_limits => '[]') \gset
SELECT apikey.exchange(:'t_ip');
SET apikey.jwt_secret = 'a secret of at least thirty-two characters';
CREATE FUNCTION pg_temp.jwt_part(jwt text, n int) RETURNS jsonb LANGUAGE sql AS $$
    SELECT convert_from(decode(rpad(translate(split_part(jwt, '.', n), '-_', '+/'),
                   (length(split_part(jwt, '.', n)) + 3) / 4 * 4, '='), 'base64'), 'UTF8')::jsonb
$$;
SELECT pg_temp.jwt_part(x->>'access_token', 1) AS header,
       pg_temp.jwt_part(x->>'access_token', 2) - 'key_id' - 'iat' - 'exp' AS claims,
       (pg_temp.jwt_part(x->>'access_token', 2)->>'key_id')::uuid = :'k_x' AS key_id,
       x->>'token_type' AS token_type, x->'expires_in' AS expires_in,
       (pg_temp.jwt_part(x->>'access_token', 2)->>'exp')::bigint
         - (pg_temp.jwt_part(x->>'access_token', 2)->>'iat')::bigint AS exp_minus_iat
  FROM apikey.exchange(:'t_x', ttl => '10 minutes') AS x;
-- the role claim from the key's jwt_role (admins only: a role for requests,
-- not a privileged one), else apikey.jwt_role
SELECT (apikey.update(:'k_x', '{"jwt_role": "pg_monitor"}')).jwt_role;
SELECT (apikey.update(:'k_x', '{"jwt_role": "regress_rest_web"}')).jwt_role;
SET apikey.jwt_role = 'web_user';
SELECT pg_temp.jwt_part(apikey.exchange(:'t_x')->>'access_token', 2)->>'role' AS key_role,
       pg_temp.jwt_part(apikey.exchange(:'t_read')->>'access_token', 2)->>'role' AS default_role;
-- an exchange is a request of the key: one whose limit is spent gets no JWT
SELECT apikey.exchange(:'t');
-- the allowlist applies: outside a request there is no client address
SELECT apikey.exchange(:'t_ip');
-- never beyond the key's own expiry
SELECT key_id AS k_soon, token AS t_soon FROM apikey.issue('regress_rest',
    expires_at => now() + interval '90 seconds') \gset
SELECT (apikey.exchange(:'t_soon')->>'expires_in')::int BETWEEN 85 AND 90 AS capped_at_expiry;
-- a key that does not verify gets nothing
SELECT apikey.exchange(:'t_rev');
SELECT apikey.exchange(NULL);
SELECT apikey.exchange(:'t_x', ttl => '0');
SELECT apikey.exchange(:'t_x', ttl => '31 days');
RESET apikey.jwt_secret;
RESET apikey.jwt_role;

-- Only admins read or change the scope map
CREATE ROLE regress_rest_user;
SET ROLE regress_rest_user;
SELECT count(*) FROM apikey.scope_map;
INSERT INTO apikey.scope_map VALUES ('*', '/%', 'x', 0);
RESET ROLE;
DROP ROLE regress_rest_user;
RESET apikey.authenticator_roles;
DROP ROLE regress_rest_web;
