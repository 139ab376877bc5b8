# pg_apikey top (doc/dashboards.md): --once prints one frame with this
# hour's counts as the worker wrote them, the keys by requests and by
# refusals, owners, quota burn and the worker; it fits narrow and short
# terminals (lines cut, columns dropped, never wrapped); it detects the
# parts of apikey that come later (apikey.blocks, stats by bucket class,
# bucket_use); an owner sees its own keys and is told so; no output holds
# a token or a control character from the database; and on a terminal it
# draws on the alternate screen and gives the terminal back on q and on a
# signal.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use FindBin;
use Time::HiRes qw(usleep);
use ApikeyTest;

my $node = apikey_node('top', conf => q{
apikey.denied_audit_window = '1s'
apikey.flush_interval = '200ms'
});
$node->safe_psql('postgres', q{
    CREATE ROLE alice LOGIN;
    CREATE ROLE watcher LOGIN IN ROLE apikey_admin;
});

# usage of "this hour": keep clear of the turn of an hour
wait_until(sub {
	$node->safe_psql('postgres',
		q{SELECT extract(minute FROM now() AT TIME ZONE 'UTC') < 59}) eq 't';
});
my $sample = slurp_file("$FindBin::RealBin/../dashboards/sample.sql");
$node->safe_psql('postgres', $sample);
# the live part: 5 keys x 20 checks, 12 of a rate-limited key (7 refused),
# 12 of a revoked one; the worker writes them
poll_ok($node, 'postgres', q{SELECT sum(requests), sum(allowed), sum(rate_limited), sum(denied_auth)
             FROM apikey.usage_hourly WHERE hour = date_trunc('hour', now(), 'UTC')},
	'124|105|7|12', 'the sample\'s live traffic reached usage_hourly');
poll_ok($node, 'postgres', q{SELECT sum((detail->>'count')::int) FROM apikey.audit_log
             WHERE action = 'denied' AND at > now() - interval '1 minute'},
	'18', 'and its failed verifications audit_log');

my %prefix = split /[|\n]/, $node->safe_psql('postgres',
	q{SELECT s.what, k.prefix FROM sample_tokens s JOIN apikey.key_list k ON k.id = s.key_id});
my @tokens = split /\n/, $node->safe_psql('postgres', 'SELECT token FROM sample_tokens');
is(scalar(@tokens), 10, 'the sample issued 10 keys');

$ENV{PGHOST} = $node->host;
$ENV{PGPORT} = $node->port;
$ENV{PGDATABASE} = 'postgres';
my @outputs;    # everything top printed, to look for tokens in

sub top
{
	my ($user, %env) = @_;
	my ($out, $err) = ('', '');
	local @ENV{ keys %env } = values %env;
	IPC::Run::run([ 'pg_apikey', '-U', $user, 'top', '--once', '--interval', '0.2' ],
		'<', \'', '>', \$out, '2>', \$err);
	push @outputs, $out, $err;
	return ($? >> 8, $out, $err);
}

sub longest { my $m = 0; $m = length > $m ? length : $m for split /\n/, shift; return $m }

# ---- help ----
my ($help) = ('');
IPC::Run::run([ 'pg_apikey', '--help' ], '>', \$help);
like($help, qr/^  top +a live view.*\n  report +a usage report/m, 'pg_apikey --help lists top and report');
for my $command ('top', 'report')
{
	IPC::Run::run([ 'pg_apikey', $command, '--help' ], '>', \$help);
	ok($? == 0 && $help =~ /^Usage:\n  pg_apikey .*\b$command\b/, "$command --help");
}
IPC::Run::run([ 'pg_apikey', 'top', '--interval', '0' ], '<', \'', '>', \$help, '2>', \my $complaint);
ok($? >> 8 == 1 && $complaint =~ /invalid --interval "0"/, 'top refuses a bad --interval');

# ---- an admin, 100 columns ----
my ($rc, $out, $err) = top('watcher', COLUMNS => 100);
is($rc, 0, 'top --once exits 0');
is($err, '', 'and says nothing on stderr');
like($out, qr/^apikey top  watcher\@postgres  admin view  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/m,
	'a header: who, where, an admin view, when');
like($out, qr/^requests\/s  verified [\d.]+  admitted [\d.]+  refused [\d.]+  \(apikey\.stats, last [\d.]+s\)$/m,
	'rates from two samples of apikey.stats');
like($out, qr/^refused\/s   RATE_LIMITED [\d.]+  QUOTA_EXCEEDED [\d.]+  OVERLOADED [\d.]+  BLOCKED [\d.]+  401\/403 [\d.]+$/m,
	'refusals per second by code');
like($out, qr/^denied\/min  (?=.*REVOKED 12)(?=.*MALFORMED 6)/m, 'failed verifications of the last minute, by code');
like($out, qr/^this hour   requests 124  allowed 105  rate_limited 7  quota_exceeded 0  denied_auth 12$/m,
	'this hour\'s counts from usage_hourly');
like($out, qr/^worker      pid \d+ \(its last flush is shown to members of pg_read_all_stats\)$/m,
	'without pg_read_all_stats, the worker is there but not its timings');
like($out, qr/^Keys by requests, this hour\nprefix +requests +owner +req\/s +refused +name$/m,
	'keys by requests');
like($out, qr/^\Q$prefix{orders}\E +20 +acme +[\d.]+ +0 +orders service$/m, 'with their counts this hour');
like($out, qr/^Keys by refusals, this hour\nprefix +refused .*\n\Q$prefix{legacy}\E +12 +initech +0 +0 +12 +legacy\n\Q$prefix{script}\E +7 +alice +7 +0 +0 /m,
	'keys by refusals, with the counts of each kind');
like($out, qr/^Owners by requests, this hour\nowner +requests +refused +keys +refused%\nacme +40 +0 +2 +0\.0$/m,
	'owners');
like($out, qr/^Owners by refusals, this hour\nowner +refused +rate_limited +quota_exceeded +denied_auth\ninitech +12 +0 +0 +12\nalice +7 +7 +0 +0$/m,
	'owners by refusals');
like($out, qr/^Quota burn: keys nearest their quota\nprefix +month +today +owner +month used +today used +name$/m,
	'quota burn');
like($out, qr/^\Q$prefix{laptop}\E +- +\d+\.\d% +alice +- +\d+\/100 +laptop$/m,
	'a key\'s use of its quota today, in per cent and in units');
like($out, qr/^Refused addresses, last 5 minutes \(audit_log\)\naddress .*\n203\.0\.113\.8 +12 +1 +REVOKED$/m,
	'refused addresses');
ok(longest($out) <= 100, 'no line is wider than COLUMNS');
unlike($out, qr/[\x00-\x09\x0b-\x1f\x7f]/, 'no control character reaches the terminal');
like($out, qr/\Q$prefix{script}\E .*script\?\[31m/, 'a key name\'s escape sequence is shown, not sent');

# ---- a superuser sees the worker's timings ----
($rc, $out) = top('postgres');
like($out, qr/^worker      (?:last (?:flush|task "[a-z_ ]+") ended|running "[a-z_ ]+" for) [\d.]+s(?: ago)?  flushes every 200ms$/m,
	'with pg_read_all_stats: when the worker last flushed');

# ---- what this version of apikey lacks, and what a later one adds ----
my $has = sub {
	$node->safe_psql('postgres', "SELECT to_regclass('apikey.$_[0]') IS NOT NULL") eq 't';
};
$node->safe_psql('postgres', q{SELECT apikey.block('198.51.100.23', 'guessing', '10 minutes')});
($rc, $out) = top('watcher', COLUMNS => 200);
like($out, qr/^Blocked addresses \(apikey\.blocks\)\nkind .*\nblock +198\.51\.100\.23\/32 /m,
	'apikey.blocks is listed');
unlike($out, qr/^blocked     not available/m, 'and not called missing');

# ---- narrow and short terminals ----
($rc, $out) = top('watcher', COLUMNS => 40);
ok($rc == 0 && longest($out) <= 40, 'COLUMNS=40: no line is wider');
like($out, qr/^Keys by requests, this hour\nprefix +requests +owner$/m,
	'the traffic table keeps its first columns');
unlike($out, qr/^prefix .*name$/m, 'and drops the last');
like($out, qr/^refused\/s   RATE_LIMITED [\d.]+\n {12}QUOTA_EXCEEDED [\d.]+\n {12}OVERLOADED [\d.]+  BLOCKED/m,
	'summary items move to the next line whole');
($rc, $out) = top('watcher', COLUMNS => 20);
ok($rc == 0 && longest($out) <= 20, 'COLUMNS=20: still no line is wider');
($rc, $out) = top('watcher', LINES => 24);
my $lines = () = $out =~ /\n/g;
ok($lines <= 24, "LINES=24: the frame fits ($lines lines)");
like($out, qr/^\(more below: a taller terminal shows it\)$/m, 'and says there is more');

# ---- an owner ----
($rc, $out, $err) = top('alice', COLUMNS => 200);
is($rc, 0, 'an owner runs top');
like($out, qr/^apikey top  alice\@postgres  owner view/m, 'an owner view');
like($out, qr/^ +not an admin: row-level security shows the keys of role "alice" only, and their usage$/m,
	'which says what row-level security shows');
like($out, qr/^requests\/s  not shown: apikey\.stats is for apikey_admin \(this hour's average below\)$/m,
	'no live counters, and why');
like($out, qr/^this hour   requests 32  allowed 25  rate_limited 7  quota_exceeded 0  denied_auth 0  /m,
	'this hour: its own keys only');
like($out, qr/^Blocked addresses \(apikey\.blocks\)\n  \(none\)$/m,
	'apikey.blocks: an owner sees its own blocks only (none)');
my @seen = sort grep { $out =~ /\Q$prefix{$_}\E/ } keys %prefix;
is_deeply(\@seen, [ 'laptop', 'script' ], 'only its own keys');

# ---- stats by bucket class and bucket_use, as a later apikey has them ----
my $class_sql = q{SELECT count(*) FROM information_schema.columns
                   WHERE table_schema = 'apikey' AND table_name = 'stats' AND column_name = 'key_buckets'};
if ($node->safe_psql('postgres', $class_sql) eq '0')
{
	my $columns = $node->safe_psql('postgres', q{
        SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
         WHERE attrelid = 'apikey.stats'::regclass AND attnum > 0});
	$node->safe_psql('postgres', qq{
        CREATE OR REPLACE VIEW apikey.stats WITH (security_invoker = true) AS
        SELECT $columns, 7::bigint AS key_buckets, 2::bigint AS address_buckets,
               0::bigint AS named_buckets, 1::bigint AS concurrency_slots,
               4::bigint AS quota_counters, 0::bigint AS cooldowns,
               3145728::bigint AS shared_memory_used, 16777216::bigint AS shared_memory_budget
          FROM apikey._stats()});
}
if (!$has->('bucket_use'))
{
	$node->safe_psql('postgres', q{
        CREATE VIEW apikey.bucket_use AS
        SELECT 'key'::text AS class, 'alice'::name AS role, 'postgres'::name AS database, 5::bigint AS buckets;
        GRANT SELECT ON apikey.bucket_use TO apikey_admin});
}
($rc, $out) = top('watcher', COLUMNS => 200);
like($out, qr/^buckets     in use \d+ of \d+ \([\d.]+%\)  key \d+  address \d+  named \d+  concurrency \d+  quota \d+  cooldown \d+  shared memory [\d.]+ MB of [\d.]+ MB$/m,
	'stats by bucket class, when it has them');
like($out, qr/^Buckets by class and role \(apikey\.bucket_use\)\nclass +buckets +role +database\nkey /m,
	'and bucket_use');

# ---- on a terminal: the alternate screen, q, and a signal ----
SKIP:
{
	skip 'IO::Pty is not installed', 5 unless eval { require IO::Pty; 1 };
	for my $how ('q', 'TERM')
	{
		my ($pty_out, $in) = ('', '');
		my $h = IPC::Run::start([ 'pg_apikey', '-U', 'watcher', 'top', '--interval', '0.3' ],
			'<pty<', \$in, '>pty>', \$pty_out);
		my $drawn = wait_until(sub { $h->pump_nb; $pty_out =~ /Keys by requests/ });
		ok($drawn, "on a terminal, top draws frames ($how)") if $how eq 'q';
		if ($how eq 'q') { $in .= 'q'; }
		else { $h->signal('TERM'); }
		wait_until(sub { $h->pump_nb; !$h->pumpable });
		$h->finish;
		push @outputs, $pty_out;
		my $result = $how eq 'q' ? ($h->result == 0) : (($h->full_result & 127) == 15);
		ok($result, $how eq 'q' ? 'q quits, exit status 0' : 'SIGTERM ends it as SIGTERM does');
		like($pty_out, qr/\e\[\?1049l[^\e]*$/, "the alternate screen is left last ($how)")
		  if $how eq 'TERM';
		like($pty_out, qr/\e\[\?25h\e\[\?1049l/, "the cursor is shown again ($how)") if $how eq 'q';
	}
}

# ---- no token, ever ----
my $all = join '', @outputs;
is(scalar(grep { index($all, $_) >= 0 } @tokens), 0, 'no token appears in any output');
unlike($all, qr/ak_live_[0-9A-Za-z]{38}/, 'nothing shaped like a token either');

done_testing();
