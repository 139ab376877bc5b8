# ALTER EXTENSION apikey UPDATE from 0.1.0, on data that 0.1.0 wrote.
#
# test/upgrade/0.1.0-data.sql is what pg_dump --data-only wrote from a
# database served by apikey 0.1.0 (built from its release commit): keys
# with quotas used today, an allowlisted key, a revoked one, a rotation in
# its grace, audit rows, usage rows, and the tokens in public.upgrade_tokens.
# test/upgrade/0.1.0-buckets.stat is the bucket file 0.1.0 wrote as its
# server stopped.  The server here runs this version's library, as after a
# package upgrade and a restart:
#   - before the update, the worker waits and says so, and verify() says
#     to run the update instead of answering from tables of another shape;
#   - the old bucket file is set aside with a LOG line, not misread;
#   - after the update, every token verifies as it did, no row of the
#     keys, audit or usage tables is lost or changed, each lineage's quota
#     counts go on from what 0.1.0 had counted (a quota of 10 with 3 used
#     admits 7 more), and the worker serves the database again;
#   - the updated extension is the one CREATE EXTENSION makes, object for
#     object, with the differences an update cannot avoid named below.
use strict;
use warnings;
use FindBin;
use File::Copy;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use ApikeyTest;

my $fixtures = "$FindBin::RealBin/../upgrade";

# 0.1.0 hashed these tokens without a pepper file: neither does this server
my $node = apikey_node('upgrade', extension => 0, conf => q{
apikey.flush_interval = '200ms'
apikey.usage_flush_interval = '200ms'
log_statement = none
});

$node->safe_psql('postgres', q{
    CREATE EXTENSION apikey VERSION '0.1.0';
    CREATE TABLE public.upgrade_tokens (what text PRIMARY KEY, key_id uuid, token text);
});
my ($rc, $out, $err) = $node->psql('postgres', slurp_file("$fixtures/0.1.0-data.sql"),
	on_error_stop => 1);
is($rc, 0, "0.1.0's data loads into 0.1.0's schema") or diag $err;

# The data was written on the day the fixture was made: its quota counts
# and the rotation's grace are moved to today, as if written this morning.
$node->safe_psql('postgres', q{
    UPDATE apikey.keys
       SET usage_day = current_date,
           usage_month = date_trunc('month', current_date)::date
     WHERE usage_day IS NOT NULL;
    UPDATE apikey.keys SET expires_at = now() + interval '1 day'
     WHERE id = (SELECT key_id FROM upgrade_tokens WHERE what = 'rotated_old');
});

# ---- before the update: the new library on the old objects ----

# The server restarts with the new library, as after a package upgrade;
# 0.1.0's bucket file is there, as its server left it at the last clean stop.
$node->stop;
copy("$fixtures/0.1.0-buckets.stat", $node->data_dir . '/pg_stat/apikey_buckets.stat')
  or die "copy: $!";
my $log_offset = -s $node->logfile;
$node->start;
ok($node->wait_for_log(
		qr/ignoring file "pg_stat\/apikey_buckets.stat" written by apikey 0.1.0/, $log_offset),
	"0.1.0's bucket file is set aside at start, with a LOG line");

ok($node->wait_for_log(qr/apikey worker waits for ALTER EXTENSION apikey UPDATE in database "postgres"/, $log_offset),
	'the worker waits for the update and says so');
($rc, $out, $err) = $node->psql('postgres',
	q{SELECT (apikey.verify(token)).code FROM upgrade_tokens WHERE what = 'quota'});
like($err, qr/HINT:  Run ALTER EXTENSION apikey UPDATE/,
	'verify() on the old tables asks for the update');
unlike($err, qr/ak_live_/, '... and does not show the token');

# ---- what must survive ----

my $common_key_columns = join ', ', qw(id prefix key_hash owner org name scopes tier
  rate_limits daily_quota monthly_quota max_concurrency allowed_ips metadata
  created_at expires_at revoked_at revoke_reason rotated_from rotated_to jwt_role);
my $usage_columns = join ', ', qw(key_id hour requests allowed rate_limited
  quota_exceeded denied_auth cost_units avg_ms p95_ms p99_ms endpoints latency_hist);
my %before = (
	keys => $node->safe_psql('postgres',
		"SELECT $common_key_columns FROM apikey.keys ORDER BY id"),
	audit => $node->safe_psql('postgres', 'SELECT * FROM apikey.audit_log ORDER BY id'),
	usage => $node->safe_psql('postgres',
		"SELECT $usage_columns FROM apikey.usage_hourly ORDER BY key_id, hour"));
my $lineage_use = $node->safe_psql('postgres', q{
    SELECT string_agg(u.what || '=' || coalesce(k.daily_usage, 0), ' ' ORDER BY u.what)
      FROM upgrade_tokens u JOIN apikey.keys k ON k.id = u.key_id});
is($lineage_use,
	'gold=1 jwt=0 quota=3 revoked=0 rotated_new=1 rotated_old=1',
	"0.1.0 counted today's requests per key");

# ---- the update ----

$node->safe_psql('postgres', 'ALTER EXTENSION apikey UPDATE');
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'apikey'}),
	'0.2.0', 'ALTER EXTENSION apikey UPDATE reaches 0.2.0');

is($node->safe_psql('postgres',
		"SELECT $common_key_columns FROM apikey.keys ORDER BY id"),
	$before{keys}, 'keys: every row and column of 0.1.0 as it was');
is($node->safe_psql('postgres',
		'SELECT id, at, action, key_id, owner, actor, client_ip, request_method, '
		  . 'request_path, status, detail FROM apikey.audit_log ORDER BY id'),
	$before{audit}, 'audit_log: every row as it was');
is($node->safe_psql('postgres',
		"SELECT $usage_columns FROM apikey.usage_hours ORDER BY key_id, hour"),
	$before{usage}, 'usage_hourly became usage_hours with every row');
is($node->safe_psql('postgres', q{
    SELECT string_agg(u.what || ':' || (k.lineage = coalesce(o.key_id, u.key_id)), ' ' ORDER BY u.what)
      FROM upgrade_tokens u
      JOIN apikey.keys k ON k.id = u.key_id
      LEFT JOIN upgrade_tokens o ON o.what = 'rotated_old' AND u.what = 'rotated_new'}),
	'gold:true jwt:true quota:true revoked:true rotated_new:true rotated_old:true',
	'each key belongs to its lineage: a rotated key to the key it replaced');

is($node->safe_psql('postgres',
		q{SELECT string_agg(what || '=' || (apikey.verify(token)).code, ' ' ORDER BY what) FROM upgrade_tokens}),
	'gold=IP_NOT_ALLOWED jwt=VALID quota=VALID revoked=REVOKED rotated_new=VALID rotated_old=VALID',
	'every token of 0.1.0 verifies as it did');

is($node->safe_psql('postgres', q{
    SELECT string_agg(u.what || '=' || q.day_used || '/' || q.month_used, ' ' ORDER BY u.what)
      FROM upgrade_tokens u JOIN apikey.quota_counters q ON q.subject = u.key_id
     WHERE q.day = current_date}),
	'gold=1/1 quota=3/3 rotated_old=2/2',
	"today's counts of 0.1.0 are the lineages' quota counters");

is($node->safe_psql('postgres', q{
    SELECT string_agg((apikey.check(token)).code, ' ')
      FROM upgrade_tokens, generate_series(1, 8) WHERE what = 'quota'}),
	'OK OK OK OK OK OK OK QUOTA_EXCEEDED',
	'a daily quota of 10 with 3 used by 0.1.0 admits 7 more');

poll_ok($node, 'postgres', q{
    SELECT q.day_used FROM apikey.quota_counters q JOIN upgrade_tokens u ON q.subject = u.key_id
     WHERE u.what = 'quota' AND q.day = current_date}, '10',
	'the worker serves the database again: the counter is written');
poll_ok($node, 'postgres', q{
    SELECT sum(h.requests) FILTER (WHERE h.hour = date_trunc('hour', now()))
      FROM apikey.usage_hours h JOIN upgrade_tokens u ON h.key_id = u.key_id
     WHERE u.what = 'quota'}, '8', '... and the usage of the hour');

# ---- the same extension as a new install ----

$node->safe_psql('postgres', 'DROP TABLE upgrade_tokens; CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION apikey');

# pg_dump -s --binary-upgrade describes every member and how it is made.
# What an update cannot make the same, and is left out:
#   - where the extension lives: 0.1.0's control file named its schema, so
#     an updated extension's namespace is apikey and the schema is not one
#     of its members (a new install creates the schema itself); the
#     schema's and the extension's own blocks are compared apart, below;
#   - relfrozenxid, a transaction id, and where a sequence stands;
#   - the traces of ALTER TABLE: dropped columns (0.1.0's usage counters
#     of keys), and the "missing values" of columns added with a default.
sub members
{
	my ($db) = @_;
	my ($dump, $stderr);
	IPC::Run::run([ 'pg_dump', '-s', '--binary-upgrade', '-d', $node->connstr($db) ],
		'>', \$dump, '2>', \$stderr)
	  or die "pg_dump $db: $stderr";
	my @blocks;
	foreach my $block (split /\n--\n-- Name: /, $dump)
	{
		next unless $block =~ /^[^\n]*; Type: /;
		next if $block =~ /^[^\n]*; Type: (EXTENSION|SCHEMA|COMMENT); Schema: -;/;
		next if $block =~ /^[^\n]*; Type: SEQUENCE SET;/;
		$block =~ s/^\\(un)?restrict .*\n//mg;
		$block =~ s/^SELECT pg_catalog\.binary_upgrade_set_next_.*\n//mg;
		$block =~ s/WHERE oid = '\d+'/WHERE oid = '<oid>'/g;
		$block =~ s/^SET relfrozenxid = '\d+', relminmxid = '\d+'$/SET relfrozenxid/mg;
		$block =~ s/^-- set missing value\.\n.*\n+//mg;
		# one column at a time up to 16, all together from 17
		$block =~ s/^-- For binary upgrade, recreate dropped columns?\.\n(?:.*\n)*?(?:ALTER TABLE ONLY \S+ DROP COLUMN .*\n)+\n*//mg;
		$block =~ s/^\s*"\.+pg\.dropped\.\d+\.+" INTEGER \/\* dummy \*\/,\n//mg;
		$block =~ s/\n+$//;
		push @blocks, $block;
	}
	return join "\n--\n", sort @blocks;
}

my $privileges = slurp_file("$FindBin::RealBin/../../scripts/schema-privileges.sql");

my $fresh = members('fresh');
my $updated = members('postgres');
like($fresh, qr/CREATE TABLE apikey\.keys/, 'the description has the tables');
ok($fresh eq $updated, 'the updated extension has the same members, made the same way, as a new one')
  or do
{
	my $dir = PostgreSQL::Test::Utils::tempdir;
	PostgreSQL::Test::Utils::append_to_file("$dir/fresh.sql", $fresh);
	PostgreSQL::Test::Utils::append_to_file("$dir/updated.sql", $updated);
	diag `diff -u $dir/fresh.sql $dir/updated.sql | head -80`;
};
is($node->safe_psql('postgres', $privileges), $node->safe_psql('fresh', $privileges),
	'... the same privileges, comments and dumped tables');

is($node->safe_psql('postgres', q{
    SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'apikey'}),
	'apikey', "the updated extension stays in the schema 0.1.0's control file named");

done_testing();
