--
-- Token format (doc/apikey.md, "Tokens"): shape, checksum, display prefix, digest.
-- Tokens are random, so this file prints facts about them, never them.
--
\set VERBOSITY terse

SELECT key_id, token, display_prefix
  FROM apikey.issue(owner => 'regress_token', name => 'format') \gset

-- <prefix>_<32 random base62><6 base62 checksum>
SELECT :'token' ~ '^ak_live_[0-9A-Za-z]{38}$' AS shape,
       length(:'token') AS length,
       :'display_prefix' = left(:'token', length('ak_live_') + 8) AS display_prefix_is_start;

-- only a 32-byte digest is stored, and it is not the token
SELECT octet_length(key_hash) AS digest_bytes,
       position(convert_to(:'token', 'UTF8') IN key_hash) = 0 AS token_not_in_digest
  FROM apikey.keys WHERE id = :'key_id';
SELECT count(*) AS rows_holding_token FROM apikey.keys
 WHERE prefix = :'token' OR name = :'token' OR metadata::text LIKE '%' || :'token' || '%';

SELECT (apikey.verify(:'token')).code;

-- A wrong checksum digit, a changed random character, a changed prefix:
-- all MALFORMED without any table access.
SELECT (apikey.verify(left(:'token', -1) ||
        CASE right(:'token', 1) WHEN 'a' THEN 'b' ELSE 'a' END)).code AS bad_checksum;
SELECT (apikey.verify(overlay(:'token' PLACING
        CASE substr(:'token', 12, 1) WHEN 'a' THEN 'b' ELSE 'a' END FROM 12 FOR 1))).code AS changed_body;
SELECT (apikey.verify('ak_test_' || substr(:'token', 9))).code AS changed_prefix;
SELECT (apikey.verify(replace(:'token', 'ak_live_', 'ak_live-'))).code AS bad_separator;
SELECT (apikey.verify(:'token' || 'x')).code AS one_char_more;
SELECT (apikey.verify(substr(:'token', 2))).code AS one_char_less;
SELECT (apikey.verify(upper(:'token'))).code AS upper_case;

-- Valid prefixes: [a-z][a-z0-9]{0,15} ( _ [a-z0-9]{1,16} ){0,2}
SELECT p AS prefix, (SELECT t.token ~ ('^' || p || '_[0-9A-Za-z]{38}$')
                       FROM apikey.issue(owner => 'regress_token', prefix => p) AS t) AS ok
  FROM unnest(ARRAY['a', 'sk', 'ak_test', 'myapp_prod_v2', 'abcdefghijklmnop',
                    'x_0123456789abcdef_y']) AS p;

-- Invalid ones are refused before anything is written.
SELECT count(*) AS keys_before FROM apikey.keys \gset
SELECT token FROM apikey.issue(owner => 'regress_token', prefix => 'Ak');
SELECT token FROM apikey.issue(owner => 'regress_token', prefix => '1ak');
SELECT token FROM apikey.issue(owner => 'regress_token', prefix => 'ak__live');
SELECT token FROM apikey.issue(owner => 'regress_token', prefix => 'ak_live_');
SELECT token FROM apikey.issue(owner => 'regress_token', prefix => 'a_b_c_d');
SELECT token FROM apikey.issue(owner => 'regress_token', prefix => 'abcdefghijklmnopq');
SELECT token FROM apikey.issue(owner => 'regress_token', prefix => 'ak-live');
SELECT token FROM apikey.issue(owner => 'regress_token', prefix => '');
SELECT token FROM apikey.issue(owner => 'regress_token', prefix => NULL);
SELECT count(*) - :keys_before AS keys_written FROM apikey.keys;

-- Display prefixes are unique, tokens and digests too.
SELECT count(*) AS issued, count(DISTINCT prefix) AS prefixes,
       count(DISTINCT key_hash) AS digests
  FROM apikey.keys WHERE owner = 'regress_token';
SELECT count(*) AS tokens, count(DISTINCT token) AS distinct_tokens
  FROM generate_series(1, 200) AS g,
       LATERAL apikey.issue(owner => 'regress_token', name => g::text);

-- The random part uses the whole alphabet, not a biased subset.
SELECT count(DISTINCT c) AS distinct_chars
  FROM apikey.keys, regexp_split_to_table(substr(prefix, 9), '') AS c
 WHERE owner = 'regress_token' AND prefix LIKE 'ak\_live\_%';
