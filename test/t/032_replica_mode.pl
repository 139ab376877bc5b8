# Logical replication applies changes with session_replication_role =
# replica, where triggers of origin ENABLE do not fire.  apikey's
# invalidation and audit triggers are ENABLE ALWAYS: a revocation
# replicated to a subscriber reaches the verification cache of a session
# there that had the key cached; and replica mode is no way around the
# audit log's guard.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ApikeyTest;

my $pub = apikey_node('publisher', init => { allows_streaming => 'logical' });
my $sub = apikey_node('subscriber');

my $token = $pub->safe_psql('postgres', q{
	CREATE PUBLICATION keys_pub FOR TABLE apikey.keys;
	SELECT token FROM apikey.issue('replicated');
});
my $connstr = $pub->connstr('postgres') =~ s/'/''/gr;
$sub->safe_psql('postgres', qq{CREATE SUBSCRIPTION keys_sub CONNECTION '$connstr' PUBLICATION keys_pub});
$sub->wait_for_subscription_sync($pub, 'keys_sub');

my $session = $sub->background_psql('postgres');
is($session->query_safe(qq{SELECT (apikey.verify('$token')).code}), 'VALID',
	'the replicated key verifies on the subscriber');
is($session->query_safe(qq{SELECT (apikey.verify('$token')).code}), 'VALID', 'and again, from the cache');

$pub->safe_psql('postgres', q{SELECT apikey.revoke(id) FROM apikey.keys WHERE owner = 'replicated'});
$pub->wait_for_catchup('keys_sub');
is($sub->safe_psql('postgres', q{SELECT revoked_at IS NOT NULL FROM apikey.keys WHERE owner = 'replicated'}),
	't', 'the revocation is replicated');
is($session->query_safe(qq{SELECT (apikey.verify('$token')).code}), 'REVOKED',
	'the subscriber session that had the key cached refuses it');
$session->quit;

# the audit log's guard holds in replica mode too (the regression test
# replica.sql has the rest)
my ($rc, $out, $err) = $pub->psql('postgres',
	q{SET session_replication_role = replica; DELETE FROM apikey.audit_log WHERE owner = 'replicated'});
like($err, qr/apikey\.audit_log is append-only/, 'replica mode does not switch the audit guard off');

done_testing();
