-- Enterprise authentication (doc/authentication.md) as SQL sees it:
-- refresh tokens (single use, rotating, reuse revokes the family, a
-- revoked key ends its sessions), leak reports (who may, what they revoke,
-- what is audited, a checksum failure touches nothing), and request signing
-- refused loudly where the server has no signing root.  Signatures and
-- certificates are tested with real clients in test/t/012 and 013.
\set ON_ERROR_STOP on
\set QUIET on
BEGIN;
SELECT plan(53);

SET LOCAL apikey.jwt_secret = 'a test secret that is at least 32 characters long';
CREATE ROLE regress_ent_owner;
CREATE ROLE regress_ent_scanner IN ROLE apikey_leak_reporter;
CREATE ROLE regress_ent_nobody;

-- ---- refresh tokens ----
SELECT key_id AS k, token AS t FROM apikey.issue('regress_ent_owner') \gset
SELECT apikey.exchange(:'t', '10 minutes', refresh => true) AS p1 \gset
SELECT ok(:'p1'::jsonb ?& '{access_token,token_type,expires_in,refresh_token,refresh_expires_in}',
          'exchange(refresh => true) returns an access token and a refresh token');
SELECT matches(:'p1'::jsonb->>'refresh_token', '^ak_refresh_[0-9A-Za-z]{38}$',
               'the refresh token has the token format, prefix ak_refresh');
SELECT is((:'p1'::jsonb->>'refresh_expires_in')::int, 30 * 86400, 'it lasts apikey.refresh_token_ttl');
SELECT ok(NOT (apikey.exchange(:'t', '10 minutes') ? 'refresh_token'), 'without refresh, none');
SELECT is((SELECT count(*) FROM apikey.refresh_tokens WHERE key_id = :'k'), 1::bigint,
          'one row per refresh token');
SELECT is((SELECT octet_length(token_hash) FROM apikey.refresh_tokens WHERE key_id = :'k'), 32,
          'the table keeps its digest');

SELECT :'p1'::jsonb->>'refresh_token' AS r1 \gset
SELECT apikey.refresh(:'r1') AS p2 \gset
SELECT ok(:'p2'::jsonb ? 'access_token' AND :'p2'::jsonb ? 'refresh_token', 'refresh() returns a new pair');
SELECT isnt(:'p2'::jsonb->>'refresh_token', :'r1', 'with a new refresh token');
SELECT is((:'p2'::jsonb->>'expires_in')::int, 600, 'and an access token of the ttl first asked for');
SELECT :'p2'::jsonb->>'refresh_token' AS r2 \gset
SELECT is(apikey.refresh(:'r1')->>'details', 'REFRESH_REUSED', 'the used token again: REFRESH_REUSED');
SELECT is(apikey.refresh(:'r1')->>'details', 'REVOKED', 'and then REVOKED: its family is revoked');
SELECT is(apikey.refresh(:'r2')->>'details', 'REVOKED', 'including the newest token of the family');
SELECT is((SELECT count(*) FROM apikey.refresh_tokens WHERE key_id = :'k' AND revoke_reason = 'reused'),
          2::bigint, 'every live token of the family is revoked');
SELECT is((SELECT detail->>'revoked' FROM apikey.audit_log WHERE action = 'refresh_reuse' AND key_id = :'k'),
          '2', 'the reuse is audited, with what it revoked');
SELECT is(apikey.refresh(:'r1')::jsonb - 'hint',
          '{"code": "AK401", "message": "Refresh token revoked", "details": "REVOKED"}'::jsonb,
          'a refusal is returned as PostgREST''s error body, not raised');

SELECT apikey.exchange(:'t', '1 minute', refresh => true)->>'refresh_token' AS r3 \gset
SELECT apikey.exchange(:'t', '1 minute', refresh => true)->>'refresh_token' AS r4 \gset
SELECT is(apikey.refresh(:'r3')->>'details', NULL, 'a second session refreshes');
SET LOCAL apikey.refresh_token_ttl = '1min';
SELECT apikey.exchange(:'t', '1 minute', refresh => true)->>'refresh_token' AS r5 \gset
SET LOCAL apikey.test_clock_offset = '2min';
SELECT is(apikey.refresh(:'r5')->>'details', 'EXPIRED', 'past apikey.refresh_token_ttl: EXPIRED');
RESET apikey.test_clock_offset;
SELECT ok(apikey.revoke(:'k'), 'the key is revoked');
SELECT is(apikey.refresh(:'r4')->>'details', 'REVOKED', 'which ends its sessions at once: REVOKED');

SELECT is(apikey.refresh('not a refresh token')->>'details', 'MALFORMED', 'not a token: MALFORMED');
SELECT is(apikey.refresh(NULL)->>'details', 'MALFORMED', 'NULL: MALFORMED');
SELECT is(apikey.refresh(:'t')->>'details', 'MALFORMED', 'an API key is no refresh token: MALFORMED');
SELECT key_id AS k2, token AS t2 FROM apikey.issue('regress_ent_owner', allowed_ips => '{192.0.2.0/24}') \gset
-- requests as PostgREST sends them: the authenticator, switched to a role
CREATE ROLE regress_ent_web;
GRANT USAGE ON SCHEMA apikey TO regress_ent_web;
GRANT EXECUTE ON FUNCTION apikey.refresh(text) TO regress_ent_web;
SELECT set_config('apikey.authenticator_roles', quote_ident(session_user), true) \g /dev/null
SET LOCAL ROLE regress_ent_web;
SELECT set_config('request.headers', '{"x-forwarded-for": "192.0.2.7"}', true) \g /dev/null
SELECT apikey.exchange(:'t2', '1 minute', refresh => true)->>'refresh_token' AS r6 \gset
RESET ROLE;
DELETE FROM apikey.refresh_tokens WHERE key_id = :'k2';
SET LOCAL ROLE regress_ent_web;
SELECT is(apikey.refresh(:'r6')->>'details', 'NOT_FOUND', 'a well-formed refresh token of no row: NOT_FOUND');
SELECT apikey.exchange(:'t2', '1 minute', refresh => true)->>'refresh_token' AS r8 \gset
SELECT set_config('request.headers', '{"x-forwarded-for": "198.51.100.1"}', true) \g /dev/null
SELECT set_config('request.method', 'POST', true) \g /dev/null
SELECT is(apikey.refresh(:'r8')->>'code', 'AK403', 'from outside the key''s allowlist: 403 IP_NOT_ALLOWED');
SELECT is(current_setting('response.status'), '403', 'in a PostgREST request, response.status says so');
SELECT set_config('request.method', '', true), set_config('request.headers', '', true) \g /dev/null
RESET ROLE;
RESET apikey.authenticator_roles;

SET LOCAL apikey.static_key = 'a-static-development-key';
SELECT throws_ok($$SELECT apikey.exchange('a-static-development-key', refresh => true)$$, '0A000',
                 'a static development key has no refresh tokens');
SELECT ok(apikey.exchange('a-static-development-key') ? 'access_token', 'it still has access tokens');
RESET apikey.static_key;
SELECT throws_ok(format('SELECT apikey.exchange(%L, %L, true)', :'t2', '31 days'), '22023',
                 'invalid ttl: it must be between 1 second and 30 days');

SELECT is(has_table_privilege('regress_ent_nobody', 'apikey.refresh_tokens', 'SELECT'), false,
          'refresh_tokens: nobody reads it');
SELECT is(has_column_privilege('apikey_admin', 'apikey.refresh_tokens', 'token_hash', 'SELECT'), false,
          'admins read the sessions, not the digests');

-- ---- leak reports ----
SELECT ok(EXISTS (SELECT FROM pg_roles WHERE rolname = 'apikey_leak_reporter' AND NOT rolcanlogin),
          'apikey_leak_reporter exists, NOLOGIN');
SELECT is(has_function_privilege('regress_ent_nobody', 'apikey.report_leak(text, text)', 'EXECUTE'), false,
          'report_leak(): not for everyone');
SELECT is(has_function_privilege('regress_ent_scanner', 'apikey.report_leak(text, text)', 'EXECUTE'), true,
          'for leak reporters');
SELECT key_id AS k3, token AS t3, display_prefix AS d3 FROM apikey.issue('regress_ent_owner') \gset
SELECT count(*) AS audit0 FROM apikey.audit_log \gset
SET LOCAL ROLE regress_ent_scanner;
SELECT is(apikey.report_leak('ak_live_not-a-token', 'https://example.com'), 'MALFORMED',
          'what fails the checksum: MALFORMED');
SELECT is(apikey.report_leak(left(:'t3', -1) || 'x', 'https://example.com'), 'MALFORMED',
          'a token with one wrong character: MALFORMED');
RESET ROLE;
SELECT is((SELECT count(*) FROM apikey.audit_log), :'audit0'::bigint, 'and nothing was written for them');
SET LOCAL ROLE regress_ent_scanner;
SELECT is(apikey.report_leak(:'t3', 'https://github.com/acme/app/blob/main/.env#' || :'t3'), 'REVOKED',
          'a working key: REVOKED');
SELECT is(apikey.report_leak(:'t3', 'again'), 'ALREADY_REVOKED', 'reported again: ALREADY_REVOKED');
RESET ROLE;
SELECT is((SELECT status || '/' || revoke_reason FROM apikey.key_list WHERE id = :'k3'), 'revoked/leaked',
          'the key is revoked, reason "leaked"');
SELECT is((SELECT detail->>'source' FROM apikey.audit_log WHERE action = 'leak_reported' AND key_id = :'k3'
            ORDER BY id LIMIT 1),
          'https://github.com/acme/app/blob/main/.env#' || :'d3' || '****',
          'the source is audited, the token in it masked');
SELECT is((SELECT owner FROM apikey.audit_log WHERE action = 'leak_reported' AND key_id = :'k3' LIMIT 1),
          'regress_ent_owner', 'for the key''s owner to read');
SELECT is((SELECT string_agg(action, ',' ORDER BY id) FROM apikey.audit_log WHERE key_id = :'k3'),
          'issued,revoked,leak_reported,leak_reported', 'a revoked row, and one row per report');
SELECT is((SELECT count(*) FROM apikey.audit_log WHERE detail::text LIKE '%' || :'t3' || '%'), 0::bigint,
          'no audit row holds the token');
-- a paused key that leaked is revoked too: enable() must not bring it back
SELECT key_id AS k5, token AS t5 FROM apikey.issue('regress_ent_owner') \gset
SELECT ok(apikey.disable(:'k5', 'investigating'), 'a key is disabled');
SET LOCAL ROLE regress_ent_scanner;
SELECT is(apikey.report_leak(:'t5', 'a paste'), 'REVOKED', 'a disabled key: REVOKED');
RESET ROLE;
SELECT is((SELECT status || '/' || revoke_reason FROM apikey.key_list WHERE id = :'k5'), 'revoked/leaked',
          'and it stays revoked, whatever enable() does');
SELECT key_id AS k4, token AS t4 FROM apikey.issue('regress_ent_owner') \gset
SELECT apikey.exchange(:'t4', '1 minute', refresh => true)->>'refresh_token' AS r9 \gset
SET LOCAL ROLE regress_ent_scanner;
SELECT is(apikey.report_leak(:'r9', 'a paste'), 'REVOKED', 'a refresh token: its family is revoked');
RESET ROLE;
SELECT is(apikey.refresh(:'r9')->>'details', 'REVOKED', 'and it refreshes no more');
SELECT is((SELECT status FROM apikey.key_list WHERE id = :'k4'), 'active', 'while its key stays active');
DELETE FROM apikey.keys WHERE id = :'k4';
SET LOCAL ROLE regress_ent_scanner;
SELECT is(apikey.report_leak(:'t4', 'a paste'), 'NOT_FOUND', 'a well-formed token of no key: NOT_FOUND');
SELECT throws_ok(format('SELECT apikey.report_leak(%L, NULL)', :'t4'), '22023',
                 'invalid source: it must not be null');
RESET ROLE;
SET LOCAL ROLE regress_ent_nobody;
SELECT throws_ok(format('SELECT apikey.report_leak(%L, %L)', :'t2', 'x'), '42501',
                 'permission denied for function report_leak');
RESET ROLE;

-- ---- request signing needs its root ----
SELECT throws_ok(format('SELECT apikey.signing_secret(%L)', :'k2'), '55000', 'request signing is not configured');

SELECT * FROM finish();
ROLLBACK;
