# Exactness under concurrency: 64 pgbench clients hammer one key whose
# refill is negligible (1 token per hour).  A bucket of burst B admits
# exactly B units -- never one more -- whatever the interleaving; with a
# cost c, floor(B/c) requests; with two limits, the smaller decides and the
# larger loses nothing to the refused requests.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ApikeyTest;

my $node = apikey_node('exact', conf => q{
max_connections = 100
log_statement = none
fsync = off
});
$node->safe_psql('postgres', q{
    CREATE TABLE tok (what text PRIMARY KEY, token text, key_id uuid);
    INSERT INTO tok
    SELECT 'single', token, key_id FROM apikey.issue('exact',
        rate_limits => '[{"name": "hour", "limit": 1, "period": "1 hour", "burst": 1000}]')
    UNION ALL
    SELECT 'costly', token, key_id FROM apikey.issue('exact',
        rate_limits => '[{"name": "hour", "limit": 1, "period": "1 hour", "burst": 1000}]')
    UNION ALL
    SELECT 'two', token, key_id FROM apikey.issue('exact',
        rate_limits => '[{"name": "big", "limit": 1, "period": "1 hour", "burst": 1000},
                         {"name": "small", "limit": 1, "period": "1 hour", "burst": 600}]');
    CREATE UNLOGGED TABLE admitted (what text, cost int);
});

# Runs 64 clients x 40 transactions of check(token, cost) on one key and
# records each admission; returns how many were admitted.
sub hammer
{
	my ($what, $cost) = @_;
	my $script = $node->basedir . "/hammer_$what.sql";
	PostgreSQL::Test::Utils::append_to_file($script, qq{
INSERT INTO admitted
SELECT '$what', $cost FROM tok, apikey.check(tok.token, cost => $cost) AS c
 WHERE tok.what = '$what' AND c.allowed;
});
	my ($out, $err);
	IPC::Run::run([ 'pgbench', '-n', '-c', '64', '-j', '4', '-t', '40', '-M', 'prepared',
			'-f', $script, '-h', $node->host, '-p', $node->port, 'postgres' ],
		'>', \$out, '2>', \$err)
	  or die "pgbench failed: $err";
	like($out, qr/number of transactions actually processed: 2560/, "$what: 2560 requests ran");
	return $node->safe_psql('postgres', "SELECT count(*) FROM admitted WHERE what = '$what'");
}

is(hammer('single', 1), '1000', 'burst 1000, 64 clients: exactly 1000 admitted');
is($node->safe_psql('postgres',
		q{SELECT c.remaining FROM tok, apikey.check(tok.token, cost => 0) c WHERE what = 'single'}),
	'0', 'and nothing is left');

is(hammer('costly', 7), '142', 'cost 7: exactly floor(1000 / 7) = 142 admitted');
is($node->safe_psql('postgres',
		q{SELECT c.remaining FROM tok, apikey.check(tok.token, cost => 0) c WHERE what = 'costly'}),
	'6', 'and 1000 - 7 * 142 = 6 left');

is(hammer('two', 1), '600', 'two limits: the smaller (600) decides');
my $live = $node->safe_psql('postgres',
	q{SELECT string_agg(format('%s=%s', l->>'name', l->>'remaining'), ' ')
        FROM apikey.introspect((SELECT prefix FROM apikey.keys
                                 WHERE id = (SELECT key_id FROM tok WHERE what = 'two'))) j,
             jsonb_array_elements(j->'live_limits') l});
is($live, 'big=400 small=0',
	'all or nothing: "big" lost exactly the 600 admitted, nothing to the 1960 refused');

# every refused request was counted
my (undef, $limited) = split /\|/, $node->safe_psql('postgres',
	q{SELECT requests_total, rate_limited_total FROM apikey.stats});
is($limited, 3 * 2560 - (1000 + 142 + 600), 'every refusal is counted in apikey.stats');

$node->stop;
done_testing();
