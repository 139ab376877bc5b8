# What the worker does for tenants: a warning (NOTIFY apikey_expiry and
# an audit row) once per expiry of a key that comes within
# apikey.expiry_warning, none for rotated keys or keys further out; and
# address blocks past their end leave the table.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ApikeyTest;

my $node = apikey_node('tenants_worker', conf => q{
apikey.flush_interval = 100ms
apikey.maintenance_interval = 200ms
apikey.expiry_warning = '1h'
});
$node->safe_psql('postgres', q{
    CREATE TABLE k AS
    SELECT 'soon' AS what, key_id FROM apikey.issue('warned', expires_at => now() + interval '30 minutes')
    UNION ALL
    SELECT 'later', key_id FROM apikey.issue('warned', expires_at => now() + interval '2 hours')
    UNION ALL
    SELECT 'never', key_id FROM apikey.issue('warned');
    CREATE TABLE r AS
    SELECT key_id FROM apikey.issue('warned', expires_at => now() + interval '3 hours');
});

my $listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN apikey_expiry');

# a rotated key's expiry is its grace: no warning
$node->safe_psql('postgres', q{SELECT apikey.rotate(key_id, grace => '10 minutes') FROM r});

poll_ok($node, 'postgres', q{
    SELECT count(*) FROM apikey.audit_log WHERE action = 'expiry_warning'},
	'1', 'one key is warned');
is($node->safe_psql('postgres', q{
    SELECT k.what, a.owner, a.actor, a.detail->>'display_prefix' = keys.prefix,
           (a.detail->>'expires_at')::timestamptz = keys.expires_at
      FROM apikey.audit_log AS a JOIN k ON k.key_id = a.key_id
      JOIN apikey.keys ON keys.id = a.key_id
     WHERE a.action = 'expiry_warning'}),
	'soon|warned|apikey worker|t|t', 'the key expiring within the hour, with its prefix and expiry');

my @notes;
wait_until(sub {
	push @notes, ($listener->query_safe('SELECT 1') =~
		  /Asynchronous notification "apikey_expiry" with payload "(.*?)" received/g);
	return @notes >= 1;
});
is(scalar(@notes), 1, 'one notification');
like($notes[0], qr/"owner": "warned"/, 'with the owner');
like($notes[0], qr/"key_id": "[0-9a-f-]{36}"/, 'the key');
like($notes[0], qr/"audit_id": \d+/, 'its audit row');
like($notes[0], qr/"expires_at": "/, 'and the expiry');

# more maintenance runs: warned once per expiry
$node->safe_psql('postgres', q{SELECT pg_sleep(0.6)});
is($node->safe_psql('postgres', q{
    SELECT count(*) FROM apikey.audit_log WHERE action = 'expiry_warning'}),
	'1', 'once per expiry');

# a new expiry within the hour is warned again
$node->safe_psql('postgres', q{
    SELECT apikey.update(key_id, jsonb_build_object('expires_at', now() + interval '40 minutes'))
      FROM k WHERE what = 'soon'});
poll_ok($node, 'postgres', q{
    SELECT count(*) FROM apikey.audit_log WHERE action = 'expiry_warning'},
	'2', 'a new expires_at is warned again');
$listener->quit;

# address blocks past their end leave the table
$node->safe_psql('postgres', q{
    SELECT apikey.block('192.0.2.0/24', 'brief', '1 second');
    SELECT apikey.block('198.51.100.0/24', 'long', '1 day');});
poll_ok($node, 'postgres', q{SELECT string_agg(reason, ',') FROM apikey.address_blocks},
	'long', 'an ended block is removed by the worker');

$node->stop;
done_testing();
