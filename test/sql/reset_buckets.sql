--
-- Runs first, so that the suite can run again on the same server.
--
-- The buckets of client addresses, throttle() names and abuse cooldowns
-- live in shared memory, by name: a previous run of check.sql on this
-- server left "login:alice", 198.51.100.7 and others drained for up to an
-- hour.  apikey forgets a bucket only once it is full again, and only when
-- the table has no room for a new one.  So this fills the table with
-- throwaway buckets on a clock moved a day ahead, where every bucket of
-- an earlier run is full, until the sweep has run; the buckets it makes
-- are full a microsecond later.  (The table must not be in use meanwhile.)
--
SET apikey.test_clock_offset = '1d';
DO $$
DECLARE
    run     text := pg_catalog.clock_timestamp()::text;  -- names of this run only
    batch   bigint;
    made    bigint := 0;
    before  bigint;
    refused bigint;
BEGIN
    SELECT greatest(buckets_capacity / 100, 1) INTO batch FROM apikey.stats;
    LOOP
        SELECT buckets_in_use INTO before FROM apikey.stats;
        SELECT count(*) FILTER (WHERE NOT t.allowed) INTO refused
          FROM generate_series(made + 1, made + batch) AS g,
               apikey.throttle(format('regress reset %s %s', run, g), 1000000, '1 second') AS t;
        made := made + batch;
        IF refused > 0 THEN
            RAISE EXCEPTION 'the bucket table is full of buckets in use';
        END IF;
        -- fewer buckets than made: the sweep ran
        EXIT WHEN (SELECT buckets_in_use FROM apikey.stats) < before + batch;
        IF made > 2 * batch * 100 THEN
            RAISE EXCEPTION 'no sweep after % buckets', made;
        END IF;
    END LOOP;
END $$;
RESET apikey.test_clock_offset;
