--
-- verify(): every code, their precedence, what a result carries, the
-- static development key and the cache.
--
\set VERBOSITY terse

SELECT key_id AS k, token AS t
  FROM apikey.issue('regress_verify', name => 'main', scopes => '{orders:read,billing:*}',
                    allowed_ips => '{10.0.0.0/8,2001:db8::/32}', metadata => '{"plan": "pro"}',
                    org => 'org-1')
\gset

-- VALID, with everything a caller needs
SELECT valid, code, key_id = :'k' AS key_id, owner, org, name, scopes, tier, expires_at, metadata
  FROM apikey.verify(:'t', 'orders:read', '10.1.2.3');

-- scopes: exact, prefix:* wildcard, no scope asked
SELECT s AS scope, (apikey.verify(:'t', s, '10.1.2.3')).code
  FROM unnest(ARRAY['orders:read', 'orders:write', 'billing:invoices', 'billing:',
                    'billing', 'billingx:read', '', NULL]) AS s;

-- the allowlist: IPv4, IPv6, outside, and no address at all
SELECT ip, (apikey.verify(:'t', 'orders:read', ip)).code
  FROM unnest(ARRAY['10.255.0.1', '11.0.0.1', '2001:db8::1', '2001:db9::1', NULL]) AS ip;

-- precedence: IP_NOT_ALLOWED comes before INSUFFICIENT_SCOPE
SELECT (apikey.verify(:'t', 'admin', '11.0.0.1')).code;

-- '*' grants every scope
SELECT token AS star FROM apikey.issue('regress_verify', scopes => '{*}') \gset
SELECT (apikey.verify(:'star', 'anything:at:all')).code;

-- MALFORMED never reaches a table and carries no key
SELECT v AS input, r.valid, r.code, r.key_id, r.owner
  FROM (VALUES ('null', NULL), ('empty', ''), ('space', ' '), ('prefix only', 'ak_live_'),
               ('short', 'ak_live_abc'), ('no prefix', repeat('A', 38)),
               ('1 MB', repeat('a', 1048576)),
               ('256 bytes', 'ak_live_' || repeat('a', 248)),
               ('newline', E'ak_live_\n' || repeat('A', 37))) AS i(v, token),
       LATERAL apikey.verify(i.token) AS r;

-- NOT_FOUND: well formed, right checksum, no such key (the row is gone)
SELECT key_id AS gone, token AS gone_token FROM apikey.issue('regress_verify') \gset
SELECT (apikey.verify(:'gone_token')).code AS before_delete;
DELETE FROM apikey.keys WHERE id = :'gone';
SELECT valid, code, key_id, owner FROM apikey.verify(:'gone_token');

-- REVOKED and EXPIRED keep telling which key it was
SELECT key_id AS r, token AS rt FROM apikey.issue('regress_verify', allowed_ips => '{10.0.0.0/8}') \gset
SELECT apikey.revoke(:'r');
SELECT valid, code, key_id = :'r' AS same_key, owner FROM apikey.verify(:'rt', 'x', '11.0.0.1');

SELECT key_id AS e, token AS et
  FROM apikey.issue('regress_verify', scopes => '{a}', expires_at => now() + interval '1 hour') \gset
SELECT (apikey.verify(:'et', 'a')).code AS before_expiry;
-- only the worker or a superuser can move expires_at into the past
UPDATE apikey.keys SET expires_at = now() - interval '1 second' WHERE id = :'e';
SELECT valid, code, key_id = :'e' AS same_key, expires_at < now() AS past
  FROM apikey.verify(:'et', 'b');
SELECT status FROM apikey.key_list WHERE id = :'e';
-- the worker stamps revoked_at = expires_at on expired keys: still EXPIRED
UPDATE apikey.keys SET revoked_at = expires_at, revoke_reason = 'expired' WHERE id = :'e';
SELECT (apikey.verify(:'et')).code, (SELECT status FROM apikey.key_list WHERE id = :'e');
-- revoked before it expired: REVOKED
UPDATE apikey.keys SET revoked_at = expires_at - interval '1 minute' WHERE id = :'e';
SELECT (apikey.verify(:'et')).code, (SELECT status FROM apikey.key_list WHERE id = :'e');

-- The static development key: no row, a digest in the setting.
SET apikey.static_key = 'dev-static-key-for-tests';
SELECT left(current_setting('apikey.static_key'), 8) AS shown_as,
       length(current_setting('apikey.static_key')) AS length,
       position('dev-static' IN current_setting('apikey.static_key')) AS plaintext_pos;
SELECT valid, code, key_id, owner, name, scopes, tier FROM apikey.verify('dev-static-key-for-tests', 'any:scope');
SET apikey.static_key_owner = 'dev-team';
SELECT owner FROM apikey.verify('dev-static-key-for-tests');
SELECT (apikey.verify('dev-static-key-for-tests-but-longer')).code AS near_miss;
SELECT (apikey.verify(:'t', 'orders:read', '10.0.0.1')).code AS real_keys_still_work;
SET apikey.static_key = 'short';
RESET apikey.static_key;
SELECT (apikey.verify('dev-static-key-for-tests')).code AS after_reset;
RESET apikey.static_key_owner;

-- The cache: a repeated verification does no table access.
SELECT cache_hits AS h0, cache_misses AS m0, requests_total AS r0,
       valid_total AS v0, invalid_total AS i0 FROM apikey.stats \gset
SELECT count(*) FILTER (WHERE (apikey.verify(:'t', 'orders:read', '10.0.0.1')).valid)
  FROM generate_series(1, 100);
SELECT cache_hits - :h0 AS hits, cache_misses - :m0 AS misses FROM apikey.stats;
-- a new key is a miss once, then a hit
SELECT token AS fresh FROM apikey.issue('regress_verify') \gset
SELECT cache_hits AS h0, cache_misses AS m0 FROM apikey.stats \gset
SELECT (apikey.verify(:'fresh')).code, (apikey.verify(:'fresh')).code;
SELECT cache_hits - :h0 AS hits, cache_misses - :m0 AS misses FROM apikey.stats;
-- unknown tokens are cached too, so a flood of them reads the table once each
SELECT cache_hits AS h0, cache_misses AS m0 FROM apikey.stats \gset
SELECT (apikey.verify(:'gone_token')).code, (apikey.verify(:'gone_token')).code;
SELECT cache_hits - :h0 AS hits, cache_misses - :m0 AS misses FROM apikey.stats;
-- MALFORMED never touches the cache
SELECT cache_hits AS h0, cache_misses AS m0 FROM apikey.stats \gset
SELECT (apikey.verify('garbage')).code;
SELECT cache_hits - :h0 AS hits, cache_misses - :m0 AS misses FROM apikey.stats;
-- apikey.max_keys_cached = 0: every verification reads the table
SET apikey.max_keys_cached = 0;
SELECT cache_hits AS h0, cache_misses AS m0 FROM apikey.stats \gset
SELECT (apikey.verify(:'fresh')).code, (apikey.verify(:'fresh')).code;
SELECT cache_hits - :h0 AS hits, cache_misses - :m0 AS misses FROM apikey.stats;
RESET apikey.max_keys_cached;
-- and the outcome counters moved with every call
SELECT requests_total - :r0 AS requests, valid_total - :v0 AS valid,
       invalid_total - :i0 AS invalid FROM apikey.stats;

-- a change to a tier reaches every cached key of that tier
SELECT token AS tt FROM apikey.issue('regress_verify', tier => 'premium') \gset
SELECT tier FROM apikey.verify(:'tt');
UPDATE apikey.tiers SET name = 'premium-2024' WHERE name = 'premium';
SELECT tier FROM apikey.verify(:'tt');
UPDATE apikey.tiers SET name = 'premium' WHERE name = 'premium-2024';

-- a change inside a rolled-back transaction or savepoint is undone in the cache
BEGIN;
SELECT apikey.revoke(:'k');
SELECT (apikey.verify(:'t', 'orders:read', '10.0.0.1')).code AS inside;
ROLLBACK;
SELECT (apikey.verify(:'t', 'orders:read', '10.0.0.1')).code AS after_rollback;
BEGIN;
SAVEPOINT s;
SELECT apikey.revoke(:'k');
SELECT (apikey.verify(:'t', 'orders:read', '10.0.0.1')).code AS inside_savepoint;
ROLLBACK TO SAVEPOINT s;
SELECT (apikey.verify(:'t', 'orders:read', '10.0.0.1')).code AS after_rollback_to;
COMMIT;
