--
-- Bad input: a clear 22023/22P02-class error (or a MALFORMED code), never
-- a crash, never a half-written row.
--
\set VERBOSITY default
\set SHOW_CONTEXT never

SELECT key_id AS k FROM apikey.issue('regress_bad', name => 'target') \gset
SELECT count(*) AS keys, (SELECT count(*) FROM apikey.audit_log) AS audits,
       (SELECT md5(k::text) FROM apikey.keys k WHERE id = :'k') AS target
  FROM apikey.keys \gset before_

-- issue: owner, name, org
SELECT token FROM apikey.issue(NULL);
SELECT token FROM apikey.issue('');
SELECT token FROM apikey.issue(repeat('o', 1048576));
SELECT token FROM apikey.issue('regress_bad', name => repeat('n', 257));
SELECT token FROM apikey.issue('regress_bad', name => '');
SELECT token FROM apikey.issue('regress_bad', org => repeat('o', 1048576));
-- scopes
SELECT token FROM apikey.issue('regress_bad', scopes => '{read,NULL}');
SELECT token FROM apikey.issue('regress_bad', scopes => '{""}');
SELECT token FROM apikey.issue('regress_bad', scopes => ARRAY['read write']);
SELECT token FROM apikey.issue('regress_bad', scopes => '{{a},{b}}');
SELECT token FROM apikey.issue('regress_bad', scopes => (SELECT array_agg(g::text) FROM generate_series(1, 65) g));
SELECT token FROM apikey.issue('regress_bad', scopes => ARRAY[repeat('s', 1048576)]);
-- tier
SELECT token FROM apikey.issue('regress_bad', tier => NULL);
SELECT token FROM apikey.issue('regress_bad', tier => 'platinum');
-- expires_at
SELECT token FROM apikey.issue('regress_bad', expires_at => now() - interval '1 minute');
SELECT token FROM apikey.issue('regress_bad', expires_at => 'infinity');
SELECT token FROM apikey.issue('regress_bad', expires_at => '-infinity');
-- allowed_ips (a bad CIDR fails in the caller's own cast)
SELECT token FROM apikey.issue('regress_bad', allowed_ips => '{10.0.0.0/33}');
SELECT token FROM apikey.issue('regress_bad', allowed_ips => '{not-an-ip}');
SELECT token FROM apikey.issue('regress_bad', allowed_ips => '{10.1.2.3/8}');
SELECT token FROM apikey.issue('regress_bad', allowed_ips => '{}');
SELECT token FROM apikey.issue('regress_bad', allowed_ips => '{10.0.0.0/8,NULL}');
-- metadata
SELECT token FROM apikey.issue('regress_bad', metadata => '[1, 2]');
SELECT token FROM apikey.issue('regress_bad', metadata => '"text"');
SELECT token FROM apikey.issue('regress_bad', metadata => '{"a": 1');
SELECT token FROM apikey.issue('regress_bad', metadata => jsonb_build_object('big', repeat('m', 70000)));
-- rate_limits
SELECT token FROM apikey.issue('regress_bad', rate_limits => '{"limit": 1, "period": 1}');
SELECT token FROM apikey.issue('regress_bad', rate_limits => '[1]');
SELECT token FROM apikey.issue('regress_bad', rate_limits => '[{"period": 1}]');
SELECT token FROM apikey.issue('regress_bad', rate_limits => '[{"limit": 1}]');
SELECT token FROM apikey.issue('regress_bad', rate_limits => '[{"limit": 0, "period": 1}]');
SELECT token FROM apikey.issue('regress_bad', rate_limits => '[{"limit": -5, "period": 1}]');
SELECT token FROM apikey.issue('regress_bad', rate_limits => '[{"limit": 1.5, "period": 1}]');
SELECT token FROM apikey.issue('regress_bad', rate_limits => '[{"limit": "10", "period": 1}]');
SELECT token FROM apikey.issue('regress_bad', rate_limits => '[{"limit": 10000000000, "period": 1}]');
SELECT token FROM apikey.issue('regress_bad', rate_limits => '[{"limit": 1, "period": -1}]');
SELECT token FROM apikey.issue('regress_bad', rate_limits => '[{"limit": 1, "period": "-1 second"}]');
SELECT token FROM apikey.issue('regress_bad', rate_limits => '[{"limit": 1, "period": "100 years"}]');
SELECT token FROM apikey.issue('regress_bad', rate_limits => '[{"limit": 1, "period": "sometimes"}]');
SELECT token FROM apikey.issue('regress_bad', rate_limits => '[{"limit": 1, "period": 1, "burst": 0}]');
SELECT token FROM apikey.issue('regress_bad', rate_limits => '[{"limit": 1, "period": 1, "brust": 5}]');
SELECT token FROM apikey.issue('regress_bad', rate_limits => '[{"limit": 1, "period": 1, "name": "a\"b"}]');
SELECT token FROM apikey.issue('regress_bad', rate_limits => '[{"limit": 1, "period": 1}, {"limit": 2, "period": 2}]');
SELECT token FROM apikey.issue('regress_bad', rate_limits =>
    (SELECT jsonb_agg(jsonb_build_object('name', 'l' || g, 'limit', 1, 'period', 1))
       FROM generate_series(1, 9) g));

-- rotate, revoke
SELECT token FROM apikey.rotate(NULL);
SELECT token FROM apikey.rotate(:'k', grace => NULL);
SELECT token FROM apikey.rotate(:'k', grace => '-1 hour');
SELECT token FROM apikey.rotate(:'k', grace => '1 day -25 hours');
SELECT token FROM apikey.rotate(:'k', grace => '1000 years');
-- months are calendar months for the cap as for the expiry: 371 days or more
SELECT token FROM apikey.rotate(:'k', grace => '12 months 6 days');
SELECT token FROM apikey.rotate(:'k', grace => '367 days');
SELECT token FROM apikey.rotate(:'k', grace => '8785 hours');
SELECT token FROM apikey.rotate('not-a-uuid');
SELECT apikey.revoke(NULL);
SELECT apikey.revoke(:'k', reason => repeat('r', 1048576));

-- update
SELECT name FROM apikey.update(:'k', NULL);
SELECT name FROM apikey.update(NULL, '{}');
SELECT name FROM apikey.update(:'k', '[]');
SELECT name FROM apikey.update(:'k', '"name"');
SELECT name FROM apikey.update(:'k', '{"name": "x", "owner": "mallory"}');
SELECT name FROM apikey.update(:'k', '{"key_hash": "x"}');
SELECT name FROM apikey.update(:'k', '{"name": 5}');
SELECT name FROM apikey.update(:'k', '{"name": ""}');
SELECT name FROM apikey.update(:'k', '{"scopes": "read"}');
SELECT name FROM apikey.update(:'k', '{"scopes": [1, 2]}');
SELECT name FROM apikey.update(:'k', '{"tier": null}');
SELECT name FROM apikey.update(:'k', '{"tier": "platinum"}');
SELECT name FROM apikey.update(:'k', '{"expires_at": "garbage"}');
SELECT name FROM apikey.update(:'k', '{"expires_at": "2000-01-01"}');
SELECT name FROM apikey.update(:'k', '{"allowed_ips": ["10.0.0.0/33"]}');
SELECT name FROM apikey.update(:'k', '{"allowed_ips": []}');
SELECT name FROM apikey.update(:'k', '{"metadata": [1]}');
SELECT name FROM apikey.update(:'k', '{"rate_limits": [{"limit": 0, "period": 1}]}');
SELECT name FROM apikey.update(:'k', '{"daily_quota": -1}');
SELECT name FROM apikey.update(:'k', '{"daily_quota": 1.5}');
SELECT name FROM apikey.update(:'k', '{"monthly_quota": "many"}');
SELECT name FROM apikey.update(:'k', '{"max_concurrency": 0}');
SELECT name FROM apikey.update(:'k', '{"max_concurrency": 3000000000}');
SELECT name FROM apikey.update(:'k', '{"jwt_role": "no_such_role"}');
SELECT name FROM apikey.update(:'k', '{"name": "half", "tier": "platinum"}');
SELECT name FROM apikey.update(NULL, '{"name": "x"');

-- tiers validate their limits too
INSERT INTO apikey.tiers (name, rate_limits) VALUES ('regress_broken', '[{"limit": 0, "period": 1}]');
INSERT INTO apikey.tiers (name, rate_limits) VALUES ('', '[]');
UPDATE apikey.tiers SET daily_quota = -1 WHERE name = 'free';
DELETE FROM apikey.tiers WHERE name = 'free';

-- verify never raises, whatever it is given
SELECT (apikey.verify(NULL, NULL, NULL)).code;
SELECT (apikey.verify('', repeat('s', 1048576))).code;
SELECT (apikey.verify(repeat('ak_live_', 200000))).code;
SELECT (apikey.verify(E'\\x00\\x01', '')).code;

-- nothing above wrote anything
SELECT count(*) - :before_keys AS new_keys,
       (SELECT count(*) FROM apikey.audit_log) - :before_audits AS new_audit_rows,
       (SELECT md5(k::text) FROM apikey.keys k WHERE id = :'k') = :'before_target' AS target_unchanged,
       (SELECT count(*) FROM apikey.tiers) AS tiers
  FROM apikey.keys;
