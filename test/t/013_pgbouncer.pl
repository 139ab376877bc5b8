# A thousand connections through PgBouncer in transaction pooling mode
# (doc/postgrest.md, "Connection poolers"): 1,000 pgbench clients share 40
# server connections, each transaction of each client landing on whichever
# server connection is free, and run check() and check_request() over 2,000
# keys.  Nothing of one transaction may reach the next on the same server
# connection:
#
# - identity: a transaction that did not run check_request() has no
#   verified key (current_key_id() is NULL, current_owner() is the role's
#   own name: these sessions are no PostgREST authenticator), whoever ran
#   on that connection before; one that did has its own key, never another
#   client's;
# - results: check() answers for the key it was given, never another's;
# - slots: every concurrency and in-flight slot is released at transaction
#   end (after the run, every key's only slot and the whole server's
#   in-flight limit are free);
# - counts: the usage the worker writes equals, key by key, the requests
#   the transactions recorded as they committed.
#
# Skipped, with the reason, when PgBouncer is not installed (scripts/test.sh
# installs the Debian package pgbouncer when it can).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use ApikeyTest;

my $clients = 1000;
my $pool = 40;
my $per_client = 12;
my $keys = 1000;    # of each kind
my $inflight = $keys;

my ($pgbouncer) = grep { -x $_ } map { "$_/pgbouncer" }
  (split(/:/, $ENV{PATH}), '/usr/sbin', '/usr/bin');
plan skip_all => 'PgBouncer is not installed (Debian package pgbouncer)'
  unless $pgbouncer;

# 1,000 clients need more file descriptors than the usual 1,024
my $fds = $clients + $pool + 100;
my $hard = `sh -c 'ulimit -Hn'`;
chomp $hard;
plan skip_all => "the hard limit on open files ($hard) is below the $fds that $clients clients need"
  if $hard ne 'unlimited' && $hard < $fds;

my $node = apikey_node('pgbouncer', conf => qq{
max_connections = @{[ $pool + 20 ]}
apikey.database = 'postgres'
apikey.flush_interval = '200ms'
apikey.max_inflight = $inflight
});

# c keys: check(), one request at a time per key (max_concurrency 1);
# r keys: check_request(), no concurrency limit (a refusal there is an
# error, which would end the pgbench client).  Each key has its own owner.
$node->safe_psql('postgres', qq{
    CREATE SCHEMA t;
    CREATE TABLE t.keys AS
    SELECT k.g AS id, k.kind, i.key_id, i.token, k.owner,
           json_build_object('x-api-key', i.token)::text AS headers
      FROM (SELECT kind, g, kind || g AS owner FROM unnest('{c,r}'::text[]) AS kind,
                   generate_series(1, $keys) AS g) AS k
      JOIN apikey.issue_bulk((SELECT jsonb_agg(jsonb_build_object('owner', kind || g,
                                 'rate_limits', '[{"limit": 1000000, "period": 1}]'::jsonb)
                                 ORDER BY kind, g)
                                FROM unnest('{c,r}'::text[]) AS kind, generate_series(1, $keys) AS g))
           WITH ORDINALITY AS i(key_id, token, display_prefix, n)
        ON i.n = CASE k.kind WHEN 'c' THEN k.g ELSE $keys + k.g END;
    CREATE INDEX ON t.keys (kind, id);
    SELECT apikey.update(key_id, '{"max_concurrency": 1}') FROM t.keys WHERE kind = 'c';
    -- what each transaction saw, written in the same transaction
    CREATE TABLE t.log (
        script   text,
        key_id   uuid,
        allowed  boolean,
        code     text,
        own      boolean,   -- the answer is about the key it was given
        clean    boolean    -- nothing of another transaction was there
    );
});

my $dir = $node->basedir;
my $port = PostgreSQL::Test::Cluster::get_free_port();
PostgreSQL::Test::Utils::append_to_file("$dir/userlist.txt", qq{"postgres" ""\n});
PostgreSQL::Test::Utils::append_to_file("$dir/pgbouncer.ini", qq{
[databases]
postgres = host=@{[ $node->host ]} port=@{[ $node->port ]} dbname=postgres user=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
default_pool_size = $pool
max_client_conn = @{[ $clients + 50 ]}
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
});
my $bouncer = IPC::Run::start([ 'sh', '-c', "ulimit -n $fds && exec $pgbouncer $dir/pgbouncer.ini" ],
	'>', "$dir/pgbouncer.out", '2>&1');
END { $bouncer->kill_kill if $bouncer; }

ok(wait_until(sub {
	my ($out, $err);
	IPC::Run::run([ 'psql', '-X', '-At', '-h', '127.0.0.1', '-p', $port, '-U', 'postgres',
			'-c', 'SELECT 1', 'postgres' ], '>', \$out, '2>', \$err);
	return ($out // '') =~ /^1$/m;
}), 'pgbouncer accepts connections on 127.0.0.1');

# The three kinds of transaction, as pgbench scripts (simple protocol: the
# prepared statements of a client do not follow it from one server
# connection to the next).
my %script = (
	check => q{
\set k random(1, } . $keys . q{)
BEGIN;
INSERT INTO t.log
SELECT 'check', k.key_id, r.allowed, r.code, r.key_id = k.key_id AND r.owner = k.owner,
       apikey.current_key_id() IS NULL
  FROM t.keys AS k, apikey.check(k.token) AS r
 WHERE k.kind = 'c' AND k.id = :k;
COMMIT;
},
	check_request => q{
\set k random(1, } . $keys . q{)
BEGIN;
SELECT set_config('request.method', 'GET', true), set_config('request.path', '/items', true),
       set_config('request.headers', k.headers, true)
  FROM t.keys AS k WHERE k.kind = 'r' AND k.id = :k;
SELECT (apikey.current_key_id() IS NULL AND apikey.current_owner() = current_user)::int AS before_clean \gset
SELECT apikey.check_request();
INSERT INTO t.log
SELECT 'check_request', k.key_id, true, 'OK',
       apikey.current_key_id() = k.key_id AND apikey.current_owner() = k.owner, :before_clean = 1
  FROM t.keys AS k WHERE k.kind = 'r' AND k.id = :k;
COMMIT;
},
	none => q{
BEGIN;
SELECT set_config('request.method', 'GET', true), set_config('request.path', '/items', true),
       set_config('request.headers', '{}', true);
INSERT INTO t.log
SELECT 'none', NULL, NULL, NULL, NULL,
       apikey.current_key_id() IS NULL AND apikey.current_owner() = current_user;
COMMIT;
});
my @files;
for my $name (sort keys %script)
{
	PostgreSQL::Test::Utils::append_to_file("$dir/$name.sql", $script{$name});
	push @files, '-f', "$dir/$name.sql@" . ($name eq 'none' ? 2 : 4);
}

my ($out, $err);
my $ran = IPC::Run::run([ 'sh', '-c', "ulimit -n $fds && exec \"\$@\"", 'pgbench',
		'pgbench', '-n', '-c', $clients, '-j', '2', '-t', $per_client, @files,
		'-h', '127.0.0.1', '-p', $port, '-U', 'postgres', 'postgres' ],
	'>', \$out, '2>', \$err);
ok($ran, "pgbench: $clients clients through pgbouncer ran to the end") or diag($err);
my $total = $clients * $per_client;
like($out, qr/number of transactions actually processed: $total\/$total/,
	"all $total transactions committed");
is($node->safe_psql('postgres', 'SELECT count(*) FROM t.log'), $total,
	'each wrote its row');
cmp_ok($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
                                       WHERE backend_type = 'client backend'}),
	'<=', $pool + 1, "over at most $pool server connections (and this one)");

# ---- nothing crossed from one transaction to another ----
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT script, ',') FROM t.log}),
	'check,check_request,none', 'the three kinds of transaction ran');
is($node->safe_psql('postgres', q{SELECT count(*) FROM t.log WHERE clean IS NOT TRUE}), '0',
	'no transaction found a verified key or owner it had not verified itself');
is($node->safe_psql('postgres', q{SELECT count(*) FROM t.log WHERE script <> 'none' AND own IS NOT TRUE}),
	'0', 'every check() and check_request() answered for its own key: key id and owner');
is($node->safe_psql('postgres', q{
    SELECT count(*) FROM t.log WHERE script = 'check' AND NOT allowed AND code <> 'CONCURRENCY_LIMITED'}),
	'0', 'check() refused nothing but a key already in use by another transaction');

# ---- the usage written equals what the transactions recorded ----
poll_ok($node, 'postgres', q{
    SELECT count(*) FROM (SELECT key_id, count(*) AS requests, count(*) FILTER (WHERE allowed) AS allowed
                            FROM t.log WHERE key_id IS NOT NULL GROUP BY key_id) AS e
      FULL JOIN (SELECT key_id, sum(requests) AS requests, sum(allowed) AS allowed
                   FROM apikey.usage_hourly
                  WHERE key_id IN (SELECT key_id FROM t.keys)
                  GROUP BY key_id) AS u USING (key_id)
     WHERE (e.requests, e.allowed) IS DISTINCT FROM (u.requests, u.allowed)},
	'0', 'usage_hourly, key by key: the requests and admissions the transactions recorded');

# ---- every slot was released at transaction end ----
# In one transaction, each c key once: each holds its only concurrency slot
# and one of the server's $inflight in-flight slots, so all are admitted
# only if no slot of the run is still held; one more is one too many.
is($node->safe_psql('postgres', qq{
    BEGIN;
    SELECT string_agg(code || ': ' || n, ', ' ORDER BY code)
      FROM (SELECT r.code, count(*) AS n FROM t.keys AS k, apikey.check(k.token) AS r
             WHERE k.kind = 'c' GROUP BY r.code) AS codes;
    SELECT (apikey.check(token)).code FROM t.keys WHERE kind = 'r' AND id = 1;
    COMMIT;}),
	"OK: $keys\nOVERLOADED",
	"after the run every key's concurrency slot and all $inflight in-flight slots are free");

$bouncer->kill_kill;
undef $bouncer;
$node->stop;
done_testing();
