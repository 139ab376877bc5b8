# Static development keys (doc/authentication.md, "Static development
# keys"): STATIC_API_KEY, STATIC_API_KEY_USER_ID and STATIC_API_KEY_ORG_ID
# in the postmaster's environment, several keys from apikey.static_keys_file,
# each verifying as its owner and org; apikey.production refuses them and
# says so in the log, which never holds a key.
use strict;
use warnings;
use Compress::Zlib ();
use PostgreSQL::Test::Utils;
use Test::More;
use ApikeyTest;

my @alphabet = ('0' .. '9', 'A' .. 'Z', 'a' .. 'z');

# a key in the token format (a leak report recognises it), made here
sub token
{
	my ($prefix) = @_;
	my $body = join '', map { $alphabet[ int(rand 62) ] } 1 .. 32;
	my $v = Compress::Zlib::crc32("${prefix}_$body");
	my $crc = '';
	for (1 .. 6) { $crc = $alphabet[ $v % 62 ] . $crc; $v = int($v / 62); }
	return "${prefix}_$body$crc";
}

my $dir = PostgreSQL::Test::Utils::tempdir;
my $env_key = 'dev-key-from-the-environment-' . int(rand(1e9));
my $file_key1 = token('ak_dev');
my $file_key2 = 'a-plain-dev-key-' . int(rand(1e9));
open(my $fh, '>', "$dir/static.keys") or die;
print $fh "# development keys: token owner [org]\n\n$file_key1 carol acme\n  $file_key2\tdave\n";
close $fh;
chmod 0600, "$dir/static.keys";

my $node = apikey_node('static', conf => qq{
apikey.static_keys_file = '$dir/static.keys'
apikey.flush_interval = 50ms
apikey.denied_audit_window = '1s'
log_min_messages = info
}, env => { STATIC_API_KEY => $env_key, STATIC_API_KEY_USER_ID => 'user-42', STATIC_API_KEY_ORG_ID => 'org-7' });
# (the environment of the first start only: a restart below sets it again)
my $sql = sub { $node->safe_psql('postgres', shift) };

# the keys travel as COPY data, which no log setting records, as a key in a
# request header never appears in SQL text
sub verify
{
	my ($key) = @_;
	return $node->safe_psql('postgres', "CREATE TEMP TABLE k (k text);\nCOPY k FROM STDIN;\n$key\n\\.\n"
		  . "SELECT concat_ws('|', v.code, v.owner, coalesce(v.org, '-'), v.key_id) FROM k, apikey.verify(k.k) AS v;");
}

is(verify($env_key), 'VALID|user-42|org-7|00000000-0000-0000-0000-000000000000',
	'STATIC_API_KEY verifies as STATIC_API_KEY_USER_ID and STATIC_API_KEY_ORG_ID');
is(verify($file_key1), 'VALID|carol|acme|00000000-0000-0000-0000-000000000001',
	'a key of apikey.static_keys_file verifies as its owner and org');
is(verify($file_key2), 'VALID|dave|-|00000000-0000-0000-0000-000000000002', 'another, without an org');
is(verify($env_key . 'x'), 'MALFORMED|-', 'anything else does not');
like($sql->('SHOW apikey.static_key'), qr/^blake2b:[0-9a-f]{64}$/, 'the setting shows the digest of the key');
is($sql->('SHOW apikey.static_key_owner') . '|' . $sql->('SHOW apikey.static_key_org'), 'user-42|org-7',
	'the owner and org settings come from the environment');
like(slurp_file($node->logfile), qr/apikey accepts 3 static development key\(s\)/, 'the start says how many static keys there are');

# through PostgREST: the static key's owner is the caller
is($node->safe_psql('postgres', "CREATE TEMP TABLE k (k text);\nCOPY k FROM STDIN;\n$env_key\n\\.\n" . q{
    BEGIN;
    SELECT set_config('request.method', 'GET', true), set_config('request.path', '/items', true),
           set_config('request.headers', json_build_object('x-api-key', k)::text, true) FROM k;
    SELECT apikey.check_request();
    SELECT apikey.current_owner();
    COMMIT;}) =~ s/.*\n//sr, 'user-42', 'check_request() admits it, and current_owner() is its owner');

# a static key in the token format, reported as leaked
$sql->('CREATE ROLE scanner IN ROLE apikey_leak_reporter');
is($node->safe_psql('postgres', "CREATE TEMP TABLE k (k text);\nCOPY k FROM STDIN;\n$file_key1\n\\.\n"
		  . q{GRANT SELECT ON k TO scanner; SET ROLE scanner;
          SELECT apikey.report_leak(k, 'https://example.com/dump') FROM k;}),
	'STATIC_KEY', 'a leak report of a static key: STATIC_KEY (only the configuration can change it)');
like(slurp_file($node->logfile), qr/WARNING:  a leak report names the static development key "static-1"/,
	'and a warning in the log');

# ---- production ----
$node->append_conf('postgresql.conf', 'apikey.production = on');
$node->reload;
poll_ok($node, 'postgres', q{SHOW apikey.production}, 'on', 'apikey.production is on after a reload');
is(verify($env_key), 'REVOKED|user-42|org-7|00000000-0000-0000-0000-000000000000', 'the static key is refused: REVOKED');
is(verify($file_key1) =~ s/\|.*//r, 'REVOKED', 'so are the keys of the file');
like(slurp_file($node->logfile), qr/WARNING:  apikey refused the static development key "static": apikey.production is on/,
	'the refusal is logged');
poll_ok($node, 'postgres', q{SELECT count(*) >= 2 FROM apikey.audit_log WHERE action = 'denied'
    AND detail->>'code' = 'REVOKED' AND detail->>'prefix' LIKE 'static%'}, 't', 'and audited, as access events');
my %env = (STATIC_API_KEY => $env_key, STATIC_API_KEY_USER_ID => 'user-42', STATIC_API_KEY_ORG_ID => 'org-7');
$node->stop;
{
	local %ENV = (%ENV, %env);
	$node->start;
}
like(slurp_file($node->logfile), qr/WARNING:  apikey.production is on: 3 static development key\(s\) configured will be refused/,
	'a production server that starts with static keys says so loudly');
is(verify($env_key) =~ s/\|.*//r, 'REVOKED', 'and refuses them from the start');

# ---- configuration mistakes stop the server ----
$node->stop;
my $started = do {
	local $ENV{APIKEY_STATIC_KEY} = 'another-static-development-key';
	local $ENV{STATIC_API_KEY} = $env_key;
	$node->start(fail_ok => 1);
};
ok(!$started, 'STATIC_API_KEY and APIKEY_STATIC_KEY set to different keys: the server does not start');
like(slurp_file($node->logfile), qr/STATIC_API_KEY and APIKEY_STATIC_KEY are set to different keys/, 'and says why');

open($fh, '>>', "$dir/static.keys") or die;
print $fh "short owner\n";
close $fh;
ok(!$node->start(fail_ok => 1), 'a static keys file with a bad line: the server does not start');
like(slurp_file($node->logfile), qr/apikey static keys file ".*" is not valid\n.*DETAIL:  Line 5: the token must be between 16 and 255 bytes long/,
	'and names the line');
my $log = slurp_file($node->logfile);
is(scalar(grep { index($log, $_) >= 0 } ($env_key, $file_key1, $file_key2, 'another-static-development-key')), 0,
	'no static key in the server log');

done_testing();
