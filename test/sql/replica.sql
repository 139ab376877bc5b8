--
-- Replica mode (doc/apikey.md, "The verification cache"): changes applied
-- with session_replication_role = replica, as logical replication applies
-- them, still reach the verification caches, and still cannot touch the
-- audit log.  Triggers of origin ENABLE would not fire.
--
\set VERBOSITY terse

SELECT tgrelid::regclass AS "table", tgname, tgenabled
  FROM pg_trigger
 WHERE tgrelid IN ('apikey.keys'::regclass, 'apikey.tiers'::regclass,
                   'apikey.audit_log'::regclass, 'apikey.scope_map'::regclass)
   AND NOT tgisinternal
 ORDER BY 1, 2;

SELECT key_id, token FROM apikey.issue('regress_replica') \gset
SELECT code AS cached FROM apikey.verify(:'token');

-- a revocation written in replica mode reaches the cache
SET session_replication_role = replica;
UPDATE apikey.keys SET revoked_at = now(), revoke_reason = 'replicated'
 WHERE id = :'key_id';
SELECT code AS after_replicated_revoke FROM apikey.verify(:'token');

-- and a deletion
SELECT key_id AS k2, token AS t2 FROM apikey.issue('regress_replica') \gset
SELECT code AS cached FROM apikey.verify(:'t2');
DELETE FROM apikey.keys WHERE id = :'k2';
SELECT code AS after_replicated_delete FROM apikey.verify(:'t2');

-- the audit log stays append-only
UPDATE apikey.audit_log SET owner = 'someone else' WHERE owner = 'regress_replica';
DELETE FROM apikey.audit_log WHERE owner = 'regress_replica';
TRUNCATE apikey.audit_log;
RESET session_replication_role;
SELECT count(*) > 0 AS audit_rows_kept FROM apikey.audit_log WHERE owner = 'regress_replica';
