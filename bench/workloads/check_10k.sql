-- Each connection first meets every key once (its warm-up), then draws
-- keys at random.  The warm-up falls in the seconds run.sh leaves out.
\if :warmed = 0
SELECT count(*) FROM bench.tokens AS t, apikey.check(t.token) AS r;
\set warmed 1
\endif
\set i random(1, 10000)
SELECT apikey.check(t.token) FROM bench.tokens AS t WHERE t.id = :i;
