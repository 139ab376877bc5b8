# Quota counts over restarts and crashes:
#  - a clean restart (pg_ctl restart -m fast) keeps every count;
#  - after kill -9 of the postmaster and crash recovery, keys and audit rows
#    are intact and the counts lost are at most those of one flush interval.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ApikeyTest;

my $node = apikey_node('quota_restart', conf => q{
apikey.flush_interval = '200ms'
log_statement = none
});
$node->safe_psql('postgres', q{
    CREATE TABLE k AS
    SELECT 'clean' AS what, key_id, token FROM apikey.issue('dora', rate_limits => '[]')
    UNION ALL
    SELECT 'crash', key_id, token FROM apikey.issue('dora', rate_limits => '[]');
    SELECT apikey.update(key_id, '{"daily_quota": 100, "monthly_quota": 1000}') FROM k;
});

# Takes $n quota units of key $what in one statement; returns how many passed.
sub take
{
	my ($what, $n) = @_;
	return $node->safe_psql('postgres', qq{
        SELECT count(*) FILTER (WHERE (apikey.check(token)).allowed)
          FROM k, generate_series(1, $n) WHERE what = '$what'});
}

# Units left to key $what today: checks until the first refusal.
sub left_today
{
	my ($what) = @_;
	return $node->safe_psql('postgres', qq{
        DO \$\$
        DECLARE
            t text := (SELECT token FROM k WHERE what = '$what');
            n int := 0;
        BEGIN
            WHILE (apikey.check(t)).allowed LOOP
                n := n + 1;
                EXIT WHEN n > 200;
            END LOOP;
            PERFORM set_config('ak.left', n::text, false);
        END \$\$;
        SELECT current_setting('ak.left')});
}

sub slurp_cmdline
{
	my ($path) = @_;
	open(my $fh, '<', $path) or return '';
	local $/;
	my $cmdline = <$fh> // '';
	close($fh);
	return $cmdline;
}

sub flushed_usage
{
	my ($what) = @_;
	return $node->safe_psql('postgres', qq{
        SELECT day_used || '/' || month_used
          FROM apikey.quota_counters JOIN k ON k.key_id = subject WHERE what = '$what'});
}

# ---- a clean restart ----
is(take('clean', 30), '30', '30 units taken');
$node->restart(mode => 'fast');
is(flushed_usage('clean'), '30/30', 'the stopping worker wrote the counts to quota_counters');
is(left_today('clean'), '70', 'after a clean restart, 70 of the daily 100 are left');
is(take('clean', 1), '0', 'and the 101st is refused');

# ---- a crash ----
is(take('crash', 40), '40', '40 units taken');
poll_ok($node, 'postgres',
	q{SELECT day_used FROM apikey.quota_counters JOIN k ON k.key_id = subject WHERE what = 'crash'},
	'40', 'the worker flushes them within its interval');
my $before = $node->safe_psql('postgres', q{
    SELECT (SELECT count(*) FROM apikey.keys) || '/' || (SELECT count(*) FROM apikey.audit_log)});
is(take('crash', 5), '5', '5 more, at most one flush interval before the crash');

my $postmaster = $node->{_pid};
$node->kill9;
# The children notice the postmaster's death and exit; a new postmaster
# refuses to start while they still hold the old shared memory.
my $gone = wait_until(sub {
	return kill(0, $postmaster) == 0
	  && !grep { /^postgres: quota_restart: / } map { slurp_cmdline($_) } glob('/proc/[0-9]*/cmdline');
});
ok($gone, 'kill -9 of the postmaster, and its children exit');
my $started = $node->start(fail_ok => 1);
ok($started, 'the server restarts after kill -9 of the postmaster');

is($node->safe_psql('postgres', q{
    SELECT (SELECT count(*) FROM apikey.keys) || '/' || (SELECT count(*) FROM apikey.audit_log)}),
	$before, 'crash recovery kept every key and audit row');
my $left = left_today('crash');
ok($left >= 55 && $left <= 60,
	"after the crash, 55 to 60 units are left (got $left): only unflushed units were lost");
is(left_today('clean'), '0', 'the key exhausted before the crash is still exhausted');
is($node->safe_psql('postgres', q{
    SELECT count(*) FROM k, apikey.verify(k.token) v WHERE v.code = 'VALID'}),
	'2', 'both keys still verify');

$node->stop;
done_testing();
