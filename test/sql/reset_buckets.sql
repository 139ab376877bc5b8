--
-- Runs first, so that the suite can run again on the same server: the
-- buckets of client addresses, throttle() names and abuse cooldowns live
-- in shared memory, by name, and a previous run of check.sql left
-- "login:alice", 198.51.100.7 and others drained for up to an hour.
-- reset_buckets() forgets them, as a restart without the saved file would.
--
SELECT apikey.reset_buckets() >= 0 AS reset;
SELECT apikey.reset_buckets('address') >= 0 AS address,
       apikey.reset_buckets('named') >= 0 AS named;
SELECT apikey.reset_buckets('everything');
