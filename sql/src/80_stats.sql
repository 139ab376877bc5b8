------------------------------------------------------------------------
-- Live counters (admins only)
------------------------------------------------------------------------

CREATE VIEW apikey.stats WITH (security_invoker = true) AS
SELECT * FROM apikey._stats();

COMMENT ON VIEW apikey.stats IS
'Live counters from shared memory, summed over all backends since the server started';
-- Admins only, as apikey._stats() is.
GRANT SELECT ON apikey.stats TO apikey_admin;



CREATE VIEW apikey.bucket_use WITH (security_invoker = true) AS
SELECT * FROM apikey._bucket_use();

COMMENT ON VIEW apikey.bucket_use IS
'Cells in shared memory by class; throttle() buckets by role and database (role NULL: shared names)';
GRANT SELECT ON apikey.bucket_use TO apikey_admin;
