--
-- Address blocks and abuse cooldowns (doc/apikey.md, "Address blocks"):
-- BLOCKED before the token is even looked at, for every request or for
-- one owner's keys; thousands of blocks; the apikey.blocks view; lifting
-- cooldowns; who may do what; the audit trail.
--
\set VERBOSITY terse

SELECT coalesce(max(id), 0) AS audit_start FROM apikey.audit_log \gset
CREATE ROLE regress_blocks_eve;
GRANT USAGE ON SCHEMA apikey TO regress_blocks_eve;
SELECT token AS t FROM apikey.issue('regress_blocks', rate_limits => '[]') \gset
SELECT key_id AS ek, token AS et FROM apikey.issue('regress_blocks_eve') \gset

-- A block of every request: any token from there is BLOCKED -- a valid
-- one, and one that is not even a token -- with Retry-After its end.
SELECT addresses, owner, reason, expires_at - created_at AS duration, created_by
  FROM apikey.block('198.51.100.0/24', 'scraping', '1 hour');
SELECT v.tok, c.code, c.status, c.key_id IS NULL AS no_key,
       (c.headers->>'Retry-After')::int BETWEEN 3590 AND 3600 AS retry_after_end
  FROM (VALUES ('valid', :'t'), ('garbage', 'garbage'), ('none', NULL)) AS v(tok, token),
       LATERAL apikey.check(v.token, client_ip => '198.51.100.200') AS c;
SELECT code FROM apikey.check(:'t', client_ip => '198.51.101.1');
-- verify() and the looks say the same
SELECT (apikey.verify(:'t', client_ip => '198.51.100.1')).code,
       (apikey.check(:'t', client_ip => '198.51.100.1', cost => 0)).code;
-- it ends by itself
SET apikey.test_clock_offset = '3601s';
SELECT code AS after_end FROM apikey.check(:'t', client_ip => '198.51.100.200');
RESET apikey.test_clock_offset;

-- Blocks for good have no Retry-After; blocking again replaces the end.
SELECT expires_at IS NULL AS for_good FROM apikey.block('198.51.100.0/24', 'scraping, for good');
SELECT code, headers FROM apikey.check(:'t', client_ip => '198.51.100.7');

-- IPv6, and IPv4-mapped IPv6 addresses under an IPv4 block.
SELECT addresses FROM apikey.block('2001:db8:bad::/48', 'v6');
SELECT (apikey.check(:'t', client_ip => '2001:db8:bad:1::5')).code AS v6_in,
       (apikey.check(:'t', client_ip => '2001:db8:bad0::5')).code AS v6_out,
       (apikey.check(:'t', client_ip => '::ffff:198.51.100.9')).code AS v4_mapped;

-- Nested and adjacent blocks: the union is blocked, its end the later one.
SELECT count(*) FROM (
    SELECT apikey.block('10.0.0.0/8', 'wide', '1 hour')
    UNION ALL SELECT apikey.block('10.1.0.0/16', 'narrow', '3 hours')
    UNION ALL SELECT apikey.block('11.0.0.0/8', 'next door', '2 hours')) AS b;
SELECT ip, (apikey.check(:'t', client_ip => ip::text)).code
  FROM unnest('{9.255.255.255, 10.0.0.1, 10.1.2.3, 11.255.255.255, 12.0.0.0}'::inet[]) AS ip;
-- after 1 hour the wide block is over, the narrow one is not
SET apikey.test_clock_offset = '3601s';
SELECT ip, (apikey.check(:'t', client_ip => ip::text)).code
  FROM unnest('{10.0.0.1, 10.1.2.3, 11.0.0.1}'::inet[]) AS ip;
RESET apikey.test_clock_offset;
-- back in the present, it is in force again
SELECT (apikey.check(:'t', client_ip => '10.0.0.1')).code AS wide_again;

-- Thousands of blocks: every other /24 of 20.0.0.0/13, and one /32 in
-- each of the others.
SELECT count(*) FROM generate_series(0, 2047, 2) AS n,
       LATERAL apikey.block(format('20.%s.%s.0/24', n / 256, n % 256)::cidr, 'bulk');
SELECT count(*) FROM generate_series(1, 2047, 2) AS n,
       LATERAL apikey.block(format('20.%s.%s.77/32', n / 256, n % 256)::cidr, 'bulk');
SELECT count(*) FILTER (WHERE c.code = 'BLOCKED') AS blocked,
       count(*) FILTER (WHERE c.code = 'OK') AS admitted
  FROM generate_series(0, 2047) AS n,
       LATERAL apikey.check(:'t', client_ip => format('20.%s.%s.%s', n / 256, n % 256,
                                                       CASE WHEN n % 4 = 1 THEN 77 ELSE 78 END)) AS c;

-- A block of one owner's keys: other keys from there are admitted.
SET ROLE regress_blocks_eve;
SELECT addresses, owner FROM apikey.block('192.0.2.66', 'ex-employee', owner => 'regress_blocks_eve');
-- an owner blocks for itself only
SELECT apikey.block('192.0.2.67', 'nope');
SELECT apikey.block('192.0.2.67', 'nope', owner => 'regress_blocks');
-- and sees its own blocks only
SELECT kind, addresses, owner FROM apikey.blocks;
RESET ROLE;
SELECT (apikey.check(:'et', client_ip => '192.0.2.66')).code AS eves_key,
       (apikey.check(:'t', client_ip => '192.0.2.66')).code AS other_key,
       (apikey.check(:'et', client_ip => '192.0.2.65')).code AS eves_key_elsewhere;

-- Abuse cooldowns are listed for admins, and admins lift them.
SET apikey.abuse_threshold = 2;
SET apikey.abuse_cooldown = '10min';
SELECT (apikey.check('nope', client_ip => '203.0.113.150')).code,
       (apikey.check('nope', client_ip => '203.0.113.150')).code;
SELECT code AS cooling FROM apikey.check(:'t', client_ip => '203.0.113.150');
SELECT kind, addresses, reason, expires_at > now() AS in_force
  FROM apikey.blocks WHERE kind = 'cooldown' AND addresses = '203.0.113.150/32';
SET ROLE regress_blocks_eve;
SELECT count(*) AS cooldowns_an_owner_sees FROM apikey.blocks WHERE kind = 'cooldown';
SELECT apikey.unblock('203.0.113.150');
SELECT apikey.unblock_key('ak_live_whatever');
RESET ROLE;
SELECT apikey.unblock('203.0.113.128/25') AS lifted;
SELECT code AS after_lift FROM apikey.check(:'t', client_ip => '203.0.113.150');
-- a key's cooldown, by its display prefix, as the view names it: guesses
-- at the rest of its token (well formed, their CRC-32 computed here)
CREATE FUNCTION pg_temp.crc32(s text) RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    crc bigint := 4294967295;
    b int;
BEGIN
    FOREACH b IN ARRAY (SELECT array_agg(get_byte(convert_to(s, 'UTF8'), i) ORDER BY i)
                          FROM generate_series(0, octet_length(s) - 1) AS i) LOOP
        crc := crc # b;
        FOR j IN 1 .. 8 LOOP
            crc := CASE WHEN crc & 1 = 1 THEN (crc >> 1) # 3988292384 ELSE crc >> 1 END;
        END LOOP;
    END LOOP;
    RETURN crc # 4294967295;
END $$;
CREATE FUNCTION pg_temp.base62(v bigint, width int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT string_agg(substr('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
                             (v / (62::bigint ^ (width - i))::bigint % 62)::int + 1, 1), '' ORDER BY i)
      FROM generate_series(1, width) AS i
$$;
CREATE FUNCTION pg_temp.forge(genuine text, n int) RETURNS text LANGUAGE sql AS $$
    SELECT f || pg_temp.base62(pg_temp.crc32(f), 6)
      FROM (SELECT left(genuine, length(genuine) - 30) || lpad(n::text, 24, 'Z') AS f) AS x
$$;
SELECT (apikey.check(pg_temp.forge(:'et', 1))).code, (apikey.check(pg_temp.forge(:'et', 2))).code;
-- a display prefix is public: its cooldown never refuses the key itself,
-- but a further guess naming it blocks the address it came from at once
SELECT (apikey.check(:'et')).code AS key_cooling;
SELECT (apikey.check(pg_temp.forge(:'et', 3), client_ip => '203.0.113.170')).code AS guess,
       (apikey.check(:'et', client_ip => '203.0.113.170')).code AS guessers_address;
SELECT kind, display_prefix = (SELECT prefix FROM apikey.keys WHERE id = :'ek') AS names_key, owner
  FROM apikey.blocks WHERE kind = 'cooldown' AND owner = 'regress_blocks_eve';
SELECT apikey.unblock_key((SELECT prefix FROM apikey.keys WHERE id = :'ek')) AS lifted,
       apikey.unblock_key((SELECT prefix FROM apikey.keys WHERE id = :'ek')) AS again;
SELECT (apikey.check(:'et')).code AS key_after_lift;
RESET apikey.abuse_threshold;
RESET apikey.abuse_cooldown;

-- unblock(): exactly these addresses; owners remove their own only.
SET ROLE regress_blocks_eve;
SELECT apikey.unblock('198.51.100.0/24') AS not_hers;
SELECT apikey.unblock('192.0.2.66/32') AS hers;
RESET ROLE;
SELECT apikey.unblock('198.51.100.0/25') AS not_exactly;
SELECT apikey.unblock('198.51.100.0/24') AS exactly;
SELECT code FROM apikey.check(:'t', client_ip => '198.51.100.7');

-- Bad input: 22023 and nothing changed.
SELECT count(*) AS blocks FROM apikey.address_blocks \gset
SELECT apikey.block(NULL, 'x');
SELECT apikey.block('192.0.2.1', NULL);
SELECT apikey.block('192.0.2.1', '');
SELECT apikey.block('192.0.2.1', 'x', '0 seconds');
SELECT apikey.block('192.0.2.1', 'x', '-1 hour');
SELECT apikey.block('192.0.2.1', 'x', '400 days');
SELECT apikey.block('192.0.2.1', 'x', owner => '');
SELECT apikey.unblock(NULL);
SELECT apikey.unblock_key(NULL);
SELECT count(*) - :blocks AS new_blocks FROM apikey.address_blocks;

-- The trail: every block and unblock, by whom.
SELECT action, owner, actor, detail->>'addresses' AS addresses, detail->'cooldowns' AS cooldowns
  FROM apikey.audit_log
 WHERE id > :audit_start AND action IN ('blocked', 'unblocked')
   AND coalesce(detail->>'addresses', '') NOT LIKE '20.%'
 ORDER BY id;

TRUNCATE apikey.address_blocks;
DELETE FROM apikey.keys WHERE owner LIKE 'regress_blocks%';
REVOKE USAGE ON SCHEMA apikey FROM regress_blocks_eve;
DROP ROLE regress_blocks_eve;
