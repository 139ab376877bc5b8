--
-- Keys paused and spent, limits tried in the dark, and priorities under
-- load (doc/apikey.md): disable() and enable(), max_uses, shadow limits,
-- priority shedding under apikey.max_inflight.
--
\set VERBOSITY terse

CREATE ROLE regress_pause_owner;
-- an error's SQLSTATE and detail, without the message that names a key
CREATE FUNCTION pg_temp.fails(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text; det text;
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, det = PG_EXCEPTION_DETAIL;
    RETURN st || ': ' || det;
END $$;
GRANT USAGE ON SCHEMA apikey TO regress_pause_owner;

-- disable(): DISABLED (403) everywhere at once, until enable().
SELECT key_id AS k, token AS t FROM apikey.issue('regress_pause_owner') \gset
SELECT apikey.disable(:'k', 'invoice unpaid');
SELECT status, disable_reason, disabled_by_admin FROM apikey.key_list WHERE id = :'k';
SELECT (apikey.verify(:'t')).code AS verify, c.code, c.status, c.key_id = :'k' AS names_key
  FROM apikey.check(:'t') AS c;
SELECT allowed, code FROM apikey.consume(:'k');
-- a second disable() changes nothing
SELECT apikey.disable(:'k');
-- it is not a failure to verify: no abuse cooldown however often
SET apikey.abuse_threshold = 2;
SELECT (apikey.check(:'t', client_ip => '192.0.2.90')).code,
       (apikey.check(:'t', client_ip => '192.0.2.90')).code,
       (apikey.check(:'t', client_ip => '192.0.2.90')).code;
RESET apikey.abuse_threshold;
-- an admin disabled it: the owner cannot enable it
SET ROLE regress_pause_owner;
SELECT apikey.enable(:'k');
RESET ROLE;
SELECT apikey.enable(:'k'), apikey.enable(:'k') AS again;
SELECT status FROM apikey.key_list WHERE id = :'k';
SELECT code FROM apikey.check(:'t');
-- the owner may pause and resume its own key
SET ROLE regress_pause_owner;
SELECT apikey.disable(:'k', 'holiday');
SELECT code FROM apikey.check(:'t');
SELECT apikey.enable(:'k');
RESET ROLE;
-- a disabled key cannot be rotated, but can be revoked
SELECT apikey.disable(:'k');
SELECT pg_temp.fails(format('SELECT apikey.rotate(%L)', :'k'));
SELECT apikey.revoke(:'k');
SELECT status FROM apikey.key_list WHERE id = :'k';
SELECT apikey.enable(:'k');
SELECT action, detail->>'reason' AS reason FROM apikey.audit_log
 WHERE key_id = :'k' AND action IN ('disabled', 'enabled') ORDER BY id;
SELECT apikey.disable(NULL);
SELECT apikey.enable('00000000-0000-0000-0000-00000000abcd');

-- max_uses: N admitted requests in all, then USAGE_EXCEEDED (403).
SELECT key_id AS uk, token AS ut FROM apikey.issue('regress_pause', max_uses => 3,
    rate_limits => '[{"limit": 2, "period": "1 hour"}]') \gset
SELECT code FROM apikey.check(:'ut');
-- a look takes no use
SELECT code FROM apikey.check(:'ut', cost => 0);
SELECT code FROM apikey.check(:'ut');
-- a refused request takes no use: 2 uses made, 1 left
SELECT code FROM apikey.check(:'ut');
SELECT name, remaining FROM apikey.limits(:'ut') WHERE kind = 'uses';
SET apikey.test_clock_offset = '1h';
SELECT code FROM apikey.check(:'ut');
SELECT c.code, c.status, c.headers FROM apikey.check(:'ut') AS c;
SELECT code FROM apikey.check(:'ut', cost => 0);
RESET apikey.test_clock_offset;
-- admins change it; owners may not, nor rotate such a key
SELECT max_uses FROM apikey.update(:'uk', '{"max_uses": 5}');
SELECT code FROM apikey.check(:'ut');
SELECT pg_temp.fails(format('SELECT apikey.rotate(%L)', :'uk'));
SELECT apikey.issue('regress_pause', max_uses => 0);
SELECT max_uses FROM apikey.update(:'uk', '{"max_uses": 0}');
SET ROLE regress_pause_owner;
SELECT count(*) FROM apikey.issue('regress_pause_owner', max_uses => 1);
SELECT max_uses FROM apikey.update((SELECT id FROM apikey.keys WHERE owner = 'regress_pause_owner'
                                     AND max_uses = 1), '{"max_uses": 100}');
RESET ROLE;

-- Shadow limits: debited and counted, never refusing, never in headers.
SELECT shadow_limited_total AS shadow_before FROM apikey.stats \gset
SELECT key_id AS sk, token AS st FROM apikey.issue('regress_pause',
    rate_limits => '[{"name": "minute", "limit": 100, "period": "1 minute"},
                     {"name": "trial", "limit": 2, "period": "1 hour", "shadow": true}]') \gset
SELECT count(*) FILTER (WHERE c.allowed) AS admitted,
       count(*) FILTER (WHERE c.code = 'OK') AS ok,
       bool_and(c.headers->>'RateLimit-Policy' = '"minute";q=100;w=60') AS headers_without_shadow
  FROM generate_series(1, 5) AS g, LATERAL apikey.check(:'st', cost => g - g + 1) AS c;
SELECT shadow_limited_total - :shadow_before AS would_have_refused FROM apikey.stats;
SELECT name, remaining, shadow FROM apikey.limits(:'st') ORDER BY name;
-- a shadow limit cannot refuse even a cost no bucket of it holds
SELECT allowed FROM apikey.check(:'st', cost => 50);
-- shadow limits of owners, of tiers and of the anonymous tier are the same
SELECT rate_limits FROM apikey.set_owner_limits('regress_pause',
    '{"rate_limits": [{"name": "owner_trial", "limit": 1, "period": "1 hour", "shadow": true}]}');
SELECT (apikey.check(:'st')).allowed, (apikey.check(:'st')).allowed;
SELECT shadow_limited_total - :shadow_before AS would_have_refused FROM apikey.stats;
SELECT apikey.set_owner_limits('regress_pause', NULL);
SELECT apikey.issue('regress_pause', rate_limits => '[{"limit": 1, "period": 1, "shadow": "yes"}]');

-- Priorities under apikey.max_inflight: 0 is shed first; 3 may fill it.
-- With 4 slots and a reserve of 50% (2 slots), priority 0 may fill 2,
-- 1 may fill 2 (4 - 2 * 2/3 rounded up), 2 may fill 3, 3 all 4.
SELECT token AS p0 FROM apikey.issue('regress_pause', rate_limits => '[]') \gset
SELECT token AS p3 FROM apikey.issue('regress_pause', rate_limits => '[]') \gset
SELECT priority FROM apikey.update((SELECT key_id FROM apikey.verify(:'p0')), '{"priority": 0}');
SELECT priority FROM apikey.update((SELECT key_id FROM apikey.verify(:'p3')), '{"priority": 3}');
SET apikey.max_inflight = 4;
SET apikey.inflight_reserve = 50;
BEGIN;
SELECT (apikey.check(:'p0')).code, (apikey.check(:'p0')).code, (apikey.check(:'p0')).code AS third_p0;
SELECT (apikey.check(:'p3')).code, (apikey.check(:'p3')).code, (apikey.check(:'p3')).code AS third_p3;
COMMIT;
-- a tier's priority, unless the key has one
UPDATE apikey.tiers SET priority = 0 WHERE name = 'free';
SELECT token AS pf FROM apikey.issue('regress_pause') \gset
BEGIN;
SELECT (apikey.check(:'p3')).code, (apikey.check(:'p3')).code;
SELECT code AS free_tier FROM apikey.check(:'pf');
SELECT code AS p3_still FROM apikey.check(:'p3');
COMMIT;
UPDATE apikey.tiers SET priority = 1 WHERE name = 'free';
-- without a reserve every priority fills it
SET apikey.inflight_reserve = 0;
BEGIN;
SELECT (apikey.check(:'p0')).code, (apikey.check(:'p0')).code, (apikey.check(:'p0')).code,
       (apikey.check(:'p0')).code, (apikey.check(:'p0')).code AS fifth;
COMMIT;
RESET apikey.max_inflight;
RESET apikey.inflight_reserve;
SELECT priority FROM apikey.update((SELECT key_id FROM apikey.verify(:'p0')), '{"priority": 4}');
UPDATE apikey.tiers SET priority = 7 WHERE name = 'free';

DELETE FROM apikey.keys WHERE owner LIKE 'regress_pause%';
REVOKE USAGE ON SCHEMA apikey FROM regress_pause_owner;
DROP ROLE regress_pause_owner;
