-- The database of the PostgREST-shaped benchmarks (bench/postgrest.sh,
-- bench/pgbouncer.sh): PostgREST's roles, apikey, the keys of keys.sql with
-- the request headers that carry each, the endpoint's table, and the
-- pre-requests the harness compares (bench/workloads/postgrest.sql.in).

-- PostgREST's roles exist before the extension, which grants them what a
-- request needs
CREATE ROLE anon NOLOGIN;
CREATE ROLE authenticator LOGIN NOINHERIT;
GRANT anon TO authenticator;
CREATE EXTENSION apikey;
CREATE SCHEMA bench;
GRANT USAGE ON SCHEMA bench TO PUBLIC;

\ir keys.sql
-- the request headers of each key, as PostgREST passes them
ALTER TABLE bench.tokens ADD COLUMN headers text;
UPDATE bench.tokens SET headers = json_build_object(
    'accept', 'application/json', 'host', 'localhost:3000', 'user-agent', 'curl/8.4.0',
    'x-api-key', token, 'x-forwarded-for', '203.0.113.7')::text;
GRANT SELECT ON bench.tokens TO authenticator;

-- the endpoint: a small table, read by anon
CREATE TABLE public.items (id int PRIMARY KEY, name text, price numeric);
INSERT INTO public.items SELECT g, 'item ' || g, g * 1.5 FROM generate_series(1, 10) AS g;
GRANT SELECT ON public.items TO anon;

-- the no-op pre-request
CREATE FUNCTION bench.pre_noop() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
END $$;

-- what users write instead: a token bucket per key in a table
CREATE TABLE bench.pl_keys (
    key_hash    bytea PRIMARY KEY,
    owner       text NOT NULL,
    tokens      double precision NOT NULL,
    updated_at  timestamptz NOT NULL,
    rate        double precision NOT NULL,
    burst       double precision NOT NULL
);
INSERT INTO bench.pl_keys
SELECT sha256(convert_to(token, 'UTF8')), 'bench', 1e9, now(), 1e9, 1e9 FROM bench.tokens;

CREATE FUNCTION bench.pre_table() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    token text := nullif(current_setting('request.headers', true), '')::json->>'x-api-key';
    k bench.pl_keys;
BEGIN
    UPDATE bench.pl_keys
       SET tokens = least(burst, tokens + rate * extract(epoch FROM clock_timestamp() - updated_at)) - 1,
           updated_at = clock_timestamp()
     WHERE key_hash = sha256(convert_to(coalesce(token, ''), 'UTF8'))
       AND least(burst, tokens + rate * extract(epoch FROM clock_timestamp() - updated_at)) >= 1
    RETURNING * INTO k;
    IF NOT FOUND THEN
        RAISE sqlstate 'PGRST' USING
            message = '{"code":"429","message":"Too Many Requests"}',
            detail = '{"status":429,"headers":{}}';
    END IF;
    PERFORM set_config('response.headers', json_build_array(
        json_build_object('X-RateLimit-Limit', k.burst::bigint::text),
        json_build_object('X-RateLimit-Remaining', floor(k.tokens)::bigint::text))::text, true);
END $$;
GRANT EXECUTE ON FUNCTION bench.pre_noop(), bench.pre_table() TO anon;

VACUUM ANALYZE;
