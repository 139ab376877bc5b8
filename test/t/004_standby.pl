# verify() on a hot standby: it writes nothing, so it works there, and a
# key revoked on the primary stops verifying on the standby once the
# revocation is replayed (its commit record carries the invalidation).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ApikeyTest;

my $primary = apikey_node('primary', init => { allows_streaming => 1 });
$primary->safe_psql('postgres', q{
    CREATE TABLE tok AS SELECT key_id, token FROM apikey.issue('replica-owner', scopes => '{read}');
});
$primary->backup('backup');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->append_conf('postgresql.conf', "shared_preload_libraries = 'apikey'\n");
$standby->start;
$primary->wait_for_catchup($standby);

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');

# one long-lived standby session keeps the key in its cache
my $session = $standby->background_psql('postgres');
is($session->query_safe(q{SELECT (apikey.verify(token, 'read')).code FROM tok}),
	'VALID', 'the key verifies on the standby');
is($session->query_safe(q{SELECT (apikey.verify(token, 'read')).code FROM tok}),
	'VALID', 'and again, from the cache');

$primary->safe_psql('postgres', 'SELECT apikey.revoke(key_id) FROM tok');
$primary->wait_for_catchup($standby);
is($session->query_safe(q{SELECT (apikey.verify(token, 'read')).code FROM tok}),
	'REVOKED', 'revoked on the primary: refused by the standby session that had it cached');

# a key issued after the standby cached "not found" becomes known there
$primary->safe_psql('postgres', q{
    CREATE TABLE tok2 AS SELECT key_id, token FROM apikey.issue('replica-owner');
});
$primary->wait_for_catchup($standby);
is($session->query_safe(q{SELECT (apikey.verify(token)).code FROM tok2}),
	'VALID', 'a key issued on the primary verifies on the standby');
$primary->safe_psql('postgres', q{SELECT apikey.update(key_id, '{"scopes": ["write"]}') FROM tok2});
$primary->wait_for_catchup($standby);
is($session->query_safe(q{SELECT (apikey.verify(token, 'read')).code FROM tok2}),
	'INSUFFICIENT_SCOPE', 'an update on the primary reaches the standby cache');

# the limiter writes nothing either: it works on the standby, with the
# standby's own buckets
is($session->query_safe(q{SELECT c.code || ' ' || c.status FROM tok2, apikey.check(tok2.token, 'write') c}),
	'OK 200', 'check() works on the standby');
is($session->query_safe(q{SELECT string_agg(t.code, ',')
                            FROM generate_series(1, 3) g,
                                 LATERAL apikey.throttle('standby-' || (g > 0)::text, 2, '1 hour') t}),
	'OK,OK,RATE_LIMITED', 'throttle() keeps its buckets on the standby');
is($session->query_safe(q{SELECT c.code FROM tok2, apikey.consume(tok2.key_id) c}),
	'OK', 'consume() works on the standby');

$session->quit;
$standby->stop;
$primary->stop;
done_testing();
