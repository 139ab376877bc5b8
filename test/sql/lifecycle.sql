--
-- Key lifecycle: issue, rotate (with grace), revoke, update, introspect,
-- and the audit rows each writes in the caller's transaction.
--
\set VERBOSITY terse

-- errors whose message names a random display prefix
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' ||
           regexp_replace(SQLERRM, '[a-z][a-z0-9_]*_[0-9A-Za-z]{8}', '<display prefix>', 'g');
END
$$;

-- issue: every argument lands in its column
SELECT key_id AS k1, token AS t1, display_prefix AS p1
  FROM apikey.issue(owner => 'acme', name => 'ci', scopes => '{read:*,orders:write}',
                    tier => 'premium', expires_at => now() + interval '30 days',
                    allowed_ips => '{10.0.0.0/8,192.168.1.1}',
                    metadata => '{"env": "ci"}', prefix => 'ak_test', org => 'acme-org',
                    rate_limits => '[{"name": "minute", "limit": 100, "period": "1 minute", "burst": 10}]')
\gset
SELECT owner, org, name, scopes, tier, allowed_ips, metadata, rate_limits,
       expires_at > now() + interval '29 days' AS expires_in_30_days,
       revoked_at, rotated_from, rotated_to, status,
       prefix = :'p1' AS prefix_stored
  FROM apikey.key_list WHERE id = :'k1';

-- defaults
SELECT key_id AS k2, token AS t2 FROM apikey.issue('acme') \gset
SELECT name, scopes, tier, expires_at, allowed_ips, metadata, rate_limits, org,
       prefix LIKE 'ak\_live\_%' AS default_prefix, status
  FROM apikey.key_list WHERE id = :'k2';

-- the audit rows of both, written by the caller
SELECT action, a.owner, actor, detail - 'display_prefix' - 'expires_at' AS detail,
       detail->>'display_prefix' = k.prefix AS names_the_key
  FROM apikey.audit_log a JOIN apikey.keys k ON k.id = a.key_id
 WHERE a.key_id IN (:'k1', :'k2') ORDER BY a.id;

-- rotate: a new key with the same settings, the old one rotating
SELECT key_id AS k3, token AS t3, display_prefix AS p3, old_key_expires_at
  FROM apikey.rotate(:'k1', grace => '1 hour') \gset
SELECT :'p3' LIKE 'ak\_test\_%' AS same_prefix_family,
       :'old_key_expires_at'::timestamptz BETWEEN now() + interval '59 minutes'
                                              AND now() + interval '61 minutes' AS grace_one_hour;
SELECT n.owner = o.owner AND n.org = o.org AND n.name = o.name AND n.scopes = o.scopes
       AND n.tier = o.tier AND n.allowed_ips = o.allowed_ips AND n.metadata = o.metadata
       AND n.rate_limits = o.rate_limits AS same_settings,
       n.expires_at > o.expires_at AS new_key_keeps_original_expiry,
       n.rotated_from = o.id AS new_points_back, o.rotated_to = n.id AS old_points_forward,
       o.status AS old_status, n.status AS new_status
  FROM apikey.key_list o, apikey.key_list n WHERE o.id = :'k1' AND n.id = :'k3';
SELECT (apikey.verify(:'t1', client_ip => '10.1.1.1')).code AS old_within_grace,
       (apikey.verify(:'t3', client_ip => '10.1.1.1')).code AS new_key;

-- a rotating key cannot be rotated again
SELECT pg_temp.try(format('SELECT apikey.rotate(%L)', :'k1'));

-- grace in months: 360 days as 30-day months, 364 or 365 on the calendar;
-- accepted, and the old key expires on the UTC calendar date
SELECT key_id AS gk FROM apikey.issue('acme', name => 'long grace') \gset
SELECT old_key_expires_at = (now() AT TIME ZONE 'UTC' + interval '11 months 30 days') AT TIME ZONE 'UTC'
       AS ends_on_the_calendar
  FROM apikey.rotate(:'gk', grace => '11 months 30 days');
-- grace => '0' revokes the old key at once
SELECT key_id AS k4, token AS t4 FROM apikey.rotate(:'k2', grace => '0') \gset
SELECT status, revoke_reason FROM apikey.key_list WHERE id = :'k2';
SELECT (apikey.verify(:'t2')).code AS old, (apikey.verify(:'t4')).code AS new;

-- past its grace the old key is REVOKED before any worker ran
SELECT key_id AS k5, token AS t5 FROM apikey.issue('acme', name => 'short grace') \gset
SELECT key_id AS k6, token AS t6 FROM apikey.rotate(:'k5', grace => '1 second') \gset
SELECT (apikey.verify(:'t5')).code AS within_grace;
SELECT pg_sleep(1.2);
SELECT (apikey.verify(:'t5')).code AS after_grace, (apikey.verify(:'t6')).code AS new_key;
SELECT status FROM apikey.key_list WHERE id = :'k5';

-- revoke: true once, then false
SELECT apikey.revoke(:'k3', reason => 'leaked') AS first, apikey.revoke(:'k3') AS second;
SELECT status, revoke_reason, revoked_at IS NOT NULL AS stamped FROM apikey.key_list WHERE id = :'k3';
SELECT (apikey.verify(:'t3', client_ip => '10.1.1.1')).code;
-- a rotated key past its grace is already dead
SELECT apikey.revoke(:'k5') AS revoke_dead_key;

-- update: each field, and the cache follows within the transaction
DROP ROLE IF EXISTS regress_lifecycle_web;
CREATE ROLE regress_lifecycle_web NOLOGIN;
SELECT key_id AS k7, token AS t7 FROM apikey.issue('acme', name => 'to update') \gset
SELECT (apikey.verify(:'t7', 'billing:read')).code AS before;
SELECT name, scopes, metadata, allowed_ips, tier, daily_quota, monthly_quota,
       max_concurrency, rate_limits, jwt_role, status
  FROM apikey.update(:'k7', '{"name": "updated", "scopes": ["billing:*"],
                              "metadata": {"team": "payments"},
                              "allowed_ips": ["10.0.0.0/8"], "tier": "enterprise",
                              "daily_quota": 1000, "monthly_quota": 20000,
                              "max_concurrency": 4, "jwt_role": "regress_lifecycle_web",
                              "rate_limits": [{"limit": 5, "period": 60}]}');
SELECT code, name, scopes, tier, metadata
  FROM apikey.verify(:'t7', 'billing:read', '10.2.3.4');
SELECT (apikey.verify(:'t7', 'billing:read', '11.2.3.4')).code AS other_network;
-- null resets: no allowlist, no expiry, tier limits again
SELECT allowed_ips, expires_at, rate_limits, daily_quota, scopes, metadata
  FROM apikey.update(:'k7', '{"allowed_ips": null, "expires_at": null, "rate_limits": null,
                              "daily_quota": null, "scopes": null, "metadata": null}');
SELECT (apikey.verify(:'t7', 'billing:read')).code AS after_reset;
SELECT expires_at > now() AS expiry_set
  FROM apikey.update(:'k7', jsonb_build_object('expires_at', now() + interval '1 day'));
-- an empty change set changes nothing and writes no audit row
SELECT count(*) AS audit_rows FROM apikey.audit_log WHERE key_id = :'k7' \gset
SELECT name FROM apikey.update(:'k7', '{}');
SELECT count(*) - :audit_rows AS new_audit_rows FROM apikey.audit_log WHERE key_id = :'k7';
SELECT detail->'changes' - 'expires_at' AS changes FROM apikey.audit_log
 WHERE key_id = :'k7' AND action = 'updated' ORDER BY id;

-- introspect: everything but the digest, token masked
SELECT j->>'status' AS status, j->>'owner' AS owner, j->>'tier' AS tier,
       j->>'masked_token' = :'p1' || repeat('*', 30) AS masked,
       j->'rate_limits' AS rate_limits, j->>'rate_limits_from' AS limits_from,
       j ? 'key_hash' AS has_hash, position(:'t1' IN j::text) AS token_pos
  FROM apikey.introspect(:'p1') AS j;
SELECT j->'rate_limits' AS tier_limits, j->>'rate_limits_from' AS limits_from
  FROM apikey.introspect((SELECT prefix FROM apikey.keys WHERE id = :'k6')) AS j;
SELECT apikey.introspect('ak_live_nosuchky') IS NULL AS unknown_prefix;

-- unknown keys
SELECT apikey.revoke('00000000-0000-0000-0000-000000000001');
SELECT token FROM apikey.rotate('00000000-0000-0000-0000-000000000001');
SELECT name FROM apikey.update('00000000-0000-0000-0000-000000000001', '{}');

-- the audit trail of the whole story, in order (refused verifications
-- are written when their apikey.denied_audit_window ends: maybe not yet)
SELECT action, owner, actor, status, detail ? 'display_prefix' AS names_key
  FROM apikey.audit_log WHERE owner = 'acme' AND action <> 'denied' ORDER BY id;

-- audit rows are immutable, even for the superuser
UPDATE apikey.audit_log SET actor = 'mallory';
DELETE FROM apikey.audit_log;
TRUNCATE apikey.audit_log;
SELECT count(*) > 0 AS audit_intact FROM apikey.audit_log WHERE actor = current_user;

-- a failed call leaves nothing behind: no key, no audit row
SELECT count(*) AS keys, (SELECT count(*) FROM apikey.audit_log) AS audits FROM apikey.keys \gset before_
SELECT token FROM apikey.issue('acme', tier => 'no-such-tier');
SELECT token FROM apikey.issue('acme', expires_at => now() - interval '1 second');
SELECT name FROM apikey.update(:'k7', '{"name": "partial", "tier": "no-such-tier"}');
SELECT count(*) - :before_keys AS new_keys,
       (SELECT count(*) FROM apikey.audit_log) - :before_audits AS new_audits,
       (SELECT name FROM apikey.keys WHERE id = :'k7') AS name_unchanged
  FROM apikey.keys;

-- two-phase commit cannot carry a key change (other backends could not be told)
BEGIN;
SELECT count(*) FROM apikey.issue('acme', name => '2pc');
PREPARE TRANSACTION 'regress_apikey';

DROP ROLE regress_lifecycle_web;
