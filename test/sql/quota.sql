--
-- Quotas (doc/apikey.md, "Quotas"): daily and monthly counts in shared memory,
-- QUOTA_EXCEEDED with Retry-After at the UTC rollover, and the refunds:
-- when a later step refuses the request, and consume(refund_on_rollback).
-- apikey.test_clock_offset moves apikey's clock across a UTC midnight.
--
\set VERBOSITY terse

-- A daily quota of 5 and no rate limit: 5 pass, the 6th is refused until
-- the next UTC midnight.
SELECT key_id AS k, token AS t FROM apikey.issue('regress_quota', rate_limits => '[]') \gset
SELECT daily_quota, monthly_quota FROM apikey.update(:'k', '{"daily_quota": 5}');
SELECT count(*) FILTER (WHERE (apikey.check(:'t')).allowed) AS admitted
  FROM generate_series(1, 5);
SELECT allowed, status, code, limit_value, remaining,
       reset_at = (date_trunc('day', now() AT TIME ZONE 'UTC') + interval '1 day') AT TIME ZONE 'UTC'
           AS reset_at_next_utc_midnight,
       abs(retry_after_ms / 1000.0 - extract(epoch FROM reset_at - clock_timestamp())) < 2
           AS retry_after_ms_until_then,
       (headers->>'Retry-After')::bigint = ceil(retry_after_ms / 1000.0) AS retry_after_header,
       headers->>'RateLimit-Policy' AS policy,
       headers->>'X-RateLimit-Limit' AS x_limit,
       headers->>'X-RateLimit-Remaining' AS x_remaining
  FROM apikey.check(:'t');
-- a refused request took nothing; a cost of 0 still looks
SELECT allowed, code FROM apikey.check(:'t', cost => 0);
SELECT quota_exceeded_total > 0 AS counted FROM apikey.stats;

-- The next UTC day starts from zero.
SELECT set_config('apikey.test_clock_offset',
         (1000 * ceil(extract(epoch FROM
            (date_trunc('day', clock_timestamp() AT TIME ZONE 'UTC') + interval '1 day')
              AT TIME ZONE 'UTC' - clock_timestamp())) + 1000)::bigint::text, false) IS NOT NULL
       AS tomorrow;
SELECT count(*) FILTER (WHERE (apikey.check(:'t')).allowed) AS admitted_tomorrow
  FROM generate_series(1, 6);
RESET apikey.test_clock_offset;

-- A request refused by a later step (here the rate limit) gives its quota
-- unit back: 2 pass, 2 are rate-limited, and after a refill the third unit
-- of the quota is still there.
SELECT key_id AS rk, token AS rt FROM apikey.issue('regress_quota',
    rate_limits => '[{"limit": 1, "period": "1 minute", "burst": 2}]') \gset
SELECT daily_quota FROM apikey.update(:'rk', '{"daily_quota": 3}');
SELECT code FROM apikey.check(:'rt');
SELECT code FROM apikey.check(:'rt');
SELECT code FROM apikey.check(:'rt');
SELECT code FROM apikey.check(:'rt');
SET apikey.test_clock_offset = '61s';
SELECT code FROM apikey.check(:'rt');
SET apikey.test_clock_offset = '122s';
SELECT code, limit_value, remaining FROM apikey.check(:'rt');
RESET apikey.test_clock_offset;

-- A monthly quota from the tier, refused until the 1st of the next month.
INSERT INTO apikey.tiers (name, rate_limits, monthly_quota, price_per_1k)
VALUES ('regress_metered', '[]', 2, 0.5);
SELECT key_id AS mk, token AS mt FROM apikey.issue('regress_quota', tier => 'regress_metered') \gset
SELECT code FROM apikey.check(:'mt');
SELECT code FROM apikey.check(:'mt', cost => 1);
SELECT code, limit_value, remaining,
       reset_at = (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC'
           AS reset_at_next_month,
       headers->>'RateLimit-Policy' = format('"monthly_quota";q=2;w=%s',
           extract(epoch FROM (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month')
                              - date_trunc('month', now() AT TIME ZONE 'UTC'))::bigint) AS policy_is_the_month
  FROM apikey.check(:'mt');
-- the key's own quota overrides the tier's
SELECT monthly_quota FROM apikey.update(:'mk', '{"monthly_quota": 3}');
SELECT code FROM apikey.check(:'mt');
SELECT code FROM apikey.check(:'mt');

-- consume() counts against quotas too.  With refund_on_rollback, the units
-- of a transaction or savepoint that rolls back are given back.
SELECT key_id AS ck FROM apikey.issue('regress_quota', rate_limits => '[]') \gset
SELECT daily_quota FROM apikey.update(:'ck', '{"daily_quota": 10}');
CREATE TEMP TABLE consumer AS SELECT :'ck'::uuid AS id;
BEGIN;
SELECT allowed, code FROM apikey.consume(:'ck', 4, refund_on_rollback => true);
ROLLBACK;
-- without it, kept: 4
BEGIN;
SELECT allowed FROM apikey.consume(:'ck', 4);
ROLLBACK;
-- a savepoint rolled back gives back its own units only: 4 + 1
BEGIN;
SELECT allowed FROM apikey.consume(:'ck', 1, refund_on_rollback => true);
SAVEPOINT s;
SELECT allowed FROM apikey.consume(:'ck', 2, refund_on_rollback => true);
ROLLBACK TO s;
COMMIT;
-- an error aborts the transaction: refunded
BEGIN;
SELECT allowed FROM apikey.consume(:'ck', 3, refund_on_rollback => true);
SELECT 1 / 0;
ROLLBACK;
-- an exception block is a subtransaction: refunded
DO $$
BEGIN
    PERFORM apikey.consume((SELECT id FROM consumer), 3, refund_on_rollback => true);
    RAISE EXCEPTION 'the write failed';
EXCEPTION WHEN raise_exception THEN
    NULL;
END
$$;
-- 5 units used of 10: 5 more pass, then none
SELECT allowed, code FROM apikey.consume(:'ck', 5);
SELECT allowed, code, limit_value, remaining, retry_after_ms > 0 AS retry
  FROM apikey.consume(:'ck', 1);
