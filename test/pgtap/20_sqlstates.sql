-- Every error class of the lifecycle functions has the SQLSTATE that
-- doc/apikey.md gives ("Functions", "Who may do what"): 22023 bad values,
-- 42501 another owner's key or an admin-only setting, 42704 unknown key,
-- 55000 wrong state, 22P02 input
-- that does not even parse.  And none of them leaves a row behind.
\set ON_ERROR_STOP on
\set QUIET on
BEGIN;
SELECT plan(51);

CREATE ROLE regress_tap_owner;
CREATE ROLE regress_tap_other;
GRANT regress_tap_owner TO current_user;

SELECT key_id AS k FROM apikey.issue('regress_tap_owner', name => 'tap') \gset
SELECT count(*) AS keys0 FROM apikey.keys \gset
SELECT count(*) AS audit0 FROM apikey.audit_log \gset

-- 22023: invalid parameter values
SELECT throws_ok($$SELECT apikey.issue(NULL)$$, '22023', 'invalid owner: it must not be null');
SELECT throws_ok($$SELECT apikey.issue('')$$, '22023', 'invalid owner: it must not be empty');
SELECT throws_ok($$SELECT apikey.issue(repeat('x', 1048576))$$, '22023', 'invalid owner: it is too long');
SELECT throws_ok($$SELECT apikey.issue('o', tier => 'platinum')$$, '22023', 'unknown tier "platinum"');
SELECT throws_ok($$SELECT apikey.issue('o', prefix => 'Bad!')$$, '22023', 'invalid prefix: "Bad!"');
SELECT throws_ok($$SELECT apikey.issue('o', allowed_ips => '{}')$$, '22023');
SELECT throws_ok($$SELECT apikey.issue('o', scopes => '{NULL}')$$, '22023');
SELECT throws_ok($$SELECT apikey.issue('o', metadata => '[]')$$, '22023');
SELECT throws_ok($$SELECT apikey.issue('o', expires_at => now() - '1s'::interval)$$, '22023');
SELECT throws_ok($$SELECT apikey.issue('o', rate_limits => '[{"limit": 0, "period": 1}]')$$, '22023');
SELECT throws_ok($$SELECT apikey.rotate(NULL)$$, '22023');
SELECT throws_ok(format('SELECT apikey.rotate(%L, %L)', :'k', '-1 day'), '22023',
                 'invalid grace: it must not be negative');
SELECT throws_ok(format('SELECT apikey.rotate(%L, %L)', :'k', '10 years'), '22023',
                 'invalid grace: it must not exceed 366 days');
SELECT throws_ok(format('SELECT apikey.update(%L, %L)', :'k', '{"colour": "red"}'), '22023',
                 'unknown key "colour" in changes');
SELECT throws_ok(format('SELECT apikey.update(%L, %L)', :'k', '{"max_concurrency": -1}'), '22023');
SELECT throws_ok(format('SELECT apikey.update(%L, NULL)', :'k'), '22023');
SELECT throws_ok($$INSERT INTO apikey.tiers VALUES ('t', '[{"limit": 1}]')$$, '22023');
SELECT throws_ok($$SELECT apikey.issue('o', max_uses => 0)$$, '22023');
SELECT throws_ok($$SELECT apikey.set_owner_limits('o', '{"max_keys": -1}')$$, '22023');
SELECT throws_ok($$SELECT apikey.set_owner_limits('o', '{"colour": 1}')$$, '22023');
SELECT throws_ok($$SELECT apikey.block(NULL, 'x')$$, '22023');
SELECT throws_ok($$SELECT apikey.block('192.0.2.1', 'x', '0 s')$$, '22023');
SELECT throws_ok($$SELECT apikey.check('t', endpoint => '')$$, '22023');
SELECT throws_ok($$SELECT apikey.check('t', method => 'G E T')$$, '22023');
SELECT throws_ok($$SELECT apikey.finish(1000)$$, '22023');
SELECT throws_ok($$SELECT apikey.finish(200, '-1 s')$$, '22023');

-- 22P02 / 22007: input that does not parse, rejected before apikey runs
SELECT throws_ok($$SELECT apikey.issue('o', allowed_ips => '{10.0.0.0/33}')$$, '22P02');
SELECT throws_ok($$SELECT apikey.issue('o', metadata => '{')$$, '22P02');
SELECT throws_ok(format('SELECT apikey.update(%L, %L)', :'k', '{"expires_at": "soon"}'), '22007');

-- 42704: no such key
SELECT throws_ok($$SELECT apikey.revoke('00000000-0000-0000-0000-0000000000aa')$$, '42704');
SELECT throws_ok($$SELECT apikey.rotate('00000000-0000-0000-0000-0000000000aa')$$, '42704');
SELECT throws_ok($$SELECT apikey.update('00000000-0000-0000-0000-0000000000aa', '{}')$$, '42704');

-- 42501: another owner's key, admin-only settings, admin-only functions
SET LOCAL ROLE regress_tap_other;
SELECT throws_ok(format('SELECT apikey.revoke(%L)', :'k'), '42501', 'permission denied to revoke this key');
SELECT throws_ok(format('SELECT apikey.rotate(%L)', :'k'), '42501', 'permission denied to rotate this key');
SELECT throws_ok(format('SELECT apikey.update(%L, %L)', :'k', '{"name": "x"}'), '42501');
SELECT throws_ok($$SELECT apikey.issue('regress_tap_owner')$$, '42501');
SELECT throws_ok($$SELECT apikey.issue('regress_tap_other', tier => 'premium')$$, '42501',
                 'permission denied to set tier');
SELECT throws_ok($$SELECT apikey.introspect('x')$$, '42501');
SELECT throws_ok($$SELECT apikey.set_owner_limits('regress_tap_other', '{"max_keys": 9}')$$, '42501');
SELECT throws_ok($$SELECT apikey.block('192.0.2.1', 'x')$$, '42501');
SELECT throws_ok($$SELECT apikey.block('192.0.2.1', 'x', owner => 'regress_tap_owner')$$, '42501');
SELECT throws_ok($$SELECT apikey.unblock_key('x')$$, '42501');
SELECT throws_ok(format('SELECT apikey.disable(%L)', :'k'), '42501');
SELECT throws_ok($$SELECT key_hash FROM apikey.keys$$, '42501');
RESET ROLE;

-- 54000: more keys than the owner's max_keys
SELECT lives_ok($$SELECT apikey.set_owner_limits('regress_tap_other', '{"max_keys": 0}')$$,
                'an admin sets max_keys');
SET LOCAL ROLE regress_tap_other;
SELECT throws_ok($$SELECT apikey.issue('regress_tap_other')$$, '54000',
                 'too many API keys for owner "regress_tap_other"');
RESET ROLE;

-- 55000: a key that is not active cannot be rotated
SELECT ok(apikey.revoke(:'k'), 'the owner revokes the key');
SELECT throws_ok(format('SELECT apikey.rotate(%L)', :'k'), '55000');

-- nothing half-written
SELECT is((SELECT count(*) FROM apikey.keys), :keys0::bigint, 'no key was written by a failed call');
SELECT is((SELECT count(*) FROM apikey.audit_log), :audit0::bigint + 2,
          'only the owner limits and the revocation wrote audit rows');
SELECT is((SELECT status FROM apikey.key_list WHERE id = :'k'), 'revoked', 'the key was revoked');

SELECT * FROM finish();
ROLLBACK;
