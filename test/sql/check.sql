--
-- check(), consume(), throttle(): statuses, codes, headers, the order of the
-- checks, and the token-bucket semantics of doc/apikey.md, "Rate limits" and "Headers".
-- apikey.test_clock_offset moves apikey's clock to test refill.
--
\set VERBOSITY terse

-- Keys with a known limit: 100 per minute, burst 10 (0.6 s per token).
SELECT key_id AS k, token AS t FROM apikey.issue('regress_check', scopes => '{read}',
    rate_limits => '[{"name": "minute", "limit": 100, "period": "1 minute", "burst": 10}]') \gset

-- The example of doc/apikey.md, "Headers": a fresh bucket, one request.
SELECT allowed, status, code, owner, scopes, tier, limit_value, remaining, retry_after_ms,
       headers - 'X-RateLimit-Reset' AS headers,
       (headers->>'X-RateLimit-Reset')::bigint = ceil(extract(epoch FROM reset_at)) AS reset_header
  FROM apikey.check(:'t', 'read');

-- burst: 9 more pass, the 11th is refused, with nothing taken
SELECT count(*) FILTER (WHERE (apikey.check(:'t')).allowed) AS admitted
  FROM generate_series(1, 9);
SELECT allowed, status, code, remaining, retry_after_ms > 0 AND retry_after_ms <= 600 AS retry_within_one_token,
       headers->>'Retry-After' AS retry_after, headers->>'RateLimit' AS ratelimit,
       headers->>'X-RateLimit-Remaining' AS x_remaining
  FROM apikey.check(:'t');

-- fractional refill: 0.6 s per token
SET apikey.test_clock_offset = '1100ms';
SELECT allowed, remaining FROM apikey.check(:'t');
SELECT allowed, remaining FROM apikey.check(:'t');
SET apikey.test_clock_offset = '1800ms';
SELECT allowed, remaining FROM apikey.check(:'t');
-- never beyond the burst
SET apikey.test_clock_offset = '1h';
SELECT remaining, headers->>'RateLimit' AS ratelimit FROM apikey.check(:'t', cost => 0);
RESET apikey.test_clock_offset;

-- cost: several tokens at once, 0 to look without taking, never more than the burst
SELECT key_id AS ck, token AS ct FROM apikey.issue('regress_check',
    rate_limits => '[{"limit": 10, "period": "1 hour"}]') \gset
SELECT allowed, remaining FROM apikey.check(:'ct', cost => 4);
SELECT allowed, remaining FROM apikey.check(:'ct', cost => 4);
SELECT allowed, code, remaining, headers->>'RateLimit' AS ratelimit FROM apikey.check(:'ct', cost => 4);
SELECT allowed, remaining FROM apikey.check(:'ct', cost => 2);
SELECT allowed, remaining FROM apikey.check(:'ct', cost => 0);
SELECT allowed FROM apikey.check(:'ct', cost => 11);
SELECT allowed FROM apikey.check(:'ct', cost => -1);

-- Several limits: admitted only if all have the tokens, debited together.
SELECT key_id AS mk, token AS mt FROM apikey.issue('regress_check',
    rate_limits => '[{"name": "second", "limit": 5, "period": 1, "burst": 5},
                     {"name": "hour", "limit": 7, "period": "1 hour"}]') \gset
SELECT allowed, remaining, headers->>'RateLimit' AS ratelimit,
       headers->>'RateLimit-Policy' AS policy, headers->>'X-RateLimit-Limit' AS x_limit
  FROM apikey.check(:'mt', cost => 3);
-- "second" has 2 left, "hour" 4: a cost of 3 is refused by "second" alone,
-- and "hour" keeps its 4
SELECT allowed, code, headers->>'RateLimit' AS ratelimit FROM apikey.check(:'mt', cost => 3);
SELECT l->>'name' AS name, l->>'burst' AS burst, l->>'remaining' AS remaining,
       ceil((l->>'full_in_ms')::numeric / 1000) AS full_in_s
  FROM apikey.introspect((SELECT prefix FROM apikey.keys WHERE id = :'mk')) AS j,
       jsonb_array_elements(j->'live_limits') AS l;
SET apikey.test_clock_offset = '2s';
-- "second" refilled; "hour" has 4: a cost of 5 is refused by "hour" alone
SELECT allowed, code, headers->>'RateLimit' AS ratelimit,
       headers->>'X-RateLimit-Remaining' AS most_restrictive FROM apikey.check(:'mt', cost => 5);
SELECT allowed, headers->>'RateLimit' AS ratelimit FROM apikey.check(:'mt', cost => 4);
RESET apikey.test_clock_offset;

-- A key without limits of its own uses its tier's; an empty list means none.
SELECT token AS ft FROM apikey.issue('regress_check') \gset
SELECT limit_value, remaining, headers->>'RateLimit-Policy' AS policy FROM apikey.check(:'ft');
SELECT token AS nt FROM apikey.issue('regress_check', rate_limits => '[]') \gset
SELECT allowed, code, limit_value, remaining, reset_at, headers FROM apikey.check(:'nt', cost => 1000000);

-- Every verification failure, with its HTTP status and no headers.
SELECT key_id AS rk, token AS rt FROM apikey.issue('regress_check', allowed_ips => '{10.0.0.0/8}') \gset
SELECT apikey.revoke(:'rk');
SELECT c.code, c.status, c.allowed, c.key_id IS NOT NULL AS names_key, c.headers
  FROM (VALUES (NULL::text, NULL::text, NULL::text), ('garbage', NULL, NULL),
               (:'rt', NULL, NULL), (:'t', 'write', NULL)) AS v(tok, scope, ip),
       LATERAL apikey.check(v.tok, v.scope, v.ip) AS c;
SELECT token AS it FROM apikey.issue('regress_check', allowed_ips => '{10.0.0.0/8}') \gset
SELECT code, status FROM apikey.check(:'it', client_ip => '192.168.0.1');

-- consume(): the same buckets as check(), by key id
SELECT key_id AS uk, token AS ut FROM apikey.issue('regress_check',
    rate_limits => '[{"limit": 3, "period": "1 hour"}]') \gset
SELECT * FROM apikey.consume(:'uk', 2) \gset c_
SELECT :'c_allowed' AS allowed, :'c_code' AS code, :'c_remaining' AS remaining;
SELECT allowed, remaining FROM apikey.check(:'ut');
SELECT allowed, code, remaining, retry_after_ms > 0 AS must_wait FROM apikey.consume(:'uk');
SELECT allowed, code FROM apikey.consume('00000000-0000-0000-0000-00000000abcd');
SELECT allowed, code FROM apikey.consume(:'rk');
SELECT allowed, code FROM apikey.consume(NULL);

-- throttle(): any bucket, by name
SELECT allowed, code, limit_value, remaining FROM apikey.throttle('login:alice', 3, '1 minute');
SELECT count(*) FILTER (WHERE (apikey.throttle('login:alice', 3, '1 minute')).allowed) AS admitted
  FROM generate_series(1, 5);
SELECT allowed, code, retry_after_ms BETWEEN 1 AND 20000 AS retry_in_20s
  FROM apikey.throttle('login:alice', 3, '1 minute');
SELECT allowed, remaining FROM apikey.throttle('login:bob', 3, '1 minute');
SELECT allowed, limit_value, remaining FROM apikey.throttle('jobs:tenant-1', 10, '1 second', burst => 50, cost => 20);
SELECT allowed FROM apikey.throttle('', 1, '1 second');
SELECT allowed FROM apikey.throttle('x', 0, '1 second');
SELECT allowed FROM apikey.throttle('x', 1, '0 seconds');
SELECT allowed FROM apikey.throttle('x', 1, '1 second', burst => 0);
SELECT allowed FROM apikey.throttle('x', 1, '1 second', cost => 2);
SELECT allowed FROM apikey.throttle('x', 1, '1 year', burst => 1000000);
SELECT allowed FROM apikey.throttle(NULL, 1, '1 second');

-- The per-address limit comes before the key's, and a refusal takes nothing.
SELECT key_id AS pk, token AS pt FROM apikey.issue('regress_check',
    rate_limits => '[{"limit": 100, "period": "1 hour"}]') \gset
SET apikey.ip_rate_limit = 2;
SET apikey.ip_rate_period = '1h';
SELECT allowed, remaining FROM apikey.check(:'pt', client_ip => '198.51.100.7');
SELECT allowed, remaining FROM apikey.check(:'pt', client_ip => '198.51.100.7');
SELECT allowed, status, code, headers->>'RateLimit-Policy' AS policy,
       headers->>'RateLimit' AS ratelimit, headers ? 'Retry-After' AS has_retry_after
  FROM apikey.check(:'pt', client_ip => '198.51.100.7');
SELECT allowed, remaining AS key_remaining_untouched FROM apikey.check(:'pt', client_ip => '198.51.100.8');
-- no address, no per-address limit
SELECT allowed FROM apikey.check(:'pt');
-- IPv6 clients are limited by their /64
SELECT (apikey.check(:'pt', client_ip => '2001:db8:1:1::1')).allowed,
       (apikey.check(:'pt', client_ip => '2001:db8:1:1::2')).allowed,
       (apikey.check(:'pt', client_ip => '2001:db8:1:1:ffff::3')).code;
RESET apikey.ip_rate_limit;
RESET apikey.ip_rate_period;

-- The server-wide in-flight limit: each admitted check holds a slot until
-- its transaction ends.
SET apikey.max_inflight = 2;
BEGIN;
SELECT allowed FROM apikey.check(:'pt');
SELECT allowed FROM apikey.check(:'pt');
SELECT allowed, status, code, headers FROM apikey.check(:'pt');
COMMIT;
SELECT allowed AS after_commit FROM apikey.check(:'pt');
BEGIN;
SELECT (apikey.check(:'pt')).allowed, (apikey.check(:'pt')).allowed, (apikey.check(:'pt')).code;
ROLLBACK;
SELECT allowed AS after_rollback FROM apikey.check(:'pt');
-- an OVERLOADED request took nothing from the key
SELECT remaining FROM apikey.check(:'pt', cost => 0);
RESET apikey.max_inflight;

-- The key's concurrency limit, likewise.
SELECT max_concurrency FROM apikey.update(:'pk', '{"max_concurrency": 1}');
BEGIN;
SELECT allowed FROM apikey.check(:'pt');
SELECT allowed, status, code, headers FROM apikey.check(:'pt');
COMMIT;
SELECT allowed AS after_commit FROM apikey.check(:'pt');
SELECT max_concurrency FROM apikey.update(:'pk', '{"max_concurrency": null}');

-- Abuse cooldown: 3 failed verifications from an address in a minute.
-- (Each part that moves the clock uses keys of its own: going back in time
-- makes a bucket used "later" look drained.)
SET apikey.abuse_threshold = 3;
SET apikey.abuse_cooldown = '60s';
SELECT token AS at FROM apikey.issue('regress_check') \gset
SELECT (apikey.check('nope', client_ip => '203.0.113.9')).code,
       (apikey.check('nope', client_ip => '203.0.113.9')).code;
SELECT allowed, code AS two_failures FROM apikey.check(:'at', client_ip => '203.0.113.9');
SELECT (apikey.check('nope', client_ip => '203.0.113.9')).code;
SELECT allowed, status, code, key_id IS NOT NULL AS names_key,
       (headers->>'Retry-After')::int BETWEEN 59 AND 60 AS retry_after_cooldown
  FROM apikey.check(:'at', client_ip => '203.0.113.9');
SELECT (apikey.verify(:'at', client_ip => '203.0.113.9')).code AS verify_says;
SELECT code AS other_address FROM apikey.check(:'at', client_ip => '203.0.113.10');
-- failures before a valid key: precedence keeps them NOT_FOUND/MALFORMED
SELECT code FROM apikey.check('nope', client_ip => '203.0.113.9');
SET apikey.test_clock_offset = '61s';
SELECT code AS after_cooldown FROM apikey.check(:'at', client_ip => '203.0.113.9');
RESET apikey.test_clock_offset;

-- ... or 3 guesses at the rest of a known display prefix, from anywhere:
-- well-formed tokens (their CRC-32 computed here independently) that share
-- the key's display prefix.
CREATE FUNCTION pg_temp.crc32(s text) RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    crc bigint := 4294967295;
    b int;
BEGIN
    FOREACH b IN ARRAY (SELECT array_agg(get_byte(convert_to(s, 'UTF8'), i) ORDER BY i)
                          FROM generate_series(0, octet_length(s) - 1) AS i) LOOP
        crc := crc # b;
        FOR j IN 1 .. 8 LOOP
            crc := CASE WHEN crc & 1 = 1 THEN (crc >> 1) # 3988292384 ELSE crc >> 1 END;
        END LOOP;
    END LOOP;
    RETURN crc # 4294967295;
END $$;
CREATE FUNCTION pg_temp.base62(v bigint, width int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT string_agg(substr('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
                             (v / (62::bigint ^ (width - i))::bigint % 62)::int + 1, 1), '' ORDER BY i)
      FROM generate_series(1, width) AS i
$$;
CREATE FUNCTION pg_temp.forge(genuine text, n int) RETURNS text LANGUAGE sql AS $$
    SELECT f || pg_temp.base62(pg_temp.crc32(f), 6)
      FROM (SELECT left(genuine, length(genuine) - 30) || lpad(n::text, 24, 'Z') AS f) AS x
$$;
SELECT token AS bt FROM apikey.issue('regress_check') \gset
-- the independent CRC-32 agrees with apikey's on a real token
SELECT right(:'bt', 6) = pg_temp.base62(pg_temp.crc32(left(:'bt', -6)), 6) AS same_checksum;
SELECT g, (apikey.check(pg_temp.forge(:'bt', g), client_ip => '192.0.2.' || g)).code
  FROM generate_series(1, 3) AS g;
-- the prefix is public: guesses at it never refuse the key's holder
SELECT code AS real_key_from_a_fresh_address FROM apikey.check(:'bt', client_ip => '192.0.2.200');
SELECT code AS real_key_without_address FROM apikey.check(:'bt');
SELECT code AS real_key_from_a_guesser FROM apikey.check(:'bt', client_ip => '192.0.2.1');
-- but once the prefix is in cooldown, one more guess blocks its address at once
SELECT code AS fourth_guess FROM apikey.check(pg_temp.forge(:'bt', 4), client_ip => '192.0.2.4');
SELECT code AS real_key_from_the_fourth_guesser FROM apikey.check(:'bt', client_ip => '192.0.2.4');
SELECT code AS real_key_still_elsewhere FROM apikey.check(:'bt', client_ip => '192.0.2.200');
SET apikey.test_clock_offset = '61s';
SELECT code AS after_cooldown FROM apikey.check(:'bt', client_ip => '192.0.2.4');
RESET apikey.test_clock_offset;
RESET apikey.abuse_threshold;
RESET apikey.abuse_cooldown;

-- Nothing is written: all of it works in a read-only transaction.
BEGIN READ ONLY;
SELECT (apikey.check(:'pt')).code, (apikey.consume(:'pk')).code,
       (apikey.throttle('read-only', 1, '1 minute')).code, (apikey.verify(:'pt')).code;
COMMIT;

-- The headers object is built in jsonb's binary form: it must equal its own
-- re-parsed text, and every key must be found by ? (a binary search over
-- the sorted keys), in every shape check() produces.
CREATE TEMP TABLE shapes AS
SELECT 'no limits' AS shape, headers FROM apikey.check(:'nt')
UNION ALL SELECT 'one limit', headers FROM apikey.check(:'ft')
UNION ALL SELECT 'two limits', headers FROM apikey.check(:'mt', cost => 0)
UNION ALL SELECT 'refused', headers FROM apikey.check(:'ct')
UNION ALL SELECT 'unauthorized', headers FROM apikey.check('garbage');
SELECT shape, (SELECT count(*) FROM jsonb_object_keys(headers)) AS n,
       headers = headers::text::jsonb AS same_as_parsed,
       headers::text = headers::text::jsonb::text AS same_text,
       (SELECT bool_and(headers ? k) FROM jsonb_object_keys(headers::text::jsonb) AS k) AS keys_found,
       (SELECT string_agg(k, ',') FROM jsonb_object_keys(headers) AS k) AS keys_in_order
  FROM shapes ORDER BY shape;

-- The counters moved.
SELECT rate_limited_total > 0 AS rate_limited, blocked_total >= 2 AS blocked,
       overloaded_total >= 2 AS overloaded, buckets_in_use > 0 AS buckets,
       buckets_capacity >= 1000000 AS room_for_a_million,
       key_buckets > 0 AS key_buckets, address_buckets > 0 AS address_buckets,
       named_buckets > 0 AS named_buckets, cooldowns > 0 AS cooldowns,
       shared_memory_used > 0 AS memory_used,
       shared_memory_budget = 512 * 1024 * 1024 AS default_budget
  FROM apikey.stats;
