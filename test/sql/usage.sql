--
-- Usage (doc/apikey.md, "Usage analytics"): latency histograms, the usage_daily and
-- usage_monthly views with cost, endpoint merging, and row-level security.
-- The worker writes usage_hours (test/t/007_worker.pl); here the rows are
-- written by hand.  usage_hourly adds what shared memory holds and the
-- worker has not written yet: requests of other tests of this run.
--
\set VERBOSITY terse

-- Histograms: 40 counts; bucket i holds durations from 32 us * 2^((i-1)/2)
-- up to 32 us * 2^(i/2).
CREATE TEMP TABLE h AS
SELECT array_fill(0::bigint, ARRAY[40]) AS empty,
       array_fill(0::bigint, ARRAY[40]) AS fast,
       array_fill(0::bigint, ARRAY[40]) AS slow;
-- 100 durations in bucket 12 (1.448 to 2.048 ms), one in bucket 26 (185 to 262 ms)
UPDATE h SET fast[13] = 100, slow[27] = 1;
SELECT apikey.latency_quantile(empty, 0.5) AS empty_is_null,
       apikey.latency_quantile(fast, 0.5) AS median,
       apikey.latency_quantile(fast, 0.5) BETWEEN 1.448 AND 2.048 AS median_in_its_bucket,
       apikey.latency_quantile(fast, 1) AS max_fast,
       apikey.latency_quantile(apikey._hist_add(fast, slow), 0.99) AS p99,
       apikey.latency_quantile(apikey._hist_add(fast, slow), 1) BETWEEN 185.363 AND 262.144 AS p100_slow,
       apikey._hist_count(apikey._hist_add(fast, slow)) AS n,
       apikey._hist_add(NULL, fast) = fast AS null_is_empty,
       apikey._hist_count(NULL) AS null_count
  FROM h;
SELECT apikey._hist_count(x) = 202 AS summed, apikey.latency_quantile(x, 0.5) BETWEEN 1.448 AND 2.048 AS median
  FROM (SELECT apikey.latency_sum(v) AS x FROM h, LATERAL (VALUES (fast), (slow), (fast), (slow)) AS l(v)) s;
SELECT apikey.latency_quantile(ARRAY[1, 2, 3]::bigint[], 0.5);
SELECT apikey.latency_quantile((SELECT fast FROM h), 1.5);
SELECT apikey._hist_add((SELECT fast FROM h), array_fill(-1::bigint, ARRAY[40]));

-- Endpoints add up; an hour keeps the 31 busiest and the rest as "(other)".
SELECT apikey._endpoints_add(
    '{"/a": {"requests": 2, "allowed": 1, "total_ms": 1.5}}',
    '{"/a": {"requests": 3, "allowed": 3, "total_ms": 2}, "/b": {"requests": 1, "allowed": 0, "total_ms": 0}}');
SELECT count(*) AS kept, (e->'(other)'->>'requests')::int AS other
  FROM (SELECT apikey._endpoints_add(
               (SELECT jsonb_object_agg('/p' || i, jsonb_build_object('requests', 100 - i, 'allowed', 0, 'total_ms', 0))
                  FROM generate_series(1, 20) i),
               (SELECT jsonb_object_agg('/q' || i, jsonb_build_object('requests', 50 - i, 'allowed', 0, 'total_ms', 0))
                  FROM generate_series(1, 20) i)) AS e) s,
       jsonb_object_keys(e) GROUP BY e;

-- Two owners' keys, with rows written as the worker would.
INSERT INTO apikey.tiers (name, rate_limits, price_per_1k) VALUES ('regress_paid', '[]', 2.5);
SELECT key_id AS ak FROM apikey.issue('regress_usage_alice', tier => 'regress_paid') \gset
SELECT key_id AS bk FROM apikey.issue('regress_usage_bob') \gset
INSERT INTO apikey.usage_hours (key_id, hour, requests, allowed, rate_limited, quota_exceeded,
                                denied_auth, cost_units, avg_ms, latency_hist)
SELECT :'ak'::uuid, '2026-03-01 10:00+00'::timestamptz, 100, 90, 5, 3, 2, 180, 2.5, (SELECT fast FROM h)
UNION ALL
SELECT :'ak', '2026-03-01 23:00+00', 10, 10, 0, 0, 0, 10, 300, (SELECT slow FROM h)
UNION ALL
SELECT :'ak', '2026-03-02 00:00+00', 1, 1, 0, 0, 0, 1, NULL, NULL
UNION ALL
SELECT :'bk', '2026-03-01 10:00+00', 7, 7, 0, 0, 0, 7, 1, (SELECT fast FROM h);

SELECT key_id = :'ak' AS alice, day, requests, allowed, rate_limited, quota_exceeded, denied_auth,
       cost_units, round(avg_ms::numeric, 3) AS avg_ms, p95_ms, p99_ms, cost
  FROM apikey.usage_daily WHERE key_id IN (:'ak', :'bk') ORDER BY key_id = :'ak' DESC, day;
SELECT key_id = :'ak' AS alice, month, requests, cost_units, round(avg_ms::numeric, 3) AS avg_ms,
       apikey.latency_quantile(latency_hist, 1) AS max_ms, cost
  FROM apikey.usage_monthly WHERE key_id IN (:'ak', :'bk') ORDER BY key_id = :'ak' DESC;

-- An owner sees the usage of its own keys only; an admin sees all.
CREATE ROLE regress_usage_alice;
GRANT USAGE ON SCHEMA apikey TO regress_usage_alice;
SET ROLE regress_usage_alice;
SELECT count(*) AS hours, bool_and(key_id = :'ak') AS own FROM apikey.usage_hourly;
SELECT count(*) AS days FROM apikey.usage_daily;
SELECT count(*) AS months FROM apikey.usage_monthly;
INSERT INTO apikey.usage_hours (key_id, hour) VALUES (:'ak', now());
RESET ROLE;
CREATE ROLE regress_usage_admin IN ROLE apikey_admin;
SET ROLE regress_usage_admin;
SELECT count(*) AS hours FROM apikey.usage_hourly WHERE key_id IN (:'ak', :'bk');
RESET ROLE;
REVOKE USAGE ON SCHEMA apikey FROM regress_usage_alice;
DROP ROLE regress_usage_alice;
DROP ROLE regress_usage_admin;
