------------------------------------------------------------------------
-- Live counters (admins only)
------------------------------------------------------------------------

CREATE FUNCTION apikey._stats(
    OUT requests_total       bigint,
    OUT valid_total          bigint,
    OUT invalid_total        bigint,
    OUT rate_limited_total   bigint,
    OUT quota_exceeded_total bigint,
    OUT blocked_total        bigint,
    OUT overloaded_total     bigint,
    OUT cache_hits           bigint,
    OUT cache_misses         bigint,
    OUT buckets_in_use       bigint,
    OUT buckets_capacity     bigint,
    OUT events_dropped       bigint)
RETURNS record
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_stats';

CREATE VIEW apikey.stats WITH (security_invoker = true) AS
SELECT * FROM apikey._stats();

COMMENT ON VIEW apikey.stats IS
'Live counters from shared memory, summed over all backends since the server started';


