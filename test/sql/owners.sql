--
-- Owner limits (doc/apikey.md, "Owner limits"): rate limits, quotas and a
-- concurrency limit every key of an owner shares, debited with each key's
-- own, all or nothing; max_keys when owners issue keys themselves; who
-- may set and see them.
--
\set VERBOSITY terse

CREATE ROLE regress_owner_alice;
CREATE ROLE regress_owner_bob;
GRANT USAGE ON SCHEMA apikey TO regress_owner_alice, regress_owner_bob;

-- Two keys of one owner, each with a bucket of 10.
SELECT key_id AS k1, token AS t1 FROM apikey.issue('regress_owner_alice',
    rate_limits => '[{"name": "hour", "limit": 5, "period": "1 hour", "burst": 10}]') \gset
SELECT key_id AS k2, token AS t2 FROM apikey.issue('regress_owner_alice',
    rate_limits => '[{"name": "hour", "limit": 5, "period": "1 hour", "burst": 10}]') \gset

-- The owner gets 6 per hour for all its keys.
SELECT owner, rate_limits, daily_quota, max_concurrency, max_keys
  FROM apikey.set_owner_limits('regress_owner_alice',
       '{"rate_limits": [{"name": "hour", "limit": 6, "period": "1 hour"}]}');

-- Both keys debit the owner's bucket.  The headers report the key's
-- limit and the owner's, X-RateLimit-* the most restrictive.
SELECT allowed, remaining, headers->>'RateLimit-Policy' AS policy,
       regexp_replace(headers->>'RateLimit', 't=\d+', 't=#', 'g') AS ratelimit,
       headers->>'X-RateLimit-Limit' AS x_limit, headers->>'X-RateLimit-Remaining' AS x_remaining
  FROM apikey.check(:'t1');
SELECT (apikey.check(:'t2')).allowed, (apikey.check(:'t1')).allowed, (apikey.check(:'t2')).allowed,
       (apikey.check(:'t1')).allowed;
SELECT allowed, remaining, headers->>'X-RateLimit-Limit' AS x_limit FROM apikey.check(:'t2');
-- 6 admitted: the owner's bucket is empty, each key has 7 tokens left.
-- Refused by the owner's bucket, with the owner's limit only in the
-- headers; the key's own keeps its tokens.
SELECT allowed, code, remaining, regexp_replace(headers->>'RateLimit', 't=\d+', 't=#') AS ratelimit,
       (headers->>'Retry-After')::int BETWEEN 590 AND 600 AS retry_after_one_token
  FROM apikey.check(:'t1');
SELECT name, applies_to, limit_value, remaining FROM apikey.limits(:'t1') ORDER BY applies_to, name;

-- A cost no owner limit can ever hold is an error, as for the key's.
SELECT allowed FROM apikey.check(:'t1', cost => 7);

-- consume() debits the owner's limits too: here, there are none left.
SELECT allowed, code FROM apikey.consume(:'k1');

-- A shared daily quota, reported as owner.daily_quota.
SELECT key_id AS k3, token AS t3 FROM apikey.issue('regress_owner_bob', rate_limits => '[]') \gset
SELECT key_id AS k4, token AS t4 FROM apikey.issue('regress_owner_bob', rate_limits => '[]') \gset
SELECT daily_quota FROM apikey.set_owner_limits('regress_owner_bob', '{"daily_quota": 3}');
SELECT (apikey.check(:'t3')).allowed, (apikey.check(:'t4')).allowed;
SELECT allowed, regexp_replace(headers->>'RateLimit', 't=\d+', 't=#') AS ratelimit,
       headers->>'X-RateLimit-Remaining' AS x_remaining
  FROM apikey.check(:'t3');
SELECT allowed, code, headers->>'RateLimit-Policy' AS policy
  FROM apikey.check(:'t4');
-- a look reports it too, taking nothing
SELECT allowed, code FROM apikey.check(:'t3', cost => 0);
-- the key's own quota and its owner's: a refusal by the owner's gives the
-- key's unit back
SELECT daily_quota FROM apikey.update(:'k3', '{"daily_quota": 10}');
SELECT code FROM apikey.check(:'t3');
SELECT name, applies_to, limit_value, remaining FROM apikey.limits(:'t3')
 WHERE kind = 'quota' ORDER BY applies_to;

-- A shared concurrency limit: the owner's one slot is held by t3's
-- transaction, so t4 waits for it.
SELECT max_concurrency FROM apikey.set_owner_limits('regress_owner_bob', '{"max_concurrency": 1}');
BEGIN;
SELECT code FROM apikey.check(:'t3');
SELECT code, status FROM apikey.check(:'t4');
SELECT code FROM apikey.check(:'t4', cost => 0);
COMMIT;
SELECT code AS after_commit FROM apikey.check(:'t4');

-- Removing the limits: the keys are on their own again.
SELECT apikey.set_owner_limits('regress_owner_bob', NULL) IS NULL AS removed;
SELECT count(*) AS owner_rows FROM apikey.owner_limits WHERE owner = 'regress_owner_bob';
SELECT code FROM apikey.check(:'t4');

-- max_keys: an owner issuing keys itself has at most that many active
-- (it has two: t3 and t4).
SELECT max_keys FROM apikey.set_owner_limits('regress_owner_bob', '{"max_keys": 3}');
SET ROLE regress_owner_bob;
SELECT count(*) AS issued FROM apikey.issue('regress_owner_bob');
SELECT count(*) FROM apikey.issue('regress_owner_bob');
-- a revoked key leaves room
SELECT apikey.revoke(:'k4');
SELECT count(*) AS issued_after_revoke FROM apikey.issue('regress_owner_bob');
SELECT count(*) FROM apikey.issue_bulk('[{"owner": "regress_owner_bob"}]');
-- owners see their own limits, and only theirs; they cannot set them
SELECT owner, max_keys FROM apikey.owner_limits;
SELECT apikey.set_owner_limits('regress_owner_bob', '{"max_keys": 100}');
RESET ROLE;
-- admins are not bound by max_keys
SELECT count(*) AS admin_issued FROM apikey.issue('regress_owner_bob');
SELECT count(*) AS active_keys FROM apikey.key_list WHERE owner = 'regress_owner_bob' AND status = 'active';

-- Bad input: 22023 with what is wrong, and nothing changed.
SELECT count(*) AS audit_rows FROM apikey.audit_log WHERE action = 'owner_limits' \gset
SELECT apikey.set_owner_limits(NULL, '{}');
SELECT apikey.set_owner_limits('', '{}');
SELECT apikey.set_owner_limits('regress_owner_alice', '[]');
SELECT apikey.set_owner_limits('regress_owner_alice', '{"max_key": 1}');
SELECT apikey.set_owner_limits('regress_owner_alice', '{"max_keys": -1}');
SELECT apikey.set_owner_limits('regress_owner_alice', '{"max_keys": "ten"}');
SELECT apikey.set_owner_limits('regress_owner_alice', '{"daily_quota": 1.5}');
SELECT apikey.set_owner_limits('regress_owner_alice', '{"max_concurrency": 0}');
SELECT apikey.set_owner_limits('regress_owner_alice', '{"rate_limits": [{"limit": 0, "period": 1}]}');
SELECT apikey.set_owner_limits('regress_owner_alice', '{"rate_limits": {"limit": 1}}');
SELECT apikey.set_owner_limits(repeat('x', 300), '{"max_keys": 1}');
SELECT count(*) - :audit_rows AS new_audit_rows FROM apikey.audit_log WHERE action = 'owner_limits';
SELECT rate_limits FROM apikey.owner_limits WHERE owner = 'regress_owner_alice';

-- Every change is audited, with the limits.
SELECT owner, detail FROM apikey.audit_log WHERE action = 'owner_limits' ORDER BY id;

DELETE FROM apikey.owner_limits;
DELETE FROM apikey.keys WHERE owner LIKE 'regress_owner_%';
REVOKE USAGE ON SCHEMA apikey FROM regress_owner_alice, regress_owner_bob;
DROP ROLE regress_owner_alice;
DROP ROLE regress_owner_bob;
