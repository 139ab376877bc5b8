--
-- Applications outside PostgREST, public endpoints and the anonymous tier
-- (doc/apikey.md): check() with an endpoint and a method, the scope map
-- for them, finish(), requests without a key.  (What finish() records in
-- usage and the audit log is the worker's: test/t/024_app_examples.pl.)
--
\set VERBOSITY terse

SELECT key_id AS k, token AS t FROM apikey.issue('regress_apps', scopes => '{orders:read}',
    rate_limits => '[]') \gset
INSERT INTO apikey.scope_map (method, path_pattern, scope, public) VALUES
    ('GET',  '/orders%',  'orders:read',  false),
    ('POST', '/orders%',  'orders:write', false),
    ('GET',  '/health',   NULL,           true),
    ('*',    '/docs/%',   NULL,           true);

-- The endpoint and method decide the scope, through the scope map; an
-- explicit scope wins.
SELECT v.method, v.endpoint, c.code, c.status
  FROM (VALUES ('GET', '/orders/7'), ('get', '/orders/7'), ('POST', '/orders'),
               (NULL, '/orders/7')) AS v(method, endpoint),
       LATERAL apikey.check(:'t', endpoint => v.endpoint, method => v.method) AS c;
SELECT code FROM apikey.check(:'t', scope => 'orders:read', endpoint => '/orders', method => 'POST');
SELECT apikey.finish(200);

-- Public endpoints need no key: no identity, per-address limits only.
SELECT allowed, code, key_id, owner, headers FROM apikey.check(NULL, endpoint => '/health', method => 'GET');
SELECT code FROM apikey.check(NULL, endpoint => '/docs/index.html', method => 'HEAD');
SELECT code, status FROM apikey.check(NULL, endpoint => '/health', method => 'POST');
SELECT code, status FROM apikey.check(NULL, endpoint => '/orders', method => 'GET');
-- a key sent to a public endpoint is checked as ever
SELECT code FROM apikey.check('not a key', endpoint => '/health', method => 'GET');
SELECT code, owner FROM apikey.check(:'t', endpoint => '/health', method => 'GET');
SET apikey.ip_rate_limit = 2;
SET apikey.ip_rate_period = '1h';
SELECT (apikey.check(NULL, client_ip => '192.0.2.30', endpoint => '/health', method => 'GET')).code,
       (apikey.check(NULL, client_ip => '192.0.2.30', endpoint => '/health', method => 'GET')).code;
SELECT code, status, headers->>'RateLimit-Policy' AS policy
  FROM apikey.check(NULL, client_ip => '192.0.2.30', endpoint => '/health', method => 'GET');
RESET apikey.ip_rate_limit;
RESET apikey.ip_rate_period;
-- a blocked address is blocked there too
SELECT addresses FROM apikey.block('192.0.2.31', 'test');
SELECT code FROM apikey.check(NULL, client_ip => '192.0.2.31', endpoint => '/health', method => 'GET');
SELECT apikey.unblock('192.0.2.31');

-- The anonymous tier: requests without a key, where no scope is needed,
-- get its limits per address.
SELECT anonymous_total AS anon_before FROM apikey.stats \gset
SELECT code AS without_tier FROM apikey.check(NULL);
INSERT INTO apikey.tiers (name, rate_limits) VALUES
    ('regress_anon', '[{"name": "anon", "limit": 2, "period": "1 hour"}]');
SET apikey.anonymous_tier = 'regress_anon';
SELECT code, headers->>'RateLimit-Policy' AS policy, headers->>'RateLimit' AS ratelimit
  FROM apikey.check(NULL, client_ip => '198.51.100.40');
SELECT code FROM apikey.check(NULL, client_ip => '198.51.100.40');
SELECT code, status, headers ? 'Retry-After' AS retry_after
  FROM apikey.check(NULL, client_ip => '198.51.100.40');
SELECT code AS other_address FROM apikey.check(NULL, client_ip => '198.51.100.41');
SELECT code AS look FROM apikey.check(NULL, client_ip => '198.51.100.40', cost => 0);
-- a scope still needs a key
SELECT code AS scoped FROM apikey.check(NULL, 'orders:read', '198.51.100.42');
SELECT code AS scoped_endpoint FROM apikey.check(NULL, client_ip => '198.51.100.42',
                                                endpoint => '/orders', method => 'GET');
-- an empty token is not "no key"
SELECT code AS empty_token FROM apikey.check('', client_ip => '198.51.100.43');
SELECT anonymous_total - :anon_before AS anonymous FROM apikey.stats;
-- a tier that does not exist is none
SET apikey.anonymous_tier = 'regress_no_such_tier';
SELECT code FROM apikey.check(NULL, client_ip => '198.51.100.44');
RESET apikey.anonymous_tier;

-- finish(): closes the request check(..., endpoint) opened in this
-- session -- the last one above -- once.
SELECT apikey.finish(401) AS closes_the_last, apikey.finish(200) AS nothing_open;
SELECT code FROM apikey.check(:'t', endpoint => '/orders/1', method => 'GET');
SELECT apikey.finish(404, '12 ms') AS finished, apikey.finish(200) AS again;
-- its slots are held until then, across transactions
SELECT max_concurrency FROM apikey.update(:'k', '{"max_concurrency": 1}');
SELECT code FROM apikey.check(:'t', endpoint => '/orders/1', method => 'GET');
SELECT code AS while_open FROM apikey.check(:'t', cost => 0);
SELECT apikey.finish(200);
SELECT code AS after_finish FROM apikey.check(:'t', cost => 0);
-- the next application request of the session closes the last one
SELECT code FROM apikey.check(:'t', endpoint => '/orders/1', method => 'GET');
SELECT code AS next_request FROM apikey.check(:'t', endpoint => '/orders/2', method => 'GET');
SELECT apikey.finish(200);

-- Bad input: 22023 with what is wrong, nothing taken.
SELECT apikey.check(:'t', endpoint => '');
SELECT apikey.check(:'t', endpoint => repeat('/x', 600));
SELECT apikey.check(:'t', endpoint => '/x', method => 'G3T');
SELECT apikey.check(:'t', endpoint => '/x', method => '');
SELECT apikey.check(:'t', endpoint => '/x', method => 'VERYLONGMETHODNAME');
SELECT apikey.finish(NULL);
SELECT apikey.finish(99);
SELECT apikey.finish(600);
SELECT apikey.finish(200, '-1 ms');
SELECT apikey.finish(200, '2 days');
SELECT code AS slot_free FROM apikey.check(:'t', cost => 0);

-- check_request(): a public endpoint or the anonymous tier, without a key.
-- pg_temp.request() plays PostgREST, as in postgrest.sql: this session is
-- its authenticator, and each request switches to the request's role.
DROP ROLE IF EXISTS regress_apps_web;
CREATE ROLE regress_apps_web NOLOGIN;
SELECT set_config('apikey.authenticator_roles', quote_ident(session_user), false) <> '' AS authenticator;
CREATE FUNCTION pg_temp.request(method text, path text, headers jsonb)
RETURNS TABLE (state text, detail text, response_headers text, owner text)
LANGUAGE plpgsql AS $$
DECLARE
    st text; det text;
BEGIN
    PERFORM set_config('role', 'regress_apps_web', true),
            set_config('request.method', method, true),
            set_config('request.path', path, true),
            set_config('request.headers', headers::text, true),
            set_config('response.headers', '', true);
    BEGIN
        PERFORM apikey.check_request();
        RETURN QUERY SELECT '00000', NULL::text,
            regexp_replace(current_setting('response.headers'),
                           '"X-RateLimit-Reset": "\d+"', '"X-RateLimit-Reset": "(epoch)"'),
            apikey.current_owner();
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, det = PG_EXCEPTION_DETAIL;
        RETURN QUERY SELECT st,
            regexp_replace(det, '"X-RateLimit-Reset":"\d+"', '"X-RateLimit-Reset":"(epoch)"'),
            NULL::text, NULL::text;
    END;
END $$;
BEGIN;
SELECT * FROM pg_temp.request('GET', '/health', '{"x-forwarded-for": "203.0.113.60"}');
ROLLBACK;
BEGIN;
SELECT state FROM pg_temp.request('GET', '/orders', '{"x-forwarded-for": "203.0.113.60"}');
ROLLBACK;
SET apikey.anonymous_tier = 'regress_anon';
BEGIN;
SELECT * FROM pg_temp.request('GET', '/anything', '{"x-forwarded-for": "203.0.113.61"}');
ROLLBACK;
BEGIN;
SELECT * FROM pg_temp.request('GET', '/anything', '{"x-forwarded-for": "203.0.113.61"}');
ROLLBACK;
BEGIN;
SELECT state, detail FROM pg_temp.request('GET', '/anything', '{"x-forwarded-for": "203.0.113.61"}');
ROLLBACK;
RESET apikey.anonymous_tier;

TRUNCATE apikey.scope_map;
DELETE FROM apikey.keys WHERE owner = 'regress_apps';
DELETE FROM apikey.tiers WHERE name = 'regress_anon';
RESET apikey.authenticator_roles;
DROP ROLE regress_apps_web;
