--
-- What a client is told (doc/apikey.md, "Headers"): the IETF fields of
-- token buckets and quotas, X-RateLimit-* of the most restrictive limit,
-- check(cost => 0) as a true look, and apikey.limits().
--
\set VERBOSITY terse

-- The seeded tiers: q is the burst, w the seconds to fill it, so q/w is
-- the rate; r never exceeds q.
SELECT t.name, c.headers->>'RateLimit-Policy' AS policy, c.headers->>'RateLimit' AS ratelimit,
       (regexp_match(c.headers->>'RateLimit', 'r=(\d+)'))[1]::int
         <= (regexp_match(c.headers->>'RateLimit-Policy', 'q=(\d+)'))[1]::int AS r_within_q
  FROM apikey.tiers AS t,
       LATERAL apikey.issue('regress_headers', tier => t.name) AS i,
       LATERAL apikey.check(i.token) AS c
 WHERE t.name IN ('free', 'premium', 'enterprise')
 ORDER BY t.name;

-- A limit whose window is not whole seconds: rounded up, at least 1.
SELECT token AS ft FROM apikey.issue('regress_headers',
    rate_limits => '[{"name": "fast", "limit": 1000, "period": "1 second", "burst": 3},
                     {"name": "slow", "limit": 7, "period": "1 minute"}]') \gset
SELECT headers->>'RateLimit-Policy' AS policy FROM apikey.check(:'ft');

-- Quotas are policies too.  After 2 requests of a daily quota of 3 with a
-- bucket of 100, the quota is the most restrictive: X-RateLimit-* say so.
SELECT key_id AS qk, token AS qt FROM apikey.issue('regress_headers',
    rate_limits => '[{"name": "minute", "limit": 100, "period": "1 minute"}]') \gset
SELECT daily_quota FROM apikey.update(:'qk', '{"daily_quota": 3}');
SELECT code FROM apikey.check(:'qt');
SELECT allowed, limit_value, remaining,
       headers->>'RateLimit-Policy' AS policy,
       regexp_replace(headers->>'RateLimit', 't=\d+', 't=#', 'g') AS ratelimit,
       headers->>'X-RateLimit-Limit' AS x_limit, headers->>'X-RateLimit-Remaining' AS x_remaining,
       (headers->>'X-RateLimit-Reset')::bigint
         = extract(epoch FROM (date_trunc('day', now() AT TIME ZONE 'UTC') + interval '1 day')
                                AT TIME ZONE 'UTC')::bigint AS resets_at_utc_midnight
  FROM apikey.check(:'qt');

-- A look (cost 0) reports every refusal and takes nothing.
SELECT code FROM apikey.check(:'qt');
SELECT allowed, status, code, remaining, headers ? 'Retry-After' AS retry_after
  FROM apikey.check(:'qt', cost => 0);
SELECT allowed, code FROM apikey.check(:'qt');
-- the bucket was not touched by the looks or the refusal: 100 - 3 left
SELECT remaining FROM apikey.limits(:'qt') WHERE name = 'minute';

-- ... a bucket without a token, with the time until one:
SELECT key_id AS bk, token AS bt FROM apikey.issue('regress_headers',
    rate_limits => '[{"name": "hour", "limit": 2, "period": "1 hour"}]') \gset
SELECT (apikey.check(:'bt')).code, (apikey.check(:'bt')).code;
SELECT allowed, code, remaining, retry_after_ms BETWEEN 1795000 AND 1800000 AS retry_half_an_hour
  FROM apikey.check(:'bt', cost => 0);
SELECT allowed, code, remaining FROM apikey.check(:'bt', cost => 0);
-- ... a key whose concurrency slots are all taken:
SELECT max_concurrency FROM apikey.update(:'qk', '{"daily_quota": null, "max_concurrency": 1}');
BEGIN;
SELECT code FROM apikey.check(:'qt');
SELECT allowed, code FROM apikey.check(:'qt', cost => 0);
COMMIT;
SELECT allowed, code FROM apikey.check(:'qt', cost => 0);
-- ... a server with no request slot left:
SET apikey.max_inflight = 1;
BEGIN;
SELECT code FROM apikey.check(:'ft');
SELECT allowed, code, status FROM apikey.check(:'ft', cost => 0);
ROLLBACK;
RESET apikey.max_inflight;
-- ... an address with no token left:
SET apikey.ip_rate_limit = 1;
SET apikey.ip_rate_period = '1h';
SELECT code FROM apikey.check(:'ft', client_ip => '192.0.2.44');
SELECT allowed, code, headers->>'RateLimit-Policy' AS policy
  FROM apikey.check(:'ft', client_ip => '192.0.2.44', cost => 0);
RESET apikey.ip_rate_limit;
RESET apikey.ip_rate_period;

-- apikey.limits(): every limit of a key, as it stands; nothing for a
-- token that does not verify.
SELECT key_id AS lk, token AS lt FROM apikey.issue('regress_headers', max_uses => 10,
    rate_limits => '[{"name": "minute", "limit": 10, "period": "1 minute"},
                     {"name": "trial", "limit": 1, "period": "1 day", "shadow": true}]') \gset
SELECT daily_quota FROM apikey.update(:'lk', '{"daily_quota": 50, "max_concurrency": 4}');
SELECT code FROM apikey.check(:'lt');
SELECT name, kind, applies_to, limit_value, remaining, reset_at IS NOT NULL AS resets, shadow
  FROM apikey.limits(:'lt') ORDER BY kind, name;
SELECT count(*) AS rows_for_garbage FROM apikey.limits('ak_live_nothing');
SELECT count(*) AS rows_for_null FROM apikey.limits(NULL);

DELETE FROM apikey.keys WHERE owner = 'regress_headers';
