--
-- Bulk forms (doc/apikey.md, "issue_bulk, revoke_bulk, update_bulk"):
-- issue_bulk (at most 100 keys for callers who are not admins; see
-- bulk_import.sql for admins), revoke_bulk and update_bulk (at most 1000)
-- are all or nothing, name the failing element,
-- refuse more than their limit with 54000, and apply the owner checks and
-- write the audit rows of the single forms; a dry run changes nothing and
-- writes no audit row.
--

-- An error as "SQLSTATE: message (detail)", to show the code and the element.
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

DROP ROLE IF EXISTS regress_bulk_alice;
DROP ROLE IF EXISTS regress_bulk_bob;
CREATE ROLE regress_bulk_alice;
CREATE ROLE regress_bulk_bob;

-- where this file's audit rows start
SELECT coalesce(max(id), 0) AS audit_start FROM apikey.audit_log \gset

-- ---- issue_bulk: every argument of issue(), one key per element, in order
CREATE TEMP TABLE issued AS
SELECT * FROM apikey.issue_bulk('[
    {"owner": "regress_bulk_alice", "name": "a1", "scopes": ["orders:read"]},
    {"owner": "regress_bulk_alice", "name": "a2", "tier": "premium",
     "expires_at": "2099-01-01T00:00:00Z", "allowed_ips": ["10.0.0.0/8", "2001:db8::/32"],
     "prefix": "ak_test", "org": "acme", "metadata": {"team": "ops"}},
    {"owner": "regress_bulk_bob", "name": "b1", "scopes": null,
     "rate_limits": [{"name": "second", "limit": 5, "period": 1}]}
  ]') WITH ORDINALITY AS i(key_id, token, display_prefix, n);
SELECT n, key_id IS NOT NULL AS has_id, starts_with(token, display_prefix) AS token_has_prefix,
       (apikey.verify(token, client_ip => '10.1.2.3')).code
  FROM issued ORDER BY n;
SELECT i.n, k.owner, k.name, k.scopes, k.tier, k.expires_at, k.allowed_ips, k.org,
       k.metadata, k.rate_limits, k.prefix = i.display_prefix AS same_prefix, k.status
  FROM issued i JOIN apikey.key_list k ON k.id = i.key_id ORDER BY i.n;
SELECT key_id AS a1, display_prefix AS a1_prefix FROM issued WHERE n = 1 \gset
SELECT key_id AS a2 FROM issued WHERE n = 2 \gset
SELECT key_id AS b1 FROM issued WHERE n = 3 \gset

-- the audit rows are issue()'s: one issued per key, the same detail
SELECT key_id AS single_a1 FROM apikey.issue('regress_bulk_alice', name => 'a1',
                                             scopes => '{orders:read}') \gset
SELECT action, owner, actor, detail - 'display_prefix' AS detail, count(*) AS rows
  FROM apikey.audit_log
 WHERE id > :audit_start AND key_id IN (:'a1', :'single_a1')
 GROUP BY 1, 2, 3, 4;
SELECT count(*) AS issued_rows FROM apikey.audit_log
 WHERE id > :audit_start AND action = 'issued' AND key_id IN (SELECT key_id FROM issued);

-- ---- all or nothing; the error names the element
SELECT count(*) AS keys_before FROM apikey.keys \gset
SELECT coalesce(max(id), 0) AS audit_mark FROM apikey.audit_log \gset
SELECT pg_temp.try($$SELECT * FROM apikey.issue_bulk('[
    {"owner": "regress_bulk_alice"}, {"owner": "regress_bulk_alice"},
    {"owner": "regress_bulk_alice", "tier": "nope"}]')$$);
SELECT pg_temp.try($$SELECT * FROM apikey.issue_bulk('[
    {"owner": "regress_bulk_alice"},
    {"owner": "regress_bulk_alice", "allowed_ips": ["10.0.0.1/8"]}]')$$);
SELECT pg_temp.try($$SELECT * FROM apikey.issue_bulk('[
    {"owner": "regress_bulk_alice", "prefix": "BAD"}]')$$);
SELECT pg_temp.try($$SELECT * FROM apikey.issue_bulk('[
    {"owner": "regress_bulk_alice"}, {"name": "no owner"}]')$$);
SELECT pg_temp.try($$SELECT * FROM apikey.issue_bulk('[
    {"owner": "regress_bulk_alice"},
    {"owner": "regress_bulk_alice", "expires_at": "soon"}]')$$);
-- malformed specs
SELECT pg_temp.try($$SELECT * FROM apikey.issue_bulk('[
    {"owner": "regress_bulk_alice"}, {"owner": "x", "scope": ["a"]}]')$$);
SELECT pg_temp.try($$SELECT * FROM apikey.issue_bulk('[{"owner": "regress_bulk_alice"}, 42]')$$);
SELECT pg_temp.try($$SELECT * FROM apikey.issue_bulk('{"owner": "regress_bulk_alice"}')$$);
SELECT pg_temp.try($$SELECT * FROM apikey.issue_bulk(NULL)$$);
-- an empty array issues nothing
SELECT count(*) FROM apikey.issue_bulk('[]');
-- none of the above left a key or an audit row
SELECT count(*) - :keys_before AS new_keys FROM apikey.keys;
SELECT count(*) AS new_audit_rows FROM apikey.audit_log WHERE id > :audit_mark AND actor <> 'apikey worker';

-- ---- the limits: 100 keys per issue_bulk (but for admins), 1000 per
-- revoke_bulk and update_bulk
SET ROLE regress_bulk_bob;
SELECT pg_temp.try($$SELECT count(*) FROM apikey.issue_bulk(
    (SELECT jsonb_agg(jsonb_build_object('owner', 'regress_bulk_bob'))
       FROM generate_series(1, 101)))$$);
RESET ROLE;
SELECT pg_temp.try($$SELECT count(*) FROM apikey.revoke_bulk(
    ARRAY(SELECT gen_random_uuid() FROM generate_series(1, 1001)))$$);
SELECT pg_temp.try($$SELECT apikey.update_bulk(
    ARRAY(SELECT gen_random_uuid() FROM generate_series(1, 1001)), '{"name": "x"}')$$);
SELECT count(*) - :keys_before AS new_keys FROM apikey.keys;
-- exactly 100 is fine
SELECT count(*) AS issued, count(DISTINCT display_prefix) AS distinct_prefixes
  FROM apikey.issue_bulk((SELECT jsonb_agg(jsonb_build_object('owner', 'regress_bulk_bob',
                                                              'name', 'hundred'))
                            FROM generate_series(1, 100)));
SELECT count(*) AS hundred FROM apikey.key_list
 WHERE owner = 'regress_bulk_bob' AND name = 'hundred' AND status = 'active';
-- key_ids: an array without NULLs
SELECT pg_temp.try($$SELECT * FROM apikey.revoke_bulk(NULL)$$);
SELECT pg_temp.try(format($$SELECT * FROM apikey.revoke_bulk(ARRAY[%L, NULL]::uuid[])$$, :'a1'));
SELECT pg_temp.try($$SELECT apikey.update_bulk(ARRAY[NULL]::uuid[], '{"name": "x"}')$$);

-- ---- revoke_bulk: a dry run changes nothing and writes no audit row
SELECT coalesce(max(id), 0) AS audit_mark FROM apikey.audit_log \gset
SELECT key_id = :'a1' AS is_a1, key_id = :'a2' AS is_a2, was_active, revoked
  FROM apikey.revoke_bulk(ARRAY[:'a1', :'a2', :'a1']::uuid[], 'cleanup', dry_run => true);
SELECT name, status, revoked_at IS NULL AS not_revoked, revoke_reason
  FROM apikey.key_list WHERE id IN (:'a1', :'a2') ORDER BY name;
SELECT count(*) AS audit_rows_of_dry_run FROM apikey.audit_log WHERE id > :audit_mark AND actor <> 'apikey worker';
-- the dry run fails where the real call would: an unknown key
SELECT pg_temp.try(format($$SELECT * FROM apikey.revoke_bulk(
    ARRAY[%L, '00000000-0000-0000-0000-000000000001']::uuid[], dry_run => true)$$, :'a1'));
-- the real call: each key once, in the order given
SELECT key_id = :'a1' AS is_a1, key_id = :'a2' AS is_a2, was_active, revoked
  FROM apikey.revoke_bulk(ARRAY[:'a1', :'a2', :'a1']::uuid[], 'cleanup');
SELECT name, status, revoke_reason FROM apikey.key_list WHERE id IN (:'a1', :'a2') ORDER BY name;
-- again: nothing left to revoke, nothing audited
SELECT coalesce(max(id), 0) AS audit_mark2 FROM apikey.audit_log \gset
SELECT was_active, revoked FROM apikey.revoke_bulk(ARRAY[:'a1']::uuid[], 'again');
SELECT count(*) AS new_audit_rows FROM apikey.audit_log WHERE id > :audit_mark2 AND actor <> 'apikey worker';
-- the audit rows are revoke()'s
SELECT apikey.revoke(:'single_a1', 'cleanup');
SELECT action, owner, actor, detail - 'display_prefix' AS detail, count(*) AS rows
  FROM apikey.audit_log WHERE id > :audit_mark AND actor <> 'apikey worker'
 GROUP BY 1, 2, 3, 4 ORDER BY 2;
-- an unknown key undoes the whole call
SELECT pg_temp.try(format($$SELECT * FROM apikey.revoke_bulk(
    ARRAY[%L, '00000000-0000-0000-0000-000000000001']::uuid[])$$, :'b1'));
SELECT status FROM apikey.key_list WHERE id = :'b1';

-- ---- update_bulk: the same changes for each key, update()'s audit rows
SELECT key_id AS b2 FROM apikey.issue('regress_bulk_bob', name => 'b2') \gset
SELECT key_id AS b3 FROM apikey.issue('regress_bulk_bob', name => 'b3') \gset
SELECT coalesce(max(id), 0) AS audit_mark FROM apikey.audit_log \gset
SELECT apikey.update_bulk(ARRAY[:'b1', :'b2', :'b1']::uuid[],
                          '{"scopes": ["reports:read"], "metadata": {"batch": 1}}') AS changed;
SELECT name, scopes, metadata FROM apikey.key_list WHERE id IN (:'b1', :'b2') ORDER BY name;
SELECT key_id = :'b1' AS is_b1, key_id = :'b2' AS is_b2 FROM apikey.audit_log
 WHERE id > :audit_mark ORDER BY id;
-- the audit rows are update()'s
SELECT name FROM apikey.update(:'b3', '{"scopes": ["reports:read"], "metadata": {"batch": 1}}');
SELECT action, owner, actor, detail - 'display_prefix' AS detail, count(*) AS rows
  FROM apikey.audit_log WHERE id > :audit_mark AND actor <> 'apikey worker' GROUP BY 1, 2, 3, 4;
SELECT coalesce(max(id), 0) AS audit_mark FROM apikey.audit_log \gset
-- a bad change: nothing changed, for any key
SELECT pg_temp.try(format($$SELECT apikey.update_bulk(ARRAY[%L, %L]::uuid[],
    '{"scopes": ["x"], "colour": "red"}')$$, :'b1', :'b2'));
SELECT pg_temp.try(format($$SELECT apikey.update_bulk(ARRAY[%L, %L]::uuid[],
    '{"tier": "nope"}')$$, :'b1', :'b2'));
SELECT pg_temp.try(format($$SELECT apikey.update_bulk(
    ARRAY[%L, '00000000-0000-0000-0000-000000000001']::uuid[], '{"name": "lost"}')$$, :'b1'));
SELECT name, scopes, tier FROM apikey.key_list WHERE id IN (:'b1', :'b2') ORDER BY name;
SELECT count(*) AS new_audit_rows FROM apikey.audit_log WHERE id > :audit_mark AND actor <> 'apikey worker';

-- ---- owners: a non-admin acts on their own keys only, in bulk as alone
SELECT key_id AS a3 FROM apikey.issue('regress_bulk_alice', name => 'a3') \gset
SELECT count(*) AS keys_before FROM apikey.keys \gset
SELECT coalesce(max(id), 0) AS audit_mark FROM apikey.audit_log \gset
SET ROLE regress_bulk_alice;
-- another owner's key in the list: 42501, and her own key is untouched
SELECT pg_temp.try(format($$SELECT * FROM apikey.revoke_bulk(ARRAY[%L, %L]::uuid[],
    'hostile')$$, :'a3', :'b1'));
SELECT pg_temp.try(format($$SELECT * FROM apikey.revoke_bulk(ARRAY[%L]::uuid[],
    dry_run => true)$$, :'b1'));
SELECT pg_temp.try(format($$SELECT apikey.update_bulk(ARRAY[%L, %L]::uuid[],
    '{"name": "hijacked"}')$$, :'a3', :'b1'));
SELECT pg_temp.try($$SELECT * FROM apikey.issue_bulk('[
    {"owner": "regress_bulk_alice", "name": "mine"},
    {"owner": "regress_bulk_bob", "name": "planted"}]')$$);
-- owners keep to the free tier and its limits, as with issue() and update()
SELECT pg_temp.try($$SELECT * FROM apikey.issue_bulk('[
    {"owner": "regress_bulk_alice", "tier": "enterprise"}]')$$);
SELECT pg_temp.try(format($$SELECT apikey.update_bulk(ARRAY[%L]::uuid[],
    '{"max_concurrency": 100}')$$, :'a3'));
-- what she sees: her keys only, untouched
SELECT name, status FROM apikey.key_list WHERE id IN (:'a3', :'b1');
-- her own keys, she may manage in bulk
SELECT apikey.update_bulk(ARRAY[:'a3']::uuid[], '{"name": "a3 renamed"}') AS changed;
SELECT (apikey.verify(token)).code
  FROM apikey.issue_bulk('[{"owner": "regress_bulk_alice", "name": "a4"}]');
SELECT was_active, revoked FROM apikey.revoke_bulk(ARRAY[:'a3']::uuid[], 'mine');
SELECT action, owner, actor, detail - 'display_prefix' AS detail
  FROM apikey.audit_log WHERE id > :audit_mark AND actor <> 'apikey worker' ORDER BY id;
RESET ROLE;
-- Bob's key is as it was; nothing was planted
SELECT name, status FROM apikey.key_list WHERE id = :'b1';
SELECT count(*) AS planted FROM apikey.keys
 WHERE owner LIKE 'regress_bulk_%' AND name IN ('planted', 'mine', 'hijacked');
SELECT count(*) - :keys_before AS new_keys FROM apikey.keys;

DROP TABLE issued;
DROP ROLE regress_bulk_alice;
DROP ROLE regress_bulk_bob;
