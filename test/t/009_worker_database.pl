# The worker's database (apikey.database) does not exist yet:
#  - the worker says so in the log and waits, connected to no database;
#  - requests never wait for it: once the event queue is full, access events
#    are dropped and counted in apikey.stats.events_dropped;
#  - once the database is created, a worker connects to it, drops the
#    events of other databases (counted), and writes those of its own.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ApikeyTest;

my $node = apikey_node('worker_database', extension => 0, conf => q{
apikey.database = 'apidb'
apikey.flush_interval = '200ms'
log_statement = none
});

ok($node->wait_for_log(qr/apikey worker is waiting for database "apidb" to exist/),
	'the worker logs that its database does not exist, and waits');
is($node->safe_psql('postgres', q{
    SELECT count(*) FROM pg_stat_activity
     WHERE backend_type = 'apikey worker' AND datid IS NULL}),
	'1', 'connected to no database meanwhile');
ok($node->log_contains(qr/database "apidb" does not exist/), 'after one failed attempt to connect');

# 5000 failed verifications in another database; the queue holds 4096
$node->safe_psql('postgres', 'CREATE EXTENSION apikey');
is($node->safe_psql('postgres', q{
    SELECT count(*) FILTER (WHERE (apikey.verify('not a token ' || g)).code = 'MALFORMED')
      FROM generate_series(1, 5000) AS g}),
	'5000', '5000 failed verifications are answered');
is($node->safe_psql('postgres', 'SELECT events_dropped FROM apikey.stats'),
	'904', 'the 904 that did not fit in the queue are counted as dropped');

my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', 'CREATE DATABASE apidb');
ok($node->wait_for_log(qr/database "apidb" exists now, restarting the apikey worker/, $log_offset),
	'the waiting worker sees the database appear');
poll_ok($node, 'postgres', q{
    SELECT count(*) FROM pg_stat_activity
     WHERE backend_type = 'apikey worker' AND datname = 'apidb'}, '1',
	'and a worker connects to it');
poll_ok($node, 'postgres', 'SELECT events_dropped FROM apikey.stats', '5000',
	'the queued events of another database are dropped and counted');

$node->safe_psql('apidb', q{
    CREATE EXTENSION apikey;
    SELECT apikey.verify('apk_definitely_not_valid');
});
poll_ok($node, 'apidb', q{
    SELECT count(*) FROM apikey.audit_log WHERE action = 'denied'}, '1',
	'the events of its own database reach its audit_log');

$node->stop;
done_testing();
