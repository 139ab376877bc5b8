-- The benchmarks' keys: 10,000 of them, whose limits and quotas admit
-- everything, so that a run measures the full, admitted path (quota
-- counters and usage included).  bench.tokens holds their tokens by id.
CREATE TABLE bench.tokens AS
SELECT g AS id, t.token
  FROM generate_series(1, 10000) AS g,
       LATERAL apikey.issue('bench-' || g % 100, name => g::text,
           rate_limits => '[{"name": "second", "limit": 1000000000, "period": 1}]') AS t;
ALTER TABLE bench.tokens ADD PRIMARY KEY (id);
UPDATE apikey.keys SET daily_quota = 1000000000000, monthly_quota = 1000000000000;
