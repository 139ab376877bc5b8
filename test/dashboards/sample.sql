-- A sample apikey database for the dashboards (pg_apikey top and report,
-- doc/grafana/apikey.json): keys of four owners in every state, 35 days
-- of usage_hourly and denied requests, and a little live traffic.
-- Run as a superuser, in a database with the extension and its worker
-- running: the history is written straight into usage_hours (behind the
-- view usage_hourly), quota_counters and audit_log (only the worker writes
-- them otherwise); the live part goes through check().
--
-- The tokens go to the table sample_tokens, for the tests that show no
-- output ever holds one.
SET client_min_messages = warning;

CREATE TABLE sample_tokens (key_id uuid PRIMARY KEY, what text NOT NULL, token text NOT NULL);

-- issue(owner, name, tier, what) into sample_tokens
CREATE FUNCTION pg_temp.sample_issue(o text, n text, t text, what text,
                                     expires timestamptz DEFAULT NULL)
RETURNS uuid LANGUAGE sql AS $$
    INSERT INTO sample_tokens
    SELECT i.key_id, what, i.token
      FROM apikey.issue(o, n, tier => t, expires_at => expires) AS i
    RETURNING key_id
$$;

SELECT pg_temp.sample_issue('acme', 'orders service', 'premium', 'orders'),
       pg_temp.sample_issue('acme', 'ci deploys', 'free', 'ci'),
       pg_temp.sample_issue('acme', 'mobile app', 'premium', 'mobile'),
       pg_temp.sample_issue('globex', 'reporting', 'enterprise', 'reporting'),
       pg_temp.sample_issue('globex', 'partner feed', 'free', 'partner',
                            now() + interval '2 days'),
       pg_temp.sample_issue('initech', 'batch <import> & "sync"', 'free', 'batch'),
       pg_temp.sample_issue('initech', 'legacy', 'free', 'legacy'),
       pg_temp.sample_issue('alice', 'laptop', 'free', 'laptop'),
       pg_temp.sample_issue('alice', E'script\x1b[31m', 'free', 'script');

-- quotas, and a small rate limit for the refusals
SELECT apikey.update(key_id, '{"monthly_quota": 1500000}') FROM sample_tokens WHERE what = 'orders';
SELECT apikey.update(key_id, '{"daily_quota": 5000, "monthly_quota": 60000}') FROM sample_tokens WHERE what = 'ci';
SELECT apikey.update(key_id, '{"monthly_quota": 900000}') FROM sample_tokens WHERE what = 'batch';
SELECT apikey.update(key_id, '{"daily_quota": 100}') FROM sample_tokens WHERE what = 'laptop';
SELECT apikey.update(key_id, '{"rate_limits": [{"name": "minute", "limit": 5, "period": 60}]}')
  FROM sample_tokens WHERE what = 'script';

-- a rotation under way, and a revoked key
INSERT INTO sample_tokens
SELECT r.key_id, 'mobile v2', r.token
  FROM sample_tokens AS s, apikey.rotate(s.key_id, interval '3 days') AS r
 WHERE s.what = 'mobile';
SELECT apikey.revoke(key_id, 'leaked in a log') FROM sample_tokens WHERE what = 'legacy';

-- ages from 2 to 200 days
UPDATE apikey.keys AS k SET created_at = now() - a.age
  FROM (VALUES ('orders', interval '200 days'), ('ci', '90 days'), ('mobile', '120 days'),
               ('reporting', '150 days'), ('partner', '40 days'), ('batch', '75 days'),
               ('legacy', '180 days'), ('laptop', '12 days'), ('script', '2 days'))
       AS a(what, age), sample_tokens AS s
 WHERE s.what = a.what AND k.id = s.key_id;

-- 35 days of hourly usage, busy by day (UTC), quiet by night
CREATE FUNCTION pg_temp.sample_hist(n bigint, centre int) RETURNS bigint[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT array_agg(CASE WHEN i BETWEEN centre - 3 AND centre + 5
                          THEN (n * (6 - abs(i - centre - 1)) / 30)::bigint ELSE 0 END
                     ORDER BY i)
      FROM generate_series(0, 39) AS i
$$;

INSERT INTO apikey.usage_hours (key_id, hour, requests, allowed, rate_limited,
                                 quota_exceeded, denied_auth, cost_units, endpoints,
                                 latency_hist)
SELECT s.key_id, h, u.requests, u.allowed, u.rate_limited, u.quota_exceeded, u.denied_auth,
       u.allowed, e.endpoints,
       pg_temp.sample_hist(u.allowed, p.centre + (b.n > p.peak * 0.8)::int
                                      + (b.n > p.peak * 0.95)::int)
  FROM sample_tokens AS s
  JOIN (VALUES ('orders', 2400, 0.010, 12, '/orders'), ('ci', 120, 0.020, 10, '/deploy'),
               ('mobile', 900, 0.004, 14, '/feed'), ('mobile v2', 300, 0.002, 14, '/feed'),
               ('reporting', 1500, 0.001, 18, '/reports'), ('partner', 200, 0.050, 11, '/partner'),
               ('batch', 800, 0.030, 16, '/import'), ('laptop', 3, 0.0, 9, '/me'))
       AS p(what, peak, refuse, centre, path) ON p.what = s.what
 CROSS JOIN generate_series(date_trunc('hour', now(), 'UTC') - interval '35 days',
                            date_trunc('hour', now(), 'UTC') - interval '1 hour',
                            interval '1 hour') AS h
 CROSS JOIN LATERAL (
       SELECT (p.peak * (0.55 + 0.45 * sin(pi() * (extract(hour FROM h AT TIME ZONE 'UTC') - 6) / 12))
               * (1 + 0.15 * sin(extract(epoch FROM h) / 86400.0)))::bigint + 1 AS n) AS b
 CROSS JOIN LATERAL (
       -- an incident: the partner feed retried in a loop for four hours
       SELECT CASE WHEN p.what = 'partner' AND h >= date_trunc('day', now(), 'UTC') - interval '2 days 10 hours'
                    AND h < date_trunc('day', now(), 'UTC') - interval '2 days 6 hours'
                   THEN 0.75 ELSE p.refuse END AS refuse,
              CASE WHEN p.what = 'partner' AND h >= date_trunc('day', now(), 'UTC') - interval '2 days 10 hours'
                    AND h < date_trunc('day', now(), 'UTC') - interval '2 days 6 hours'
                   THEN 8 ELSE 1 END AS burst) AS i
 CROSS JOIN LATERAL (
       SELECT b.n * i.burst AS requests,
              b.n * i.burst - (b.n * i.burst * i.refuse)::bigint AS allowed,
              (b.n * i.burst * i.refuse * 0.7)::bigint AS rate_limited,
              (b.n * i.burst * i.refuse * 0.2)::bigint AS quota_exceeded,
              (b.n * i.burst * i.refuse)::bigint - (b.n * i.burst * i.refuse * 0.7)::bigint
                  - (b.n * i.burst * i.refuse * 0.2)::bigint AS denied_auth) AS u
 CROSS JOIN LATERAL (
       SELECT jsonb_build_object(
                  p.path, jsonb_build_object('requests', u.requests * 3 / 4,
                                             'allowed', u.allowed * 3 / 4,
                                             'total_ms', u.allowed * 3 / 4 * (p.centre - 6)),
                  '/health', jsonb_build_object('requests', u.requests - u.requests * 3 / 4,
                                                'allowed', u.allowed - u.allowed * 3 / 4,
                                                'total_ms', (u.allowed - u.allowed * 3 / 4) / 2))
                  AS endpoints) AS e
 WHERE h >= (SELECT created_at FROM apikey.keys WHERE id = s.key_id);

UPDATE apikey.usage_hours
   SET avg_ms = apikey.latency_quantile(latency_hist, 0.5),
       p95_ms = apikey.latency_quantile(latency_hist, 0.95),
       p99_ms = apikey.latency_quantile(latency_hist, 0.99);

-- The quota counts of the history, as the worker would have written them
-- (a key's counter starts from its lineage's row): the live traffic below
-- adds to them.
INSERT INTO apikey.quota_counters (subject, day, day_used, month, month_used)
SELECT k.lineage, (now() AT TIME ZONE 'UTC')::date, sum(m.today),
       date_trunc('month', now(), 'UTC')::date, sum(m.units)
  FROM (SELECT key_id, sum(cost_units) AS units,
               coalesce(sum(cost_units) FILTER (WHERE hour >= date_trunc('day', now(), 'UTC')), 0) AS today
          FROM apikey.usage_hours
         WHERE hour >= date_trunc('month', now(), 'UTC')
         GROUP BY key_id) AS m
  JOIN apikey.keys AS k ON k.id = m.key_id
 GROUP BY k.lineage;

-- failed verifications of the last week, some from a guessing address
INSERT INTO apikey.audit_log (at, action, key_id, owner, actor, client_ip, request_method,
                              request_path, status, detail)
SELECT now() - g * interval '7 minutes', 'denied', NULL, NULL, 'web', '198.51.100.23',
       'GET', '/orders', 401,
       jsonb_build_object('code', 'NOT_FOUND', 'prefix', 'ak_live_' || substr(md5(g::text), 1, 8))
  FROM generate_series(1, 400) AS g;
INSERT INTO apikey.audit_log (at, action, key_id, owner, actor, client_ip, request_method,
                              request_path, status, detail)
SELECT now() - g * interval '41 minutes', 'denied', s.key_id, k.owner, 'web',
       ('192.0.2.' || (g % 5 + 10))::inet, 'POST', '/import',
       CASE WHEN s.what = 'legacy' THEN 401 ELSE 403 END,
       jsonb_build_object('code', CASE WHEN s.what = 'legacy' THEN 'REVOKED' ELSE 'INSUFFICIENT_SCOPE' END,
                          'prefix', k.prefix)
  FROM sample_tokens AS s JOIN apikey.keys AS k ON k.id = s.key_id
 CROSS JOIN generate_series(1, 240) AS g
 WHERE s.what IN ('legacy', 'batch');

-- live traffic through check(): counted in stats, written by the worker
SELECT count(apikey.check(token, client_ip => '203.0.113.7'))
  FROM sample_tokens, generate_series(1, 20)
 WHERE what IN ('orders', 'reporting', 'ci', 'laptop', 'batch');
SELECT count(apikey.check(token, client_ip => '203.0.113.8'))
  FROM sample_tokens, generate_series(1, 12)
 WHERE what IN ('script', 'legacy');
SELECT count(apikey.check('ak_live_' || substr(md5(g::text), 1, 38), client_ip => '198.51.100.23'))
  FROM generate_series(1, 6) AS g;

RESET client_min_messages;
