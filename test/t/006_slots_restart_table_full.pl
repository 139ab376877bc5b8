# Shared state over the life of a server:
#  - a concurrency slot is released when its backend is terminated;
#  - buckets survive a clean restart, start full after a crash, and a
#    damaged dump file is logged and ignored;
#  - a full table of key buckets refuses (on_table_full = closed) or admits
#    without limiting (open), takes nothing from other classes, and makes
#    room again once buckets are full.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ApikeyTest;

my $node = apikey_node('shared_state', conf => q{
apikey.max_buckets = 1000
restart_after_crash = on
log_statement = none
});
$node->safe_psql('postgres', q{
    CREATE TABLE tok AS
    SELECT 'slot' AS what, token, key_id FROM apikey.issue('state', rate_limits => '[]')
    UNION ALL
    SELECT 'bucket', token, key_id FROM apikey.issue('state',
        rate_limits => '[{"limit": 1, "period": "1 hour", "burst": 10}]');
    UPDATE apikey.keys SET max_concurrency = 1
     WHERE id = (SELECT key_id FROM tok WHERE what = 'slot');
});

my $check = sub {
	my ($what, $extra) = @_;
	$extra //= '';
	return $node->safe_psql('postgres',
		"SELECT c.code FROM tok, apikey.check(tok.token$extra) c WHERE what = '$what'");
};

# ---- a slot held by a backend that is terminated ----
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN');
is($holder->query_safe(q{SELECT c.code FROM tok, apikey.check(tok.token) c WHERE what = 'slot'}),
	'OK', 'a session takes the only slot in an open transaction');
is($check->('slot'), 'CONCURRENCY_LIMITED', 'another session finds no slot');
my $pid = $holder->query_safe('SELECT pg_backend_pid()');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
poll_ok($node, 'postgres', q{SELECT c.code FROM tok, apikey.check(tok.token) c WHERE what = 'slot'}, 'OK',
	'the slot is free once its backend is terminated');
eval { $holder->quit };

# the in-flight count too
$holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN');
$holder->query_safe('SET apikey.max_inflight = 1');
$holder->query_safe(q{SELECT apikey.check(token) FROM tok WHERE what = 'slot'});
is($node->safe_psql('postgres',
		q{SET apikey.max_inflight = 1; SELECT c.code FROM tok, apikey.check(tok.token) c WHERE what = 'bucket'}),
	'OVERLOADED', 'an open transaction holds the in-flight slot');
$pid = $holder->query_safe('SELECT pg_backend_pid()');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
{
	local $ENV{PGOPTIONS} = '-c apikey.max_inflight=1';
	poll_ok($node, 'postgres',
		q{SELECT c.code FROM tok, apikey.check(tok.token, cost => 0) c WHERE what = 'bucket'}, 'OK',
		'and gives it back when terminated');
}
eval { $holder->quit };

# ---- restart and crash ----
$node->safe_psql('postgres', q{SELECT apikey.consume(key_id, 4) FROM tok WHERE what = 'bucket'});
my $remaining = q{SELECT c.remaining FROM tok, apikey.check(tok.token, cost => 0) c WHERE what = 'bucket'};
is($node->safe_psql('postgres', $remaining), '6', '6 of 10 tokens are left');
$node->restart(mode => 'fast');
is($node->safe_psql('postgres', $remaining), '6', 'after a clean restart, still 6');
ok(!-e $node->data_dir . '/pg_stat/apikey_buckets.stat', 'the dump file is removed once loaded');

# a crash: a backend killed with SIGKILL makes the postmaster reinitialize
# shared memory without the shutdown dump
my $victim = $node->background_psql('postgres');
$pid = $victim->query_safe('SELECT pg_backend_pid()');
kill 'KILL', $pid;
eval { $victim->quit };
poll_ok($node, 'postgres', 'SELECT 1', '1', 'the server is back after the crash');
poll_ok($node, 'postgres', $remaining, '10', 'after a crash the buckets start full');

# a damaged dump file is logged and ignored
$node->safe_psql('postgres', q{SELECT apikey.consume(key_id, 3) FROM tok WHERE what = 'bucket'});
$node->stop('fast');
my $dump = $node->data_dir . '/pg_stat/apikey_buckets.stat';
ok(-s $dump, 'a clean shutdown writes the dump');
open(my $fh, '+<', $dump) or die;
binmode $fh;
seek($fh, 0, 0);
print $fh "JUNK";
close $fh;
$node->start;
like(slurp_file($node->logfile), qr/ignoring invalid data in file "pg_stat\/apikey_buckets.stat"/,
	'a damaged dump is reported in the log');
is($node->safe_psql('postgres', $remaining), '10', 'and ignored: the buckets start full');

# ---- a full table ----
# apikey.max_buckets = 1000 caps each class's table.  1100 keys of 1 request
# per hour, each left empty by its first request: the key table takes about
# 1000 of them.
$node->safe_psql('postgres', q{
    CREATE TABLE fill AS
    SELECT g, i.token FROM generate_series(1, 1100) AS g,
           LATERAL apikey.issue('fill', name => g::text,
                                rate_limits => '[{"limit": 1, "period": "1 hour"}]') AS i});
my $fill = q{
    SELECT count(*) FILTER (WHERE c.allowed), count(*) FILTER (WHERE c.code = 'OVERLOADED')
      FROM fill, LATERAL apikey.check(fill.token) AS c};
my ($admitted, $overloaded) = split /\|/, $node->safe_psql('postgres', $fill);
cmp_ok($admitted, '>=', 990, "the key table took about 1000 buckets ($admitted)");
is($admitted + $overloaded, 1100, 'every other request was refused as OVERLOADED');
is($node->safe_psql('postgres', q{SELECT key_buckets + concurrency_slots FROM apikey.stats}),
	'1000', 'stats show the key table full');
is($check->('bucket'), 'OVERLOADED', 'a key whose bucket does not fit is refused (closed)');
is($node->safe_psql('postgres', q{
    SET apikey.on_table_full = open;
    SELECT c.code || ' ' || coalesce(c.remaining::text, 'unlimited')
      FROM tok, apikey.check(tok.token) c WHERE what = 'bucket'}),
	'OK unlimited', 'with on_table_full = open it is admitted, without limit');

# other classes have their own room: a flood of throttle() names fills the
# named table and takes nothing from keys
my ($named, $named_refused) = split /\|/, $node->safe_psql('postgres', q{
    SELECT count(*) FILTER (WHERE t.allowed), count(*) FILTER (WHERE t.code = 'OVERLOADED')
      FROM generate_series(1, 1200) AS g,
           LATERAL apikey.throttle('flood-' || g, 1, '1 hour') AS t});
is("$named $named_refused", '1000 200', 'the named table takes 1000 names and refuses the rest');
is($node->safe_psql('postgres', q{SELECT buckets FROM apikey.bucket_use WHERE class = 'named'}),
	'1000', 'bucket_use shows them, by role');

# an hour later every bucket is full again: room is made on demand
is($node->safe_psql('postgres', q{
    SET apikey.test_clock_offset = '2h';
    SELECT c.code || ' ' || c.remaining FROM tok, apikey.check(tok.token) c WHERE what = 'bucket'}),
	'OK 9', 'full buckets are reused when room is needed');

# ---- a session's remembered bucket is reused by another key ----
# A backend remembers where its key's buckets are (hints).  Here the bucket
# becomes full, is reused for another key's, and the session must notice and
# neither debit a stranger's bucket nor lose track.
$node->safe_psql('postgres', q{
    CREATE TABLE hinted AS SELECT token, key_id FROM apikey.issue('state',
        rate_limits => '[{"limit": 1, "period": "1 hour", "burst": 10}]')});
my $hinted = $node->background_psql('postgres');
$hinted->query_safe(q{SET apikey.test_clock_offset = '2h'});
is($hinted->query_safe(q{SELECT c.remaining FROM hinted, apikey.check(hinted.token) c}),
	'9', 'a long-lived session debits its key (and remembers where its bucket is)');
$node->safe_psql('postgres', q{
    SET apikey.test_clock_offset = '4h';
    SELECT count(*) FROM fill, LATERAL apikey.check(fill.token) AS c});
# every stranger bucket as (code: remaining) of a look that takes nothing:
# an empty bucket answers RATE_LIMITED with 0 left, a key whose bucket found
# no room is looked at as full (OK: 1); one debited through a stale hint
# would change the list
my $strangers = q{
    SET apikey.test_clock_offset = '4h';
    SELECT string_agg(DISTINCT c.code || ': ' || coalesce(c.remaining::text, '-'), ', ')
      FROM fill, LATERAL apikey.check(fill.token, cost => 0) AS c};
my $before = $node->safe_psql('postgres', $strangers);
like($before, qr/^(OK: 1, )?RATE_LIMITED: 0$/, 'the table is full of other keys\' buckets, each empty');
$hinted->query_safe(q{SET apikey.test_clock_offset = '4h'});
like($hinted->query_safe(q{SELECT c.code || ' ' || coalesce(c.remaining::text, '') FROM hinted, apikey.check(hinted.token) c}),
	qr/^(OK 9|OVERLOADED )$/,
	'the session does not use the reused memory as its bucket');
is($node->safe_psql('postgres', $strangers), $before,
	'and no other bucket was debited through the stale hint');
$hinted->quit;

$node->stop;
done_testing();
