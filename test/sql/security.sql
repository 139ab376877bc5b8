--
-- Security (doc/apikey.md, "Who may do what"): owners see and manage only their own keys,
-- never a digest; every write goes through the functions; admins manage
-- everything; the functions are hardened SECURITY DEFINER.
--
\set VERBOSITY terse

DROP ROLE IF EXISTS regress_alice;
DROP ROLE IF EXISTS regress_bob;
DROP ROLE IF EXISTS regress_keyadmin;
CREATE ROLE regress_alice;
CREATE ROLE regress_bob;
CREATE ROLE regress_keyadmin IN ROLE apikey_admin;

-- the management functions: definer, pinned search_path, no overloads
SELECT p.proname, p.prosecdef, p.proconfig
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'apikey' AND p.proname IN ('issue', 'rotate', 'revoke', 'update', 'introspect')
 ORDER BY 1;
SELECT count(*) AS overloaded FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'apikey' GROUP BY p.proname HAVING count(*) > 1;
-- verify is not a definer: it needs no privilege at all
SELECT prosecdef FROM pg_proc WHERE oid = 'apikey.verify'::regproc;

-- Alice manages her own keys.
SET ROLE regress_alice;
SELECT apikey.current_owner();
SELECT key_id AS ak, token AS at FROM apikey.issue('regress_alice', name => 'alice key') \gset
SELECT owner, name, status FROM apikey.key_list;
RESET ROLE;

SET ROLE regress_bob;
SELECT key_id AS bk, token AS bt FROM apikey.issue('regress_bob', name => 'bob key') \gset
-- Bob sees only his key, in the view and in the table, and only his audit rows
SELECT owner, name FROM apikey.key_list;
SELECT owner, name FROM apikey.keys;
SELECT action, owner FROM apikey.audit_log;
-- not another owner's
SELECT token FROM apikey.issue('regress_alice', name => 'planted by bob');
SELECT apikey.revoke(:'ak');
SELECT token FROM apikey.rotate(:'ak');
SELECT name FROM apikey.update(:'ak', '{"name": "hijacked"}');
-- verification needs no privilege: anyone holding a token can verify it
SELECT (apikey.verify(:'at')).code AS alice_token_verified_by_bob;
-- never the digest
SELECT key_hash FROM apikey.keys;
SELECT * FROM apikey.keys;
-- no direct writes, even to his own rows
INSERT INTO apikey.keys (prefix, key_hash, owner) VALUES ('x', '\x00', 'regress_bob');
UPDATE apikey.keys SET revoked_at = NULL, tier = 'enterprise';
DELETE FROM apikey.keys;
INSERT INTO apikey.audit_log (action, owner) VALUES ('revoked', 'regress_alice');
-- owners may not raise their own limits
SELECT token FROM apikey.issue('regress_bob', tier => 'enterprise');
SELECT token FROM apikey.issue('regress_bob', rate_limits => '[{"limit": 1000000, "period": 1}]');
SELECT name FROM apikey.update(:'bk', '{"tier": "enterprise"}');
SELECT name FROM apikey.update(:'bk', '{"daily_quota": null}');
SELECT name FROM apikey.update(:'bk', '{"max_concurrency": 100}');
SELECT name FROM apikey.update(:'bk', '{"jwt_role": "postgres"}');
-- but may change what is theirs to change
SELECT name, scopes, metadata FROM apikey.update(:'bk', '{"name": "bob key v2", "scopes": ["docs:read"], "metadata": {"x": 1}}');
SELECT apikey.revoke(:'bk', 'mine to revoke');
-- tiers are readable, not writable; stats and introspect are for admins
SELECT name FROM apikey.tiers ORDER BY name;
UPDATE apikey.tiers SET rate_limits = '[]';
SELECT * FROM apikey.stats;
SELECT apikey.introspect('ak_live_whatever');
RESET ROLE;

-- Alice's key is untouched by all of that.
SELECT owner, name, status FROM apikey.key_list WHERE id = :'ak';
SELECT count(*) AS planted FROM apikey.keys WHERE name = 'planted by bob';

-- An admin manages every key, reads every row, writes tiers.
SET ROLE regress_keyadmin;
SELECT owner, name, status FROM apikey.key_list
 WHERE owner IN ('regress_alice', 'regress_bob') ORDER BY owner;
SELECT key_id AS ck FROM apikey.issue('regress_carol', tier => 'enterprise',
                                      rate_limits => '[{"limit": 5, "period": 1}]') \gset
SELECT tier, jwt_role, max_concurrency
  FROM apikey.update(:'ck', '{"jwt_role": "regress_bob", "max_concurrency": 3}');
SELECT apikey.revoke(:'ak', 'admin says so');
SELECT (apikey.introspect((SELECT prefix FROM apikey.keys WHERE id = :'ak')))->>'status' AS status;
SELECT count(*) > 0 AS sees_stats FROM apikey.stats;
INSERT INTO apikey.tiers (name, rate_limits, price_per_1k)
VALUES ('regress_gold', '[{"name": "second", "limit": 50, "period": "1 second"}]', 0.25);
SELECT actor, action, owner FROM apikey.audit_log WHERE key_id = :'ak' ORDER BY id;
RESET ROLE;

-- JWT identity (PostgREST): in a session of one of apikey.authenticator_roles
-- that has switched to another role, the "sub" claim is the owner.  This
-- session plays PostgREST's authenticator.
SELECT set_config('apikey.authenticator_roles', quote_ident(session_user), false) <> '' AS authenticator;
SET ROLE regress_alice;
SELECT set_config('request.jwt.claims', '{"sub": "user-42", "role": "authenticated"}', false);
SELECT apikey.current_owner();
SELECT key_id AS jk FROM apikey.issue('user-42', name => 'jwt key') \gset
SELECT owner, name FROM apikey.key_list;
-- the audit row has the real roles, and the subject apart
SELECT actor, session_role = session_user AS session_role_is_the_login, subject
  FROM apikey.audit_log WHERE key_id = :'jk';
SELECT token FROM apikey.issue('regress_alice');
-- inside a PostgREST request without a subject the caller owns nothing
SELECT set_config('request.jwt.claims', '{"role": "anon"}', false),
       set_config('request.method', 'POST', false);
SELECT apikey.current_owner() IS NULL AS anonymous;
SELECT token FROM apikey.issue('anon');
SELECT count(*) AS visible_keys FROM apikey.key_list;
-- not JSON: no subject, never an error
SELECT set_config('request.jwt.claims', 'not json', false);
SELECT apikey.current_owner() IS NULL AS anonymous;
RESET request.jwt.claims;
RESET request.method;
-- the role PostgREST switched to is shared by its clients: it owns nothing
SELECT apikey.current_owner() IS NULL AS anonymous;
-- current_key_id() is set only by check_request()
SELECT apikey.current_key_id();
SELECT set_config('apikey.key_id', '00000000-0000-0000-0000-000000000001', false);
SELECT apikey.current_key_id();
RESET ROLE;

-- Any other session sets the same settings in vain: the owner is its role.
RESET apikey.authenticator_roles;
SET ROLE regress_alice;
SELECT set_config('request.jwt.claims', '{"sub": "user-42", "role": "authenticated"}', false),
       set_config('request.method', 'GET', false);
SELECT apikey.current_owner();
SELECT owner, name FROM apikey.key_list;
SELECT token FROM apikey.issue('user-42', name => 'forged');
SELECT count(*) AS user_42_audit_rows FROM apikey.audit_log WHERE owner = 'user-42';
-- nor can a role other than a superuser make itself an authenticator
SET apikey.authenticator_roles = 'regress_alice';
RESET request.jwt.claims;
RESET request.method;
RESET ROLE;

-- clean up (audit rows stay: they are immutable)
DELETE FROM apikey.keys WHERE owner IN ('regress_alice', 'regress_bob', 'regress_carol', 'user-42');
DELETE FROM apikey.tiers WHERE name = 'regress_gold';
DROP ROLE regress_alice;
DROP ROLE regress_bob;
DROP ROLE regress_keyadmin;
