# A backup taken with pg_dump and restored with pg_restore on another
# server with the same pepper: keys, audit trail, usage, added tiers and
# the scope map come back as they were, every token verifies as before
# (valid, revoked, rotated within its grace), and the audit log goes on
# numbering after the restored rows.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ApikeyTest;

my $pepper_file = PostgreSQL::Test::Utils::tempdir . '/pepper';
PostgreSQL::Test::Utils::append_to_file($pepper_file,
	join('', map { sprintf '%02x', int(rand 256) } 1 .. 32) . "\n");
chmod 0600, $pepper_file;
my $conf = qq{
apikey.pepper_file = '$pepper_file'
apikey.flush_interval = '200ms'
apikey.usage_flush_interval = '200ms'
log_statement = none
};

my $old = apikey_node('dump_old', conf => $conf);
$old->safe_psql('postgres', q{
    INSERT INTO apikey.tiers (name, daily_quota) VALUES ('gold', 5000);
    INSERT INTO apikey.scope_map (method, path_pattern, scope) VALUES ('GET', '/orders%', 'orders:read');
    CREATE TABLE k (what text, key_id uuid, token text);
    INSERT INTO k SELECT 'plain', key_id, token
      FROM apikey.issue('dora', name => 'ci', scopes => '{orders:*}', tier => 'gold',
                        metadata => '{"team": "core"}',
                        rate_limits => '[{"name": "minute", "limit": 100, "period": "1 minute"}]');
    INSERT INTO k SELECT 'revoked', key_id, token FROM apikey.issue('dora');
    SELECT apikey.revoke(key_id, reason => 'leaked') FROM k WHERE what = 'revoked';
    INSERT INTO k SELECT 'old', key_id, token FROM apikey.issue('erin');
    INSERT INTO k SELECT 'new', r.key_id, r.token
      FROM k, apikey.rotate(k.key_id, grace => '1 day') AS r WHERE k.what = 'old';
    SELECT apikey.check(token) FROM k, generate_series(1, 4) WHERE what = 'plain';
    BEGIN;
    SELECT set_config('request.path', '/rpc/report', true);
    SELECT apikey.check(token) FROM k, generate_series(1, 3) WHERE what = 'plain';
    COMMIT;
});
poll_ok($old, 'postgres', 'SELECT sum(requests) FROM apikey.usage_hours', '7',
	'usage is written before the dump (pg_dump takes it as the worker last wrote it)');

# What the backup must keep, as text: every column of every table whose
# rows pg_dump keeps (tiers: the added ones; the seeded are re-created).
my %tables = (
	keys => 'SELECT * FROM apikey.keys ORDER BY id',
	audit_log => 'SELECT * FROM apikey.audit_log ORDER BY id',
	usage_hourly => 'SELECT * FROM apikey.usage_hourly ORDER BY key_id, hour',
	tiers => 'SELECT * FROM apikey.tiers ORDER BY name',
	scope_map => 'SELECT * FROM apikey.scope_map ORDER BY method, path_pattern',
	tokens => 'SELECT * FROM k ORDER BY what');
my %before = map { $_ => $old->safe_psql('postgres', $tables{$_}) } keys %tables;
like($before{audit_log}, qr/revoked.*leaked/s, 'the audit log has the revocation');

my $dump = PostgreSQL::Test::Utils::tempdir . '/apikey.dump';
$old->command_ok([ 'pg_dump', '-Fc', '-d', $old->connstr('postgres'), '-f', $dump ],
	'pg_dump -Fc');

my $new = apikey_node('dump_new', conf => $conf, extension => 0);
$new->safe_psql('postgres', 'CREATE DATABASE restored');
$new->command_ok([ 'pg_restore', '--exit-on-error', '-d', $new->connstr('restored'), $dump ],
	'pg_restore into an empty database of another server');

foreach my $table (sort keys %tables)
{
	is($new->safe_psql('restored', $tables{$table}), $before{$table},
		"$table: the same rows after the restore");
}

my $codes = q{
    SELECT string_agg(what || '=' || (apikey.verify(token)).code, ' ' ORDER BY what) FROM k};
is($new->safe_psql('restored', $codes), $old->safe_psql('postgres', $codes),
	'every token verifies as it did before the backup');
is($new->safe_psql('restored', $codes), 'new=VALID old=VALID plain=VALID revoked=REVOKED',
	'valid, revoked, and rotated within its grace');
is($new->safe_psql('restored', q{
    SELECT (c).allowed || ' ' || ((c).headers->>'RateLimit-Policy')
      FROM (SELECT apikey.check(token) AS c FROM k WHERE what = 'plain') AS x}),
	'true "minute";q=100;w=60, "daily_quota";q=5000;w=86400',
	'the restored key keeps its rate limit and quota');

my $last_id = $new->safe_psql('restored', 'SELECT max(id) FROM apikey.audit_log');
$new->safe_psql('restored', q{SELECT apikey.revoke(key_id) FROM k WHERE what = 'plain'});
is($new->safe_psql('restored', qq{
    SELECT string_agg(action, ',') FROM apikey.audit_log WHERE id > $last_id}),
	'revoked', 'a new audit row is numbered after the restored ones');

done_testing();
