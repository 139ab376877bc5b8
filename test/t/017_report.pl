# pg_apikey report --html (doc/dashboards.md): one HTML file that loads
# nothing (a Content-Security-Policy of default-src 'none', no script, no
# URL but the SVG namespace) with every section and chart; numbers that
# match the database; text from the database escaped; an owner's report
# holding its own keys and saying why; --owner and --since; no token in
# any output.  Then headless Chromium (Debian's, driven by playwright-core)
# opens it as a person would: no console error, no request, no sideways
# scrolling on a laptop screen, a print version, and a screenshot that is
# not blank -- with a control page that shows these checks can fail.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use FindBin;
use JSON::PP;
use ApikeyTest;

my $node = apikey_node('report', conf => q{
apikey.denied_audit_window = '1s'
apikey.flush_interval = '200ms'
});
$node->safe_psql('postgres', q{
    CREATE ROLE alice LOGIN;
    CREATE ROLE watcher LOGIN IN ROLE apikey_admin;
});
$node->safe_psql('postgres', slurp_file("$FindBin::RealBin/../dashboards/sample.sql"));
poll_ok($node, 'postgres', q{SELECT sum((detail->>'count')::int) FROM apikey.audit_log
             WHERE action = 'denied' AND at > now() - interval '1 minute'},
	'18', 'the sample\'s live traffic was written');
poll_ok($node, 'postgres', q{SELECT sum(requests) FROM apikey.usage_hourly
             WHERE hour >= date_trunc('hour', now(), 'UTC')}, '124', 'and its usage');

my %prefix = split /[|\n]/, $node->safe_psql('postgres',
	q{SELECT s.what, k.prefix FROM sample_tokens s JOIN apikey.key_list k ON k.id = s.key_id});
my @tokens = split /\n/, $node->safe_psql('postgres', 'SELECT token FROM sample_tokens');
my $tmp = PostgreSQL::Test::Utils::tempdir;
my @outputs;

$ENV{PGHOST} = $node->host;
$ENV{PGPORT} = $node->port;
$ENV{PGDATABASE} = 'postgres';

# runs pg_apikey report; returns (exit status, the page, stderr)
sub report
{
	my ($user, @args) = @_;
	my ($out, $err) = ('', '');
	my $file = "$tmp/report-" . scalar(@outputs) . '.html';
	IPC::Run::run([ 'pg_apikey', '-U', $user, 'report', '--html', $file, @args ],
		'<', \'', '>', \$out, '2>', \$err);
	my $rc = $? >> 8;
	my $page = -e $file ? slurp_file($file) : '';
	push @outputs, $out, $err, $page;
	return ($rc, $page, $err, $file);
}

sub count_of { my ($text, $re) = @_; my $n = () = $text =~ /$re/g; return $n }

# ---- an admin's report ----
my ($rc, $page, $err, $file) = report('watcher');
is($rc, 0, 'report --html exits 0');
is($err, '', 'and says nothing on stderr');
like($page, qr/^<!DOCTYPE html>\n<html lang="en">/, 'an HTML page');
like($page, qr/<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">/,
	'that may load nothing');
unlike($page, qr/<script|<link rel="stylesheet"|\bsrc=|\@import|url\(/i, 'no script, style sheet, font or image to fetch');
is_deeply([ sort { $a cmp $b } keys %{ { map { $_ => 1 } $page =~ m{(\w+://[^"'\s<>)]*)}g } } ],
	['http://www.w3.org/2000/svg'], 'no URL but the SVG namespace');
like($page, qr/\@media print\{/, 'print rules');
for my $id (qw(traffic latency quota endpoints refused inventory))
{
	like($page, qr/<section id="$id"/, "section $id");
}
is(count_of($page, qr/<svg /), 5, 'five charts');

# the numbers are the database's
my $total = $node->safe_psql('postgres', q{SELECT sum(requests) FROM apikey.usage_hourly
             WHERE hour >= date_trunc('hour', now() - interval '7 days', 'UTC')});
like($page, qr{<div class="card"><b>$total</b><span>requests</span>}, "total requests: $total");
is(count_of($page, qr/<g><title>\d{4}-\d\d-\d\d \d\d:00 UTC/), 7 * 24 + 1,
	'a bar an hour, for 7 days and this hour');
like($page, qr{<td class="k">\Q$prefix{legacy}\E</td><td>initech</td><td class="w">legacy</td><td class="n">0</td><td class="n">0</td><td class="n">12</td><td class="n">100.0</td><td class="w">REVOKED 252</td>},
	'a refused key with its counts and codes');
like($page, qr{<td>NOT_FOUND</td><td class="n">400</td><td class="n">1</td><td class="n">400</td>},
	'failed verifications that named no key');
like($page, qr{<td class="k">/orders</td><td class="n">\d+</td>}, 'top endpoints');
like($page, qr{<td class="k">\Q$prefix{laptop}\E</td><td>alice</td><td class="w">laptop</td><td>\d+ of 100</td>},
	'quota use today');
like($page, qr{<td class="k">\Q$prefix{legacy}\E</td>.*?<span class="tag revoked">revoked</span>.*?revoked \d{4}-\d\d-\d\d: leaked in a log}s,
	'the inventory: a revoked key, with why');
like($page, qr{<td class="k">\Q$prefix{mobile}\E</td>.*?<span class="tag rotating">rotating</span>.*?expiring soon; rotated to \Q$prefix{'mobile v2'}\E}s,
	'a rotating key, with its successor');
like($page, qr{<td class="k">\Q$prefix{partner}\E</td>.*?<td class="w">expiring soon</td>}s, 'a key expiring soon');

# text from the database is escaped
like($page, qr/batch &lt;import&gt; &amp; &quot;sync&quot;/, 'a key name with markup is escaped');
unlike($page, qr/<import>/, 'and never markup');
unlike($page, qr/[\x00-\x08\x0b\x0c\x0e-\x1f]/, 'no control character');

# ---- an owner's report ----
($rc, $page, $err) = report('alice');
is($rc, 0, 'an owner makes a report');
like($page, qr{<p class="notice">Made by role <b>alice</b>, not a member of apikey_admin: row-level security showed it only its own keys},
	'which says what row-level security showed');
my @seen = sort grep { index($page, $prefix{$_}) >= 0 } keys %prefix;
is_deeply(\@seen, [ 'laptop', 'script' ], 'its own keys only');
unlike($page, qr/<h3>Failed verifications that named no key/, 'and no table of failures that named no key');

# ---- --owner, --since, stdout ----
($rc, $page) = report('watcher', '--owner', 'acme');
like($page, qr{<p class="notice">Only the keys of owner <b>acme</b>\.</p>}, '--owner: says so');
@seen = sort grep { index($page, $prefix{$_}) >= 0 } keys %prefix;
is_deeply(\@seen, [ 'ci', 'mobile', 'mobile v2', 'orders' ], 'and shows that owner\'s keys');
($rc, $page) = report('watcher', '--since', '30d');
like($page, qr{<h2>Requests and refusals per day</h2>}, '--since 30d: a bar a day');
is(count_of($page, qr/<g><title>\d{4}-\d\d-\d\d 00:00 UTC/), 31, 'for 30 days and today');
my ($out, $stderr) = ('', '');
IPC::Run::run([ 'pg_apikey', 'report', '--html', '-', '--since', '2h' ], '<', \'', '>', \$out, '2>', \$stderr);
ok($? == 0 && $out =~ /^<!DOCTYPE html>/ && $out =~ m{</html>\n\z}, '--html - writes to stdout');
push @outputs, $out, $stderr;
for my $bad ([], [ '--html', "$tmp/x.html", '--since', 'a week' ], [ '--html', "$tmp/x.html", '--since', '1m' ])
{
	IPC::Run::run([ 'pg_apikey', 'report', @$bad ], '<', \'', '>', \$out, '2>', \$stderr);
	ok($? >> 8 == 1 && $stderr =~ /^pg_apikey: error: / && !-e "$tmp/x.html", "refused: report @$bad");
}

# ---- no token, ever ----
my $all = join '', @outputs;
is(scalar(grep { index($all, $_) >= 0 } @tokens), 0, 'no token appears in any report or output');
unlike($all, qr/ak_live_[0-9A-Za-z]{38}/, 'nothing shaped like a token either');

# ---- in a browser ----
my $browser_dir = $ENV{AK_BROWSER_DIR} // '/var/cache/apikey-test/browser';
my $chromium = $ENV{CHROMIUM} // '/usr/bin/chromium';
my $render = "$FindBin::RealBin/../browser/render.js";
my $pngstat = "$FindBin::RealBin/../browser/pngstat.py";

# opens a page; returns what render.js saw and the screenshot's ink and colours
sub browse
{
	my ($html) = @_;
	my ($json, $stderr) = ('', '');
	local $ENV{NODE_PATH} = "$browser_dir/node_modules";
	local $ENV{CHROMIUM} = $chromium;
	IPC::Run::run([ 'node', $render, $html, "$html.png", '--width=1280', '--height=800' ],
		'<', \'', '>', \$json, '2>', \$stderr, IPC::Run::timeout(120));
	diag($stderr) if $? != 0;
	my $seen = eval { decode_json($json) } // {};
	my $stat = `python3 $pngstat $html.png 2>&1`;
	@$seen{qw(width height ink colours)} = split ' ', $stat;
	return $seen;
}

SKIP:
{
	skip "chromium or playwright-core is not installed (scripts/lib.sh installs both: "
	  . "$chromium, $browser_dir)", 9
	  unless -x $chromium && -d "$browser_dir/node_modules/playwright-core";

	my $seen = browse($file);
	is_deeply($seen->{errors}, [], 'Chromium: no console error');
	is_deeply($seen->{requests}, [], 'and no request: it loads nothing');
	is($seen->{sections}, 6, 'six sections');
	ok(defined $seen->{overflow} && $seen->{overflow} <= 0,
		'no sideways scrolling on a 1280-pixel laptop screen');
	ok(($seen->{pdfPages} // 0) >= 2, "a print version (A4, $seen->{pdfPages} pages)");
	ok(($seen->{ink} // 0) > 10 && ($seen->{colours} // 0) > 50,
		"the screenshot is not blank ($seen->{ink}% drawn, $seen->{colours} colours)");

	# the checks can fail: a blank page with a console error
	my $control = "$tmp/control.html";
	open my $fh, '>', $control or die $!;
	print $fh "<!DOCTYPE html><html><body><script>console.error('control')</script></body></html>\n";
	close $fh;
	my $blank = browse($control);
	is_deeply($blank->{errors}, ['control'], 'control: a console error is seen');
	ok(defined $blank->{ink} && $blank->{ink} < 0.01, 'control: a blank page is seen as blank');
	is($blank->{colours}, 1, 'of one colour');
}

done_testing();
