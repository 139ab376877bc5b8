-- The same statement as check_10k.sql; this function caches nothing, so
-- its warm-up transaction only reads the keys.
\if :warmed = 0
SELECT count(*) FROM bench.tokens;
\set warmed 1
\endif
\set i random(1, 10000)
SELECT bench.check_floor(t.token) FROM bench.tokens AS t WHERE t.id = :i;
