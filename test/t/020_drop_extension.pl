# DROP EXTENSION apikey removes everything the extension created in the
# database, and nothing else:
#  - without CASCADE it refuses while a user's object depends on it;
#  - afterwards no schema, no member object, no C function, no privilege or
#    policy naming apikey_admin is left in the database;
#  - the role apikey_admin is left (it belongs to the cluster, and other
#    databases' copies of the extension grant to it): DROP ROLE removes it
#    once no database has the extension, and CREATE EXTENSION makes it again;
#  - the worker goes on through the drop, and serves the new copy.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ApikeyTest;

my $node = apikey_node('drop_extension', conf => q{
apikey.denied_audit_window = '1s'
apikey.flush_interval = '200ms'
log_statement = none
});

# What apikey leaves in database $db, as "name=count" lines (all 0 once
# it is dropped).
sub leftovers
{
	my ($db) = @_;
	return $node->safe_psql($db, q{
        SELECT 'schemas=' || count(*) FROM pg_namespace WHERE nspname = 'apikey'
        UNION ALL
        SELECT 'extension members=' || count(*) FROM pg_depend d
          JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
         WHERE e.extname = 'apikey' AND d.deptype = 'e'
        UNION ALL
        SELECT 'C functions=' || count(*) FROM pg_proc WHERE probin LIKE '%apikey%'
        UNION ALL
        SELECT 'types=' || count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
         WHERE n.nspname = 'apikey'
        UNION ALL
        SELECT 'policies=' || count(*) FROM pg_policy WHERE 'apikey_admin'::regrole = ANY (polroles)
        UNION ALL
        SELECT 'objects depending on apikey_admin=' || count(*) FROM pg_shdepend
         WHERE refclassid = 'pg_authid'::regclass AND refobjid = 'apikey_admin'::regrole
           AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
        UNION ALL
        SELECT 'default privileges=' || count(*) FROM pg_default_acl
         WHERE defaclacl::text LIKE '%apikey_admin%'});
}

my $none = join "\n", map { "$_=0" } ('schemas', 'extension members', 'C functions', 'types',
	'policies', 'objects depending on apikey_admin', 'default privileges');

# the extension in use: keys, a revocation, usage written by the worker, a
# tier and a scope mapping of the admin's, a member of apikey_admin
$node->safe_psql('postgres', q{
    CREATE ROLE regress_keeper NOLOGIN IN ROLE apikey_admin;
    INSERT INTO apikey.tiers (name) VALUES ('gold');
    INSERT INTO apikey.scope_map (method, path_pattern, scope) VALUES ('GET', '/orders%', 'orders:read');
    CREATE TABLE k AS SELECT key_id, token FROM apikey.issue('dora', rate_limits => '[]');
    SELECT apikey.check(token) FROM k, generate_series(1, 3);
    SELECT apikey.revoke(id, reason => 'leaked') FROM apikey.keys WHERE owner = 'dora';
});
poll_ok($node, 'postgres', 'SELECT sum(requests) FROM apikey.usage_hourly', '3',
	'the worker writes usage before the drop');
isnt(leftovers('postgres'), $none, 'the extension has objects in the database');

# a user's view over the extension: no silent CASCADE
$node->safe_psql('postgres', 'CREATE VIEW my_keys AS SELECT id, owner FROM apikey.key_list');
my ($ret, $stdout, $stderr) = $node->psql('postgres', 'DROP EXTENSION apikey');
isnt($ret, 0, 'DROP EXTENSION refuses while a user view depends on it');
like($stderr, qr/cannot drop extension apikey because other objects depend on it/,
	'and says why');
$node->safe_psql('postgres', 'DROP VIEW my_keys');

# a second database has the extension too
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql('other', 'CREATE EXTENSION apikey');

my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', 'DROP EXTENSION apikey');
is(leftovers('postgres'), $none, 'after DROP EXTENSION nothing of apikey is left in the database');
is($node->safe_psql('postgres', q{SELECT to_regclass('k') IS NOT NULL}), 't',
	"and the user's own table is still there");
is($node->safe_psql('postgres', q{
    SELECT count(*) FROM pg_roles WHERE rolname = 'apikey_admin'}), '1',
	'the cluster-wide role apikey_admin is left');
($ret, $stdout, $stderr) = $node->psql('postgres', 'DROP ROLE apikey_admin');
isnt($ret, 0, 'DROP ROLE apikey_admin fails while another database has the extension');

$node->safe_psql('other', 'DROP EXTENSION apikey');
is(leftovers('other'), $none, 'nothing is left in the second database either');
$node->safe_psql('postgres', 'DROP ROLE apikey_admin');
is($node->safe_psql('postgres', q{
    SELECT count(*) FROM pg_roles WHERE rolname = 'regress_keeper'}), '1',
	'once no database has the extension, DROP ROLE apikey_admin removes it (its members stay)');

# again: the role is made anew, the old keys are gone, the worker serves
# the new copy
$node->safe_psql('postgres', 'CREATE EXTENSION apikey');
is($node->safe_psql('postgres', q{
    SELECT (SELECT count(*) FROM pg_roles WHERE rolname = 'apikey_admin')
        || '/' || (SELECT count(*) FROM apikey.keys)
        || '/' || (SELECT count(*) FROM apikey.tiers WHERE name = 'gold')}), '1/0/0',
	'CREATE EXTENSION again makes the role, with no key and only the seeded tiers');
is($node->safe_psql('postgres', q{SELECT (apikey.verify(token)).code FROM k}), 'NOT_FOUND',
	'a token of the dropped copy does not verify');
$node->safe_psql('postgres', q{
    SELECT apikey.check(token) FROM apikey.issue('erin', rate_limits => '[]'), generate_series(1, 2)});
poll_ok($node, 'postgres', q{SELECT sum(requests) FROM apikey.usage_hourly}, '2',
	"the worker writes the new copy's usage");
# the refused statements of this test aside (their lines carry its name)
my @errors = grep { /ERROR|FATAL|PANIC|server process .* terminated/ && !/020_drop_extension/ }
  split /\n/, slurp_file($node->logfile, $log_offset);
is(join("\n", @errors), '', 'no error in the server log from the drop to now, from the worker or another process');

done_testing();
