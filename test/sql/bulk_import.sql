--
-- issue_bulk() at scale (doc/apikey.md, "issue_bulk, revoke_bulk,
-- update_bulk"): admins issue any number of keys per call, written by
-- batches of 1,000 with issue()'s audit rows; callers who are not admins
-- keep the limit of 100; a bad element anywhere, even in a later batch,
-- is 22023 naming it in DETAIL and changes nothing; the tokens never go to
-- a temporary file, however small work_mem is.
--

-- An error as "SQLSTATE: message (detail)".
CREATE FUNCTION pg_temp.try(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    state   text;
    message text;
    detail  text;
BEGIN
    EXECUTE statement;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL;
    RETURN state || ': ' || message || coalesce(' (' || nullif(detail, '') || ')', '');
END $$;

-- n specs {"owner": owner, "name": "<n>"} and, at element bad_at, bad_spec
CREATE FUNCTION pg_temp.specs(owner text, n integer, bad_at integer DEFAULT 0,
                              bad_spec jsonb DEFAULT NULL) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT jsonb_agg(CASE WHEN g = bad_at THEN bad_spec
                          ELSE jsonb_build_object('owner', owner, 'name', g::text) END
                     ORDER BY g)
      FROM generate_series(1, n) AS g
$$;

DROP ROLE IF EXISTS regress_import_owner;
DROP ROLE IF EXISTS regress_import_admin;
CREATE ROLE regress_import_owner;
CREATE ROLE regress_import_admin IN ROLE apikey_admin;

SELECT count(*) AS keys_start FROM apikey.keys \gset
SELECT coalesce(max(id), 0) AS audit_start FROM apikey.audit_log \gset

-- ---- an admin: 2,500 keys in one call, three batches, in the order given
CREATE TEMP TABLE imported AS
SELECT * FROM apikey.issue_bulk(pg_temp.specs('regress_import', 2500))
       WITH ORDINALITY AS i(key_id, token, display_prefix, n);
SELECT count(*) AS keys, count(DISTINCT key_id) AS ids, count(DISTINCT token) AS tokens,
       count(DISTINCT display_prefix) AS prefixes,
       bool_and(starts_with(token, display_prefix) AND token ~ '^ak_live_[0-9A-Za-z]{38}$') AS well_formed
  FROM imported;
-- each key is the element of its place, as issue() would have written it
SELECT count(*) AS as_issued FROM imported AS i JOIN apikey.key_list AS k ON k.id = i.key_id
 WHERE k.owner = 'regress_import' AND k.name = i.n::text AND k.prefix = i.display_prefix
   AND k.tier = 'free' AND k.scopes = '{}' AND k.metadata = '{}' AND k.status = 'active'
   AND k.rate_limits IS NULL AND k.expires_at IS NULL AND k.allowed_ips IS NULL;
-- the tokens verify, across the batches
SELECT (apikey.verify(token)).code, count(*) FROM imported
 WHERE n IN (1, 1000, 1001, 2000, 2001, 2500) GROUP BY 1;
-- one "issued" audit row per key, in order, with issue()'s detail
SELECT count(*) AS audit_rows,
       count(*) FILTER (WHERE a.detail = jsonb_build_object('display_prefix', i.display_prefix,
                        'name', i.n::text, 'tier', 'free', 'scopes', '[]'::jsonb,
                        'expires_at', NULL) AND a.owner = 'regress_import'
                        AND a.actor = current_user) AS as_issue_writes_them,
       bool_and(a.id - :audit_start = i.n) AS in_order
  FROM apikey.audit_log AS a JOIN imported AS i ON i.key_id = a.key_id
 WHERE a.id > :audit_start AND a.action = 'issued';

-- ---- every argument of issue(), through the batch path
CREATE TEMP TABLE every_argument AS SELECT * FROM apikey.issue_bulk('[
    {"owner": "regress_import", "name": "all", "scopes": ["orders:read", "orders:write"],
     "tier": "premium", "expires_at": "2099-01-01T00:00:00Z",
     "allowed_ips": ["10.0.0.0/8", "2001:db8::/32"], "metadata": {"team": "ops"},
     "prefix": "ak_test", "org": "acme",
     "rate_limits": [{"name": "second", "limit": 5, "period": 1}]},
    {"owner": "regress_import", "name": "nulls", "scopes": null, "tier": null,
     "expires_at": null, "allowed_ips": null, "metadata": null, "prefix": null,
     "org": null, "rate_limits": null},
    {"owner": "regress_import", "name": "empty arrays", "scopes": [], "allowed_ips": []}
  ]');
SELECT k.owner, k.name, k.scopes, k.tier, k.expires_at, k.allowed_ips, k.org,
       k.metadata, k.rate_limits, k.prefix = i.display_prefix AS same_prefix, k.status
  FROM every_argument AS i JOIN apikey.key_list AS k ON k.id = i.key_id ORDER BY k.name;

-- ---- bad input: 22023 naming the element, whichever batch it is in
SELECT count(*) AS keys_before FROM apikey.keys \gset
SELECT coalesce(max(id), 0) AS audit_mark FROM apikey.audit_log \gset
SELECT pg_temp.try($$SELECT count(*) FROM apikey.issue_bulk(
    pg_temp.specs('regress_import', 2500, 2400, '{"owner": "regress_import", "metadata": [1]}'))$$);
SELECT pg_temp.try($$SELECT count(*) FROM apikey.issue_bulk(
    pg_temp.specs('regress_import', 200, 150, '{"owner": "regress_import", "scopes": "orders:read"}'))$$);
SELECT pg_temp.try($$SELECT count(*) FROM apikey.issue_bulk(
    pg_temp.specs('regress_import', 200, 2, '{"owner": "regress_import", "scopes": {"a": 1}}'))$$);
SELECT pg_temp.try($$SELECT count(*) FROM apikey.issue_bulk(
    pg_temp.specs('regress_import', 200, 199, '{"owner": "regress_import", "scopes": ["a", null]}'))$$);
SELECT pg_temp.try($$SELECT count(*) FROM apikey.issue_bulk(
    pg_temp.specs('regress_import', 200, 200, '{"owner": "regress_import", "tier": "gold"}'))$$);
SELECT pg_temp.try($$SELECT count(*) FROM apikey.issue_bulk(
    pg_temp.specs('regress_import', 200, 120, '{"owner": "regress_import", "owner ": "x"}'))$$);
SELECT pg_temp.try($$SELECT count(*) FROM apikey.issue_bulk(
    pg_temp.specs('regress_import', 200, 101, '"regress_import"'))$$);
SELECT pg_temp.try($$SELECT count(*) FROM apikey.issue_bulk(
    pg_temp.specs('regress_import', 200, 7, '{"owner": "regress_import", "expires_at": "2001-01-01"}'))$$);
SELECT pg_temp.try($$SELECT count(*) FROM apikey.issue_bulk(
    pg_temp.specs('regress_import', 200, 8, '{"owner": "regress_import",
        "rate_limits": [{"limit": 0, "period": 1}]}'))$$);
-- none of them left a key or an audit row
SELECT count(*) - :keys_before AS new_keys FROM apikey.keys;
SELECT count(*) AS new_audit_rows FROM apikey.audit_log WHERE id > :audit_mark AND actor <> 'apikey worker';

-- ---- rights: owners keep the limit of 100, for themselves only
SET ROLE regress_import_owner;
SELECT count(*) AS issued FROM apikey.issue_bulk(pg_temp.specs('regress_import_owner', 100));
SELECT pg_temp.try($$SELECT count(*) FROM apikey.issue_bulk(
    pg_temp.specs('regress_import_owner', 101))$$);
SELECT pg_temp.try($$SELECT count(*) FROM apikey.issue_bulk(
    pg_temp.specs('regress_import_owner', 50, 50, '{"owner": "regress_import"}'))$$);
SELECT pg_temp.try($$SELECT count(*) FROM apikey.issue_bulk(
    pg_temp.specs('regress_import_owner', 50, 3, '{"owner": "regress_import_owner", "tier": "premium"}'))$$);
SELECT count(*) AS owned FROM apikey.key_list;
-- the keys of one call count together against the owner's limit (100)
SELECT pg_temp.try($$SELECT count(*) FROM apikey.issue_bulk(
    pg_temp.specs('regress_import_owner', 2))$$);
RESET ROLE;
SELECT count(*) AS owner_keys FROM apikey.keys WHERE owner = 'regress_import_owner';
-- a member of apikey_admin who is not a superuser has no limit either
SET ROLE regress_import_admin;
SELECT count(*) AS issued, count(DISTINCT key_id) AS ids
  FROM apikey.issue_bulk(pg_temp.specs('regress_import', 150));
RESET ROLE;

-- ---- each key starts its own lineage; max_uses as issue() takes it
CREATE TEMP TABLE with_uses AS
SELECT key_id FROM apikey.issue_bulk(
    '[{"owner": "regress_import", "max_uses": 5}, {"owner": "regress_import", "max_uses": null}]');
SELECT count(*) FILTER (WHERE k.lineage = k.id) AS own_lineage,
       array_agg(k.max_uses ORDER BY k.max_uses NULLS LAST) AS max_uses
  FROM with_uses AS w JOIN apikey.keys AS k ON k.id = w.key_id;
SELECT pg_temp.try($$SELECT count(*) FROM apikey.issue_bulk('[{"owner": "regress_import", "max_uses": 0}]')$$);

-- ---- the tokens never reach a temporary file: the result stays in memory
SELECT pg_temp.specs('regress_import', 3000) AS specs_3000 \gset
SELECT temp_files AS temp_files_before FROM pg_stat_database
 WHERE datname = current_database() \gset
SET work_mem = '64kB';     -- the 3000 rows take about 300 kB
SELECT count(*) AS issued FROM apikey.issue_bulk(:'specs_3000');
RESET work_mem;
SELECT pg_stat_force_next_flush();
SELECT temp_files - :temp_files_before AS temp_files_written FROM pg_stat_database
 WHERE datname = current_database();

-- ---- an empty array issues nothing
SELECT count(*) FROM apikey.issue_bulk('[]');

SELECT count(*) - :keys_start AS keys_issued_by_this_file FROM apikey.keys;

DROP TABLE imported, every_argument, with_uses;
DELETE FROM apikey.keys WHERE owner IN ('regress_import', 'regress_import_owner');
DROP ROLE regress_import_owner;
DROP ROLE regress_import_admin;
