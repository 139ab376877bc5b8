--
-- Bounds (doc/security.md, "Bounds"): no owner inflates what everyone
-- pays -- metadata size, scopes per key and their length, live keys per
-- owner who is not an admin.  Clear 22023/54000 errors with a DETAIL.
--
\set VERBOSITY default
\set SHOW_CONTEXT never

SHOW apikey.max_metadata_size;
SHOW apikey.max_keys_per_owner;

-- metadata: 4 kB by default (every backend caches it)
SELECT token FROM apikey.issue('regress_bounds', metadata => jsonb_build_object('big', repeat('m', 5000)));
SELECT key_id AS k FROM apikey.issue('regress_bounds', metadata => jsonb_build_object('fits', repeat('m', 4000))) \gset
SELECT name FROM apikey.update(:'k', jsonb_build_object('metadata', jsonb_build_object('big', repeat('m', 60000))));
SET apikey.max_metadata_size = '64kB';
SELECT octet_length((apikey.update(:'k', jsonb_build_object('metadata', jsonb_build_object('big', repeat('m', 60000))))).metadata::text) > 60000 AS raised_by_admin;
RESET apikey.max_metadata_size;

-- scopes: 64 per key, 256 bytes each
SELECT token FROM apikey.issue('regress_bounds', scopes => (SELECT array_agg('s' || g) FROM generate_series(1, 65) g));
SELECT token FROM apikey.issue('regress_bounds', scopes => ARRAY[repeat('s', 257)]);
SELECT name FROM apikey.update(:'k', jsonb_build_object('scopes', (SELECT jsonb_agg('s' || g) FROM generate_series(1, 65) g)));

-- live keys per owner, for owners who are not admins
SET client_min_messages = warning;  -- a run before this one may have left it
DROP ROLE IF EXISTS regress_tenant;
RESET client_min_messages;
CREATE ROLE regress_tenant;
SET apikey.max_keys_per_owner = 3;
SET ROLE regress_tenant;
SELECT key_id AS t1 FROM apikey.issue('regress_tenant') \gset
SELECT key_id AS t2 FROM apikey.issue('regress_tenant') \gset
SELECT count(*) FROM apikey.issue('regress_tenant');
SELECT count(*) FROM apikey.issue('regress_tenant');
SELECT count(*) FROM apikey.issue_bulk('[{"owner": "regress_tenant"}]');
-- a rotation swaps one live key for another: allowed at the limit
SELECT count(*) FROM apikey.rotate(:'t1');
-- a revoked key no longer counts
SELECT apikey.revoke(:'t2');
SELECT count(*) FROM apikey.issue('regress_tenant');
SELECT count(*) FROM apikey.issue('regress_tenant');
RESET ROLE;
-- admins are not limited
SELECT count(*) FROM apikey.issue('regress_tenant');
SELECT count(*) AS live FROM apikey.key_list WHERE owner = 'regress_tenant' AND status = 'active';
RESET apikey.max_keys_per_owner;

-- the errors carry their SQLSTATE
\set VERBOSITY sqlstate
SELECT token FROM apikey.issue('regress_bounds', metadata => jsonb_build_object('big', repeat('m', 5000)));
SET apikey.max_keys_per_owner = 1;
SET ROLE regress_tenant;
SELECT count(*) FROM apikey.issue('regress_tenant');
RESET ROLE;
RESET apikey.max_keys_per_owner;

-- leave nothing for the next run on this server (installcheck, twice)
DELETE FROM apikey.keys WHERE owner IN ('regress_tenant', 'regress_bounds');
DROP ROLE regress_tenant;
