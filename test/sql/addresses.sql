--
-- Client addresses (doc/apikey.md, "Client addresses"): client_ip is text;
-- an IPv4-mapped IPv6 address (::ffff:a.b.c.d, what dual-stack sockets
-- report) is its IPv4 address everywhere -- allowlists, per-address
-- buckets, cooldowns, audit rows; text that is not one address is no
-- address: a code, never an error.
--
\set VERBOSITY terse

SELECT key_id AS k, token AS t
  FROM apikey.issue('regress_addr', allowed_ips => '{127.0.0.1/32, 10.0.0.0/8}') \gset
SELECT what, (apikey.verify(:'t', client_ip => ip)).code
  FROM (VALUES ('127.0.0.1', '127.0.0.1'),
               ('::ffff:127.0.0.1', '::ffff:127.0.0.1'),
               ('::FFFF:7f00:1', '::FFFF:7f00:1'),
               ('with host mask', '127.0.0.1/32'),
               ('mapped, host mask', '::ffff:127.0.0.1/128'),
               ('white space', E' 10.1.2.3\t'),
               ('::ffff:10.1.2.3', '::ffff:10.1.2.3'),
               ('127.0.0.2', '127.0.0.2'),
               ('::1', '::1'),
               ('IPv4-compatible ::127.0.0.1', '::127.0.0.1'),
               ('a network', '10.0.0.0/8'),
               ('another mask', '127.0.0.1/24'),
               ('/32 on IPv6', '::ffff:127.0.0.1/32'),
               ('unknown', 'unknown'),
               ('empty', ''),
               ('with a port', '127.0.0.1:8080'),
               ('brackets', '[::ffff:127.0.0.1]'),
               ('a zone', 'fe80::1%eth0'),
               ('leading zeros', '127.000.000.001'),
               ('1 MB', repeat('1', 1048576)),
               ('NULL', NULL)) AS a(what, ip);

-- check() answers a code for the same inputs, with its status
SELECT code, status FROM apikey.check(:'t', client_ip => 'unknown');
SELECT code, status FROM apikey.check(:'t', client_ip => '::ffff:127.0.0.1');
SELECT key_id AS k2, token AS t2 FROM apikey.issue('regress_addr') \gset
SELECT code, status FROM apikey.check(:'t2', client_ip => 'unknown');

-- an allowlist entry written IPv4-mapped allows the IPv4 addresses
SELECT token AS t3 FROM apikey.issue('regress_addr', allowed_ips => '{::ffff:192.0.2.0/120}') \gset
SELECT ip, (apikey.verify(:'t3', client_ip => ip)).code
  FROM unnest(ARRAY['192.0.2.77', '::ffff:192.0.2.77', '192.0.3.1']) AS ip;

-- per-address buckets: each IPv4 client of a dual-stack socket has its own
-- (not one /64 for all of them), the same as its plain IPv4 form's
SET apikey.ip_rate_limit = 1;
SET apikey.ip_rate_period = '1h';
SELECT ip, (apikey.check(:'t2', client_ip => ip)).code
  FROM unnest(ARRAY['::ffff:198.51.100.1', '::ffff:198.51.100.2', '198.51.100.1',
                    '198.51.100.2', '2001:db8:1::1', '2001:db8:1::2'])
       WITH ORDINALITY AS a(ip, n)
 ORDER BY n;
RESET apikey.ip_rate_limit;
RESET apikey.ip_rate_period;

-- cooldowns: failures from ::ffff:203.0.113.50 are 203.0.113.50's
SET apikey.abuse_threshold = 2;
SELECT (apikey.check('garbage', client_ip => '::ffff:203.0.113.50')).code,
       (apikey.check('garbage', client_ip => '203.0.113.50')).code;
SELECT code AS blocked_as_ipv4 FROM apikey.check(:'t2', client_ip => '203.0.113.50');
SELECT code AS blocked_mapped FROM apikey.check(:'t2', client_ip => '::ffff:203.0.113.50');
SELECT code AS another_client FROM apikey.check(:'t2', client_ip => '::ffff:203.0.113.51');
RESET apikey.abuse_threshold;

-- audit rows: the client address of a PostgREST request, as IPv4 (a
-- request of the authenticator, switched to a role: security.md)
CREATE ROLE regress_addr_admin IN ROLE apikey_admin;
SELECT set_config('apikey.authenticator_roles', quote_ident(session_user), false) <> '' AS authenticator;
BEGIN;
SET LOCAL ROLE regress_addr_admin;
SELECT set_config('request.method', 'POST', true) IS NOT NULL AS in_request,
       set_config('request.headers', '{"x-forwarded-for": "::ffff:198.51.100.9, 10.0.0.1"}', true) IS NOT NULL;
SELECT apikey.revoke(:'k2');
COMMIT;
RESET apikey.authenticator_roles;
DROP ROLE regress_addr_admin;
SELECT client_ip FROM apikey.audit_log WHERE key_id = :'k2' AND action = 'revoked';

-- the 0.1.0 declarations (client_ip inet) keep working with this library
-- until ALTER EXTENSION UPDATE: their symbols read an inet
CREATE FUNCTION pg_temp.verify_010(token text, scope text DEFAULT NULL, client_ip inet DEFAULT NULL)
RETURNS apikey.verification LANGUAGE c AS 'apikey', 'apikey_verify';
CREATE FUNCTION pg_temp.check_010(token text, scope text DEFAULT NULL, client_ip inet DEFAULT NULL,
                                  cost integer DEFAULT 1)
RETURNS apikey.check_result LANGUAGE c AS 'apikey', 'apikey_check';
SELECT ip, (pg_temp.verify_010(:'t', client_ip => ip)).code, (pg_temp.check_010(:'t', client_ip => ip)).code
  FROM unnest(ARRAY['127.0.0.1'::inet, '::ffff:127.0.0.1', '10.0.0.0/8', '::1']) AS ip;
