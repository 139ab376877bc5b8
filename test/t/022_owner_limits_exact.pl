# Exactness of what keys share, under concurrency: 64 pgbench clients
# hammer four keys of one owner.  The owner's bucket and quota admit
# exactly their size across the keys -- never one more -- each key's own
# bucket is never exceeded, and no token is lost to the requests the
# owner refused.  The same for a key's max_uses, and a shadow limit counts
# exactly the requests it would have refused.  Refill is negligible (1 per
# hour); no test asserts a timing.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ApikeyTest;

my $node = apikey_node('owners_exact', conf => q{
max_connections = 100
log_statement = none
fsync = off
});
$node->safe_psql('postgres', q{
    CREATE TABLE tok (what text, n int, token text, key_id uuid);
    -- four keys of "bucket": 300 each, the owner 700
    INSERT INTO tok SELECT 'bucket', g, i.token, i.key_id
      FROM generate_series(1, 4) AS g,
           LATERAL apikey.issue('exact-bucket', name => g::text,
               rate_limits => '[{"name": "hour", "limit": 1, "period": "1 hour", "burst": 300}]') AS i;
    SELECT apikey.set_owner_limits('exact-bucket',
        '{"rate_limits": [{"name": "hour", "limit": 1, "period": "1 hour", "burst": 700}]}');
    -- four keys of "quota": a daily quota of 450 for all of them
    INSERT INTO tok SELECT 'quota', g, i.token, i.key_id
      FROM generate_series(1, 4) AS g,
           LATERAL apikey.issue('exact-quota', name => g::text, rate_limits => '[]') AS i;
    SELECT apikey.set_owner_limits('exact-quota', '{"daily_quota": 450}');
    -- one key of 500 uses, and one with a shadow limit of 100
    INSERT INTO tok SELECT 'uses', g, i.token, i.key_id
      FROM generate_series(1, 4) AS g,
           LATERAL apikey.issue('exact-uses', rate_limits => '[]', max_uses => 500) AS i
     WHERE g = 1;
    INSERT INTO tok SELECT 'shadow', g, i.token, i.key_id
      FROM generate_series(1, 4) AS g,
           LATERAL apikey.issue('exact-shadow',
               rate_limits => '[{"name": "trial", "limit": 1, "period": "1 hour", "burst": 100, "shadow": true}]') AS i
     WHERE g = 1;
    CREATE UNLOGGED TABLE admitted (what text, n int);
});

# Runs 64 clients x 40 transactions of check() on one of the keys of a
# kind, picked at random, and records each admission; returns how many
# were admitted.
sub hammer
{
	my ($what, $keys) = @_;
	my $script = $node->basedir . "/hammer_$what.sql";
	PostgreSQL::Test::Utils::append_to_file($script, qq{
\\set n random(1, $keys)
INSERT INTO admitted
SELECT '$what', tok.n FROM tok, apikey.check(tok.token) AS c
 WHERE tok.what = '$what' AND tok.n = :n AND c.allowed;
});
	my ($out, $err);
	IPC::Run::run([ 'pgbench', '-n', '-c', '64', '-j', '4', '-t', '40', '-M', 'prepared',
			'-f', $script, '-h', $node->host, '-p', $node->port, 'postgres' ],
		'>', \$out, '2>', \$err)
	  or die "pgbench failed: $err";
	like($out, qr/number of transactions actually processed: 2560/, "$what: 2560 requests ran");
	return $node->safe_psql('postgres', "SELECT count(*) FROM admitted WHERE what = '$what'");
}

is(hammer('bucket', 4), '700', "owner bucket of 700 over four keys of 300: exactly 700 admitted");
is($node->safe_psql('postgres', q{
    SELECT bool_and(c <= 300) FROM (SELECT count(*) AS c FROM admitted
                                     WHERE what = 'bucket' GROUP BY n) AS x}),
	't', 'no key went past its own 300');
# every key's bucket lost exactly its admissions: nothing to the refusals
is($node->safe_psql('postgres', q{
    SELECT bool_and(l.remaining = 300 - coalesce(a.c, 0))
      FROM tok
      LEFT JOIN (SELECT n, count(*) AS c FROM admitted WHERE what = 'bucket' GROUP BY n) AS a
             ON a.n = tok.n,
           LATERAL apikey.limits(tok.token) AS l
     WHERE tok.what = 'bucket' AND l.applies_to = 'key'}),
	't', "the owner's refusals took nothing from the keys' buckets");

is(hammer('quota', 4), '450', 'owner daily quota of 450 over four keys: exactly 450 admitted');
is($node->safe_psql('postgres', q{
    SELECT l.remaining FROM tok, apikey.limits(tok.token) AS l
     WHERE tok.what = 'quota' AND tok.n = 1 AND l.kind = 'quota'}),
	'0', 'and the quota is spent');

is(hammer('uses', 1), '500', 'max_uses of 500: exactly 500 admitted');

my $before = $node->safe_psql('postgres', 'SELECT shadow_limited_total FROM apikey.stats');
is(hammer('shadow', 1), '2560', 'a shadow limit refuses nothing');
is($node->safe_psql('postgres', 'SELECT shadow_limited_total FROM apikey.stats') - $before,
	2560 - 100, 'and counts exactly the 2460 requests it would have refused');

# The owner's quota counts reach apikey.quota_counters, where a crash
# finds them: after an immediate stop, the quota is still spent.
poll_ok($node, 'postgres', q{
    SELECT day_used = 450 FROM apikey.quota_counters
     WHERE subject = (SELECT id FROM apikey.owner_limits WHERE owner = 'exact-quota')},
	't', "the worker wrote the owner's quota count");
poll_ok($node, 'postgres', q{
    SELECT count(*) = 1 FROM apikey.quota_counters WHERE day_used = 500
       AND day = '9999-12-31'},
	't', "and the key's uses");
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', q{
    SELECT (apikey.check(token)).code FROM tok WHERE what = 'quota' AND n = 3}),
	'QUOTA_EXCEEDED', "after a crash the owner's quota is still spent");
is($node->safe_psql('postgres', q{
    SELECT (apikey.check(token)).code FROM tok WHERE what = 'uses'}),
	'USAGE_EXCEEDED', "and the key's uses");

$node->stop;
done_testing();
