# The examples of doc/apps.md, run as written: the node-postgres
# middleware (doc/examples/node) and the psycopg2 one (doc/examples/python)
# in front of a server, called over HTTP.  Each checks the key, sends
# apikey's status and headers, and records the real status and latency
# with finish().  Skipped only where the runtime itself is missing.
use strict;
use warnings;
use File::Basename;
use File::Spec;
use HTTP::Tiny;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ApikeyTest;

my $examples = File::Spec->rel2abs(dirname(__FILE__) . '/../../doc/examples');

my $node = apikey_node('apps', conf => q{
apikey.flush_interval = 100ms
apikey.denied_audit_window = '1s'
log_statement = none
});
$node->safe_psql('postgres', q{
    CREATE TABLE tok (who text PRIMARY KEY, token text, key_id uuid);
    INSERT INTO tok SELECT 'node', token, key_id
      FROM apikey.issue('example-node', scopes => '{read}');
    INSERT INTO tok SELECT 'python', token, key_id
      FROM apikey.issue('example-python', scopes => '{read}');
    INSERT INTO apikey.scope_map (method, path_pattern, scope, public)
    VALUES ('GET', '/public%', NULL, true), ('*', '/%', 'read', false);
});

my %env = (
	PGHOST => $node->host,
	PGPORT => $node->port,
	PGDATABASE => 'postgres',
	PGUSER => scalar(getpwuid($<)),
);

sub have
{
	my ($program) = @_;
	return system("command -v $program >/dev/null 2>&1") == 0;
}

# Starts an example server; returns its handle and port once it listens.
sub start_server
{
	my ($cmd, $extra_env) = @_;
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my ($out, $err) = ('', '');
	local %ENV = (%ENV, %env, %$extra_env, PORT => $port);
	my $h = IPC::Run::start($cmd, '>', \$out, '2>', \$err);
	wait_until(sub { $h->pump_nb; $out =~ /listening on/ || !$h->pumpable })
	  or diag("server did not start: $err");
	return ($h, $port, \$err);
}

my $ran = 0;

# The requests both examples answer, and what apikey recorded of them.
sub exercise
{
	my ($who, $port) = @_;
	my $token = $node->safe_psql('postgres', "SELECT token FROM tok WHERE who = '$who'");
	my $http = HTTP::Tiny->new(timeout => 20);
	my $url = "http://127.0.0.1:$port";

	$ran++;
	my $r = $http->get("$url/hello", { headers => { 'x-api-key' => $token } });
	is($r->{status}, 200, "$who: a valid key is admitted");
	like($r->{content}, qr/hello example-$who/, "$who: the handler sees the key's owner");
	like($r->{headers}{'ratelimit-policy'} // '', qr/"default";q=100;w=10/,
		"$who: the rate-limit headers are sent");

	$r = $http->get("$url/hello");
	is($r->{status}, 401, "$who: no key, 401");
	like($r->{content}, qr/MALFORMED/, "$who: with apikey's code");

	$r = $http->get("$url/public/status");
	is($r->{status}, 200, "$who: a public endpoint needs no key");
	like($r->{content}, qr/hello anonymous/, "$who: and has no owner");

	$r = $http->get("$url/boom", { headers => { 'x-api-key' => $token } });
	is($r->{status}, 500, "$who: the handler's own error");

	# finish() recorded the real statuses: two requests of the key, one
	# answered 500 (allowed by apikey, so counted as allowed), with latencies
	poll_ok($node, 'postgres', qq{
        SELECT requests = 2 AND allowed = 2 AND avg_ms > 0
               AND endpoints ? '/hello' AND endpoints ? '/boom'
          FROM apikey.usage_hourly
         WHERE key_id = (SELECT key_id FROM tok WHERE who = '$who')},
		't', "$who: usage has both requests, their endpoints and latencies");
	return;
}

SKIP:
{
	skip 'skipped: node is not installed', 10 unless have('node') && have('npm');
	my $modules = PostgreSQL::Test::Utils::tempdir('npm');
	my ($npm_out, $npm_err);
	# the registry is the network's: a bounded wait, not a hung suite
	my $ok = eval {
		IPC::Run::run([ 'npm', 'install', '--no-audit', '--no-fund', '--silent',
				'--prefix', $modules, 'pg' ], '>', \$npm_out, '2>', \$npm_err,
			IPC::Run::timeout(180));
	};
	ok($ok, 'npm installs pg') or diag($@ || $npm_err);
	my ($h, $port) = start_server([ 'node', "$examples/node/server.js" ],
		{ NODE_PATH => "$modules/node_modules" });
	exercise('node', $port);
	$h->kill_kill;
}

SKIP:
{
	skip 'skipped: python3 with psycopg2 is not installed', 9
	  unless have('python3') && system('python3 -c "import psycopg2" 2>/dev/null') == 0;
	my ($h, $port) = start_server([ 'python3', "$examples/python/server.py" ],
		{ PYTHONPATH => "$examples/python" });
	exercise('python', $port);
	$h->kill_kill;
}

# the refusals are access events with the status the client got; those of
# one window, address and code are one row with their count
poll_ok($node, 'postgres', qq{
    SELECT coalesce(sum((detail->>'count')::int), 0) = $ran FROM apikey.audit_log
     WHERE action = 'denied' AND status = 401 AND request_path = '/hello'
       AND request_method = 'GET'},
	't', 'each refusal is counted in an access event with its method, path and status')
  if $ran > 0;

$node->stop;
done_testing();
