--
-- A key's status: one rule and one clock for verify() and key_list.
-- apikey.test_clock_offset moves the clock both read.
--
SET client_min_messages = warning;
SELECT key_id AS soon, token AS soon_token
  FROM apikey.issue('regress_status', name => 'soon', expires_at => now() + interval '1 hour') \gset
SELECT key_id AS old, token AS old_token
  FROM apikey.issue('regress_status', name => 'old') \gset
SELECT key_id AS new FROM apikey.rotate(:'old', grace => '1 hour') \gset

-- now: the expiring key is active, the rotated one rotating
SELECT k.name, k.status, (apikey.verify(t.token)).code
  FROM apikey.key_list AS k
  JOIN (VALUES (:'soon'::uuid, :'soon_token'), (:'old'::uuid, :'old_token')) AS t(id, token)
    ON t.id = k.id
 ORDER BY k.name;

-- two hours later, for both: expired, and revoked at the end of the grace
SET apikey.test_clock_offset = '2h';
SELECT k.name, k.status, (apikey.verify(t.token)).code
  FROM apikey.key_list AS k
  JOIN (VALUES (:'soon'::uuid, :'soon_token'), (:'old'::uuid, :'old_token')) AS t(id, token)
    ON t.id = k.id
 ORDER BY k.name;
RESET apikey.test_clock_offset;

-- NULLs are "never": no expiry, not revoked, not rotated
SELECT apikey._key_status(NULL, NULL, NULL, NULL) AS fresh,
       apikey._key_status(now() - interval '1 s', NULL, NULL, NULL) AS revoked,
       apikey._key_status(NULL, now() - interval '1 s', NULL, NULL) AS expired,
       apikey._key_status(NULL, now() + interval '1 h', gen_random_uuid(), NULL) AS rotating,
       apikey._key_status(NULL, NULL, NULL, now()) AS disabled,
       apikey._key_status(now() - interval '1 s', NULL, NULL, now()) AS revoked_wins;

DELETE FROM apikey.keys WHERE owner = 'regress_status';
