# apikey in several databases, with no configuration:
#  - CREATE EXTENSION in a database starts its worker within seconds; the
#    quota counts, usage and access events of each database reach its own
#    tables, and quota alerts its own NOTIFY;
#  - a flood of failed verifications from one address is one audit row
#    with a count per window;
#  - DROP DATABASE, and CREATE DATABASE from a template where apikey runs,
#    work while the workers run: the worker steps aside;
#  - DROP EXTENSION stops the database's worker.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ApikeyTest;

my $node = apikey_node('databases', extension => 0, conf => q{
apikey.flush_interval = '200ms'
apikey.denied_audit_window = '1s'
log_statement = none
});

my $workers = q{
    SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_stat_activity
     WHERE backend_type = 'apikey worker'};
is($node->safe_psql('postgres', $workers), '', 'no worker while apikey is installed nowhere');
poll_ok($node, 'postgres', q{
    SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'apikey launcher'}, '1',
	'the launcher runs');

$node->safe_psql('postgres', 'CREATE DATABASE shop; CREATE DATABASE blog');
for my $db ('shop', 'blog')
{
	$node->safe_psql($db, q{
        CREATE EXTENSION apikey;
        CREATE TABLE t AS SELECT * FROM apikey.issue('owner');
        UPDATE apikey.keys SET daily_quota = 10;
    });
}
poll_ok($node, 'postgres', $workers, 'blog,shop', 'each database gets its worker within seconds');

# different traffic in each database
$node->safe_psql('shop', q{SELECT apikey.check(token) FROM t, generate_series(1, 3)});
$node->safe_psql('blog', q{SELECT apikey.check(token) FROM t, generate_series(1, 9)});
for my $case (['shop', 3], ['blog', 9])
{
	my ($db, $n) = @$case;
	poll_ok($node, $db, q{SELECT daily_usage FROM apikey.key_list}, $n,
		"$db: quota counts are its own ($n)");
	poll_ok($node, $db, q{SELECT day_used FROM apikey.quota_counters}, $n,
		"$db: and reach its quota_counters");
	poll_ok($node, $db, q{SELECT sum(requests) FROM apikey.usage_hourly}, $n,
		"$db: usage reaches its usage_hourly");
}
poll_ok($node, 'blog', q{
    SELECT string_agg(detail->>'percent', ',' ORDER BY (detail->>'percent')::int)
      FROM apikey.audit_log WHERE action = 'quota_alert' AND detail->>'period' = 'day'},
	'80', 'blog: its 80% quota alert reaches its audit_log');
is($node->safe_psql('shop', q{SELECT count(*) FROM apikey.audit_log WHERE action = 'quota_alert'}),
	'0', 'shop: no alert of blog\'s');

# a flood of made-up tokens from one address: one row with a count
$node->safe_psql('shop', q{
    SELECT count(*) FROM generate_series(1, 500) AS g,
           apikey.check('apk_' || md5(g::text), client_ip => '203.0.113.5')});
poll_ok($node, 'shop', q{
    SELECT count(*) || ' ' || sum((detail->>'count')::int)
      FROM apikey.audit_log WHERE action = 'denied' AND client_ip = '203.0.113.5'},
	'1 500', 'shop: 500 failures from one address are one audit row counting 500');

# database statements that need the database alone
$node->safe_psql('postgres', 'CREATE DATABASE shop_copy TEMPLATE shop');
pass('CREATE DATABASE from a database where apikey runs');
$node->safe_psql('postgres', 'DROP DATABASE blog');
pass('DROP DATABASE of a database where apikey runs');
poll_ok($node, 'postgres', $workers, 'shop', 'shop\'s worker is back; blog\'s is gone');

$node->safe_psql('shop', 'DROP EXTENSION apikey');
poll_ok($node, 'postgres', $workers, '', 'DROP EXTENSION stops the worker');

$node->stop;
done_testing();
