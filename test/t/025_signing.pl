# Request signing (doc/authentication.md, "Request signing"): signatures
# computed outside the server -- Python's hmac module and openssl dgst --
# verify; every refusal has its code; nonces are remembered across a clean
# restart and distrusted after an unclean one; a full nonce store refuses
# instead of forgetting; check_request() enforces signatures on the routes
# that require them; the root secret rotates with a transition.
use strict;
use warnings;
use IPC::Run qw(run);
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use ApikeyTest;

my $dir = PostgreSQL::Test::Utils::tempdir;
my $old_root = join('', map { sprintf('%02x', int(rand(256))) } 1 .. 32);
my $new_root = join('', map { sprintf('%02x', int(rand(256))) } 1 .. 32);

sub write_roots
{
	my (@roots) = @_;
	open(my $fh, '>', "$dir/signing.key") or die;
	print $fh "# apikey signing roots: current first\n", map { "$_\n" } @roots;
	close $fh;
	chmod 0600, "$dir/signing.key";
}
write_roots($old_root);

my $node = apikey_node('signing', conf => qq{
apikey.signing_key_file = '$dir/signing.key'
apikey.flush_interval = 50ms
apikey.denied_audit_window = '1s'
log_min_messages = info
restart_after_crash = on
});
my $sql = sub { $node->safe_psql('postgres', shift) };

my $empty = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

# the text a signature covers, and its HMAC by Python and by openssl
sub signed_text
{
	my ($method, $path, $ts, $body, $nonce) = @_;
	return join("\n", $method, $path, $ts, $body, defined $nonce ? ($nonce) : ());
}

sub py_sign
{
	my ($secret, @fields) = @_;
	my $code = 'import hmac, hashlib, sys; '
	  . 'print(hmac.new(sys.argv[1].encode(), "\n".join(sys.argv[2:]).encode(), hashlib.sha256).hexdigest())';
	my $out;
	run [ 'python3', '-c', $code, $secret, @fields[ 0 .. 3 ], defined $fields[4] ? ($fields[4]) : () ],
	  '>', \$out
	  or die 'python3 failed';
	chomp $out;
	return $out;
}

sub openssl_sign
{
	my ($secret, @fields) = @_;
	my $text = signed_text(@fields);
	my $out;
	run [ 'openssl', 'dgst', '-sha256', '-hmac', $secret, '-r' ], '<', \$text, '>', \$out
	  or die 'openssl failed';
	return (split / /, $out)[0];
}

sub lit
{
	my ($s) = @_;
	return 'NULL' unless defined $s;
	$s =~ s/'/''/g;
	return "'$s'";
}

# verify_signature()'s code (and owner) for a request signed with $sig
sub verify
{
	my ($key, $sig, $method, $path, $ts, $body, $nonce) = @_;
	return $sql->(sprintf(
		'SELECT code || coalesce(%s || owner, %s) FROM apikey.verify_signature(%s, %s, %s, %s, %s, %s, %s)',
		lit(':'), lit(''), lit($key), lit($method), lit($path), $ts, lit($body), lit($sig), lit($nonce)));
}

my $now = sub { $sql->(q{SELECT extract(epoch FROM now())::bigint}) };

my ($kid, $dp) = split /\|/, $sql->(q{
    CREATE ROLE alice; CREATE ROLE mallory; CREATE ROLE boss IN ROLE apikey_admin;
    CREATE ROLE regress_web; GRANT USAGE ON SCHEMA apikey TO regress_web;
    SELECT key_id || '|' || display_prefix FROM apikey.issue('alice')});
my $other = $sql->(q{SELECT key_id FROM apikey.issue('alice')});
my $secret = $sql->(qq{SET ROLE alice; SELECT apikey.signing_secret('$kid')});
like($secret, qr/^aksig_[A-Za-z0-9_-]{43}$/, 'signing_secret(): "aksig_" and 32 bytes of base64url');
is($sql->(qq{SET ROLE boss; SELECT apikey.signing_secret('$kid')}), $secret,
	'an admin gets the same secret: it is derived, not drawn');
my $other_secret = $sql->(qq{SELECT apikey.signing_secret('$other')});
isnt($other_secret, $secret, 'each key has its own secret');

# ---- signatures made outside the server ----
my $ts = $now->();
my $body = '5d41402abc4b2a76b9719d911017c592ae8a1e7c0a0c0ffee0f7b1d2f0f2d6a3';
my @req = ('POST', '/rpc/transfer', $ts, $body, 'n-1');
my $sig = py_sign($secret, @req);
is(openssl_sign($secret, @req), $sig, 'Python and openssl agree on the signature');
SKIP:
{
	# the JavaScript of doc/authentication.md, when Node is installed
	skip 'node is not installed', 1 unless system('node --version >/dev/null 2>&1') == 0;
	my $js = q{const { createHmac } = require('node:crypto');
        const [secret, ...fields] = process.argv.slice(1);
        console.log(createHmac('sha256', secret).update(fields.join('\n')).digest('hex'))};
	my $out;
	run [ 'node', '-e', $js, $secret, @req ], '>', \$out or die 'node failed';
	chomp $out;
	is($out, $sig, "and so does Node's node:crypto");
}
is(verify($kid, $sig, @req), 'VALID:alice', 'a signature from Python verifies, by key id, with the owner');
is(verify($kid, $sig, @req), 'REPLAYED', 'the same nonce again: REPLAYED');
@req = ('POST', '/rpc/transfer', $ts, $body, 'n-2');
is(verify($dp, openssl_sign($secret, @req), @req), 'VALID:alice', 'a signature from openssl verifies, by display prefix');
@req = ('POST', '/rpc/transfer', $ts, $body, 'n-1');
is(verify($other, py_sign($other_secret, @req), @req), 'VALID:alice',
	'a nonce is remembered per key: another key may use it');
@req = ('get', '/items', $ts, $empty, 'n-3');
is(verify($kid, py_sign($secret, 'GET', @req[ 1 .. 4 ]), @req), 'VALID:alice',
	'the method is signed in upper case, whatever case it is given in');
@req = ('GET', '/items', $ts, $empty, undef);
$sig = py_sign($secret, @req);
is(verify($kid, $sig, @req) . verify($kid, $sig, @req), 'VALID:aliceVALID:alice',
	'without a nonce nothing is remembered: the window is the only bound');

# ---- refusals: the signature ----
@req = ('POST', '/rpc/transfer', $ts, $body, 'n-4');
$sig = py_sign($secret, @req);
is(verify($kid, $sig, 'POST', '/rpc/transfer_all', $ts, $body, 'n-4'), 'SIGNATURE_INVALID', 'another path: SIGNATURE_INVALID');
is(verify($kid, $sig, 'DELETE', '/rpc/transfer', $ts, $body, 'n-4'), 'SIGNATURE_INVALID', 'another method: SIGNATURE_INVALID');
is(verify($kid, $sig, 'POST', '/rpc/transfer', $ts, $empty, 'n-4'), 'SIGNATURE_INVALID', 'another body: SIGNATURE_INVALID');
is(verify($kid, $sig, 'POST', '/rpc/transfer', $ts + 1, $body, 'n-4'), 'SIGNATURE_INVALID', 'another time: SIGNATURE_INVALID');
is(verify($kid, $sig, 'POST', '/rpc/transfer', $ts, $body, 'n-5'), 'SIGNATURE_INVALID', 'another nonce: SIGNATURE_INVALID');
is(verify($kid, $sig, 'POST', '/rpc/transfer', $ts, $body, undef), 'SIGNATURE_INVALID', 'the nonce left out: SIGNATURE_INVALID');
is(verify($other, $sig, @req), 'SIGNATURE_INVALID', "another key's name: SIGNATURE_INVALID");
is(verify($kid, py_sign($other_secret, @req), @req), 'SIGNATURE_INVALID', "another key's secret: SIGNATURE_INVALID");
is(verify($kid, 'zz' . substr($sig, 2), @req), 'SIGNATURE_INVALID', 'a signature that is not hexadecimal: SIGNATURE_INVALID');
is(verify($kid, substr($sig, 1), @req), 'SIGNATURE_INVALID', 'a short signature: SIGNATURE_INVALID');
is(verify($kid, undef, @req), 'SIGNATURE_INVALID', 'no signature: SIGNATURE_INVALID');
is(verify($kid, uc($sig), @req), 'VALID:alice', 'the same signature in upper case verifies');
is(verify($kid, $sig, @req), 'REPLAYED', 'and its nonce is then spent');

# ---- refusals: the time window (300 s by default) ----
# (with margins of 30 s: the test takes a moment; nothing asserts a timing)
for my $case ([ -330, 'SIGNATURE_EXPIRED', '330 s old' ], [ 330, 'SIGNATURE_EXPIRED', '330 s ahead' ],
	[ -270, 'VALID:alice', '270 s old' ], [ 270, 'VALID:alice', '270 s ahead' ])
{
	my ($delta, $code, $label) = @$case;
	@req = ('POST', '/rpc/transfer', $ts + $delta, $body, "w$delta");
	is(verify($kid, py_sign($secret, @req), @req), $code, "a timestamp $label: $code");
}
@req = ('POST', '/rpc/transfer', $ts - 330, $body, 'w-330');
is(verify($kid, py_sign($other_secret, @req), @req), 'SIGNATURE_INVALID',
	'an old request with a bad signature is SIGNATURE_INVALID: nothing is told before the signature holds');

# ---- refusals: the key's own code ----
is(verify('ak_live_AAAAAAAA', $sig, @req), 'NOT_FOUND', 'an unknown display prefix: NOT_FOUND');
is(verify('00000000-0000-0000-0000-0000000000aa', $sig, @req), 'NOT_FOUND', 'an unknown key id: NOT_FOUND');
is(verify('not a key', $sig, @req), 'MALFORMED', 'neither an id nor a display prefix: MALFORMED');
is(verify(undef, $sig, @req), 'MALFORMED', 'no key: MALFORMED');
my ($ret, $out, $err);
for my $bad ([ 'NULL', q{'/p'}, $ts, qq{'$empty'}, 'method', 'it must not be null' ],
	[ q{'POST'}, 'NULL', $ts, qq{'$empty'}, 'path', 'it must not be null' ],
	[ q{'POST'}, q{'/p'}, 'NULL', qq{'$empty'}, 'ts', 'it must not be null' ],
	[ q{'POST'}, q{'/p'}, $ts, q{NULL}, 'body_sha256', 'it must not be null' ],
	[ q{'POST'}, q{'/p'}, $ts, qq{upper('$empty')}, 'body_sha256', '64 lower-case hexadecimal digits' ],
	[ q{'PO ST'}, q{'/p'}, $ts, qq{'$empty'}, 'method', '1 to 16 letters' ],
	[ q{'POST'}, q{E'/p\nGET'}, $ts, qq{'$empty'}, 'path', 'without a newline' ])
{
	my ($m, $p, $t, $b, $what, $detail) = @$bad;
	($ret, $out, $err) = $node->psql('postgres', qq{
        SELECT * FROM apikey.verify_signature('$kid', $m, $p, $t, $b, '$sig')});
	like($err, qr/ERROR:  invalid $what.*\Q$detail\E/s, "bad $what ($detail): 22023 with what is wrong");
}
($ret, $out, $err) = $node->psql('postgres', qq{
    SELECT * FROM apikey.verify_signature('$kid', 'GET', '/p', $ts, '$empty', '$sig', 'a nonce')});
like($err, qr/ERROR:  invalid nonce\nDETAIL:  A nonce is 1 to 128 printable ASCII characters, without spaces/,
	'a nonce with a space: 22023');
$sql->(qq{SELECT apikey.revoke('$other')});
@req = ('POST', '/rpc/transfer', $ts, $body, 'n-9');
is(verify($other, py_sign($other_secret, @req), @req), 'REVOKED', 'a revoked key: REVOKED, however well signed');

# ---- signing_secret(): who may, and the audit ----
($ret, $out, $err) = $node->psql('postgres', qq{SET ROLE mallory; SELECT apikey.signing_secret('$kid')});
like($err, qr/permission denied to read the signing secret of this key/, "another owner's key: 42501");
($ret, $out, $err) = $node->psql('postgres', qq{SELECT apikey.signing_secret('$other')});
like($err, qr/ERROR:  API key \S+ has no signing secret\nDETAIL:  Its status is "revoked"/,
	'a revoked key has no signing secret: 55000');
($ret, $out, $err) = $node->psql('postgres', q{SELECT apikey.signing_secret('00000000-0000-0000-0000-0000000000aa')});
like($err, qr/does not exist/, 'an unknown key: 42704');
($ret, $out, $err) = $node->psql('postgres', q{SELECT apikey.signing_secret(NULL)});
like($err, qr/invalid key_id: it must not be null/, 'NULL: 22023');
is($sql->(qq{SELECT count(*) FROM apikey.audit_log WHERE action = 'signing_secret_read' AND key_id = '$kid'}),
	'2', 'each hand-out of the secret is audited');
ok(index($sql->(q{SELECT string_agg(a::text, ' ') FROM apikey.audit_log AS a}), $secret) < 0,
	'and no audit row holds it');
poll_ok($node, 'postgres', q{SELECT count(*) > 0 FROM apikey.audit_log
    WHERE action = 'denied' AND detail->>'code' = 'SIGNATURE_INVALID'}, 't',
	'refused signatures become access events');

# ---- check_request(): routes that require a signature ----
# (a bucket that refills once an hour: what is debited stays debited)
my $token = $sql->(q{SELECT token FROM apikey.issue('alice', scopes => '{pay}',
    rate_limits => '[{"limit": 1, "period": "1 hour", "burst": 100}]')});
my $tkid = $sql->(q{SELECT id FROM apikey.keys WHERE scopes = '{pay}'});
my $tsecret = $sql->(qq{SELECT apikey.signing_secret('$tkid')});
$sql->(q{INSERT INTO apikey.scope_map (method, path_pattern, scope, require_signature) VALUES
    ('POST', '/rpc/pay', 'pay', true), ('GET', '/rpc/open', 'pay', false)});

sub pre_request
{
	my ($path, %h) = @_;
	my $headers = JSON::PP->new->canonical->encode({ 'x-api-key' => $token, %h });
	my ($r, $o, $e) = $node->psql('postgres', sprintf(q{
        BEGIN;
        SELECT set_config('apikey.authenticator_roles', quote_ident(session_user), true);
        SET LOCAL ROLE regress_web;
        SELECT set_config('request.method', 'POST', true), set_config('request.path', %s, true),
               set_config('request.headers', %s, true);
        SELECT apikey.check_request();
        SELECT 'admitted:' || apikey.current_owner();
        COMMIT;}, lit($path), lit($headers)));
	return $o =~ /admitted:(\S+)/ ? "admitted $1" : ($e =~ /"details":"(\w+)"/)[0] // $e;
}

sub signed_headers
{
	my ($secret, $path, $ts, $nonce, $body) = @_;
	$body //= $empty;
	return ('x-signature' => py_sign($secret, 'POST', $path, $ts, $body, $nonce),
		'x-signature-timestamp' => "$ts", 'x-signature-nonce' => $nonce, 'x-content-sha256' => $body);
}

$ts = $now->();
is(pre_request('/rpc/open'), 'admitted alice', 'a route without the mark needs no signature');
is(pre_request('/rpc/pay'), 'SIGNATURE_REQUIRED', 'a marked route without signature headers: SIGNATURE_REQUIRED');
my %h = signed_headers($tsecret, '/rpc/pay', $ts, 'p-1');
is(pre_request('/rpc/pay', %h), 'admitted alice', 'signed with the key\'s secret: admitted');
is(pre_request('/rpc/pay', %h), 'REPLAYED', 'the same request again: REPLAYED');
%h = signed_headers($tsecret, '/rpc/pay', $ts, 'p-2');
delete $h{'x-signature-nonce'};
is(pre_request('/rpc/pay', %h), 'SIGNATURE_REQUIRED', 'without its nonce header: SIGNATURE_REQUIRED');
%h = signed_headers($tsecret, '/rpc/pay_other', $ts, 'p-3');
is(pre_request('/rpc/pay', %h), 'SIGNATURE_INVALID', 'signed for another path: SIGNATURE_INVALID');
%h = signed_headers($secret, '/rpc/pay', $ts, 'p-4');
is(pre_request('/rpc/pay', %h), 'SIGNATURE_INVALID', "signed with another key's secret: SIGNATURE_INVALID");
%h = (signed_headers($tsecret, '/rpc/pay', $ts, 'p-5'), 'x-signature-timestamp' => "${ts}x");
is(pre_request('/rpc/pay', %h), 'SIGNATURE_INVALID', 'a timestamp that is not a number: SIGNATURE_INVALID');
%h = signed_headers($tsecret, '/rpc/pay', $ts - 1000, 'p-6');
is(pre_request('/rpc/pay', %h), 'SIGNATURE_EXPIRED', 'an old signed request: SIGNATURE_EXPIRED');
%h = signed_headers($tsecret, '/rpc/pay', $ts, 'p-7');
$h{'x-api-key'} = 'ak_live_notAToken';
is(pre_request('/rpc/pay', %h), 'MALFORMED', "a bad key is refused for the key, not its signature");

# refused before any limit is debited: the key's bucket is untouched
my $left = sub { $sql->(qq{SELECT remaining FROM apikey.check('$token', cost => 0)}) };
my $left0 = $left->();
%h = signed_headers($secret, '/rpc/pay', $ts, 'p-8');
pre_request('/rpc/pay', %h) for 1 .. 3;
is($left->(), $left0, 'refused signatures debit nothing from the key\'s limits');

# ---- nonces across restarts ----
@req = ('POST', '/rpc/transfer', $ts, $body, 'r-1');
$sig = py_sign($secret, @req);
is(verify($kid, $sig, @req), 'VALID:alice', 'a nonce before a clean restart');
my $marker = $node->data_dir . '/pg_stat/apikey_nonces.running';
ok(-e $marker, 'a running server keeps its marker');
$node->stop('fast');
ok(!-e $marker, 'a clean stop removes it');
$node->start;
is(verify($kid, $sig, @req), 'REPLAYED', 'after a clean restart the nonce is still known: REPLAYED');
ok(!-e $node->data_dir . '/pg_stat/apikey_nonces.stat', 'the saved nonces are removed once read');
$node->stop('immediate');
ok(-e $marker, 'an immediate stop cannot save them (no process may read the store): the marker stays');
$node->start;
like(verify($kid, $sig, @req), qr/^NONCE_STORE_UNAVAILABLE/,
	'so after it the nonce cannot be vouched for: refused, not admitted again');

# the postmaster killed: its nonces are lost, and the marker says so
my $postmaster = $node->{_pid};
$node->kill9;
ok(wait_until(sub {
	return kill(0, $postmaster) == 0
	  && !grep { (eval { slurp_file($_) } // '') =~ /^postgres: signing: / } glob('/proc/[0-9]*/cmdline');
}), 'the postmaster is killed, and its children exit');
ok(-e $marker, 'the marker is left behind');
$node->start;
like(slurp_file($node->logfile), qr/apikey may have forgotten the nonces of signed requests: the server was not shut down cleanly/,
	'the next start says so in the log');
$ts = $now->();
@req = ('POST', '/rpc/transfer', $ts, $body, 'u-1');
is(verify($kid, py_sign($secret, @req), @req), 'NONCE_STORE_UNAVAILABLE',
	'then a nonce of a request as old as the start cannot be vouched for: refused');
@req = ('POST', '/rpc/transfer', $ts, $body, undef);
is(verify($kid, py_sign($secret, @req), @req), 'VALID:alice', 'a request without a nonce is not concerned');
# one window later (the clock moved for the test), nonces are trusted again
$ts += 301;
@req = ('POST', '/rpc/transfer', $ts, $body, 'u-2');
$sig = py_sign($secret, @req);
is($sql->(sprintf(q{SET apikey.test_clock_offset = '301s';
    SELECT code FROM apikey.verify_signature(%s, 'POST', '/rpc/transfer', %d, %s, %s, 'u-2')},
	lit($kid), $ts, lit($body), lit($sig))), 'VALID', 'one skew window after the start, nonces are checked again');

# a crash: the postmaster re-creates shared memory
my $victim = $node->background_psql('postgres');
my $pid = $victim->query_safe('SELECT pg_backend_pid()');
kill 'KILL', $pid;
eval { $victim->quit };
poll_ok($node, 'postgres', 'SELECT 1', '1', 'the server is back after a crash');
$ts = $now->();
@req = ('POST', '/rpc/transfer', $ts, $body, 'c-1');
is(verify($kid, py_sign($secret, @req), @req), 'NONCE_STORE_UNAVAILABLE', 'after a crash too');

# ---- a full store refuses rather than forgets ----
$node->append_conf('postgresql.conf', 'apikey.max_nonces = 1000');
$node->restart(mode => 'fast');
$sql->('CREATE EXTENSION IF NOT EXISTS pgcrypto');
my $fill = sub {
	my ($offset, $from, $to) = @_;
	# the secret is fetched in the statement: the log records statements
	return $sql->(sprintf(q{
        SET apikey.test_clock_offset = '%ds';
        WITH s AS MATERIALIZED (SELECT apikey.signing_secret(%s) AS secret,
                                       extract(epoch FROM now())::bigint + %d AS ts)
        SELECT count(*) FILTER (WHERE v.code = 'VALID') || ' valid, '
            || count(*) FILTER (WHERE v.code = 'NONCE_STORE_UNAVAILABLE') || ' unavailable, '
            || count(*) FILTER (WHERE v.code NOT IN ('VALID', 'NONCE_STORE_UNAVAILABLE')) || ' other'
          FROM s, generate_series(%d, %d) AS g,
               LATERAL apikey.verify_signature(%s, 'GET', '/x', s.ts, %s,
                   encode(hmac(format(E'GET\n/x\n%%s\n%%s\n%%s', s.ts, %s, 'f' || g), s.secret, 'sha256'), 'hex'),
                   'f' || g) AS v}, $offset, lit($kid), $offset, $from, $to, lit($kid), lit($empty), lit($empty)));
};
# (the clock is moved past the window of the crash above)
my $first = $fill->(700, 1, 1100);
like($first, qr/^(\d+) valid, (\d+) unavailable, 0 other$/, '1100 nonces into a store of 1000: ' . $first);
my ($valid, $unavailable) = $first =~ /^(\d+) valid, (\d+) unavailable/;
ok($valid >= 900 && $unavailable > 0, 'the store takes what it holds, then refuses the rest');
like($fill->(700, 1, 10), qr/^0 valid, 0 unavailable, 10 other$/, 'and still knows the ones it took (REPLAYED)');
like($fill->(1100, 2001, 2010), qr/^10 valid/, 'once their window has passed, their room is taken again');

# ---- rotating the root ----
write_roots($new_root, $old_root);
$node->restart(mode => 'fast');
# (without nonces: the crash above still leaves the store unsure of them)
$ts = $now->();
@req = ('POST', '/rpc/transfer', $ts, $body, undef);
is(verify($kid, py_sign($secret, @req), @req), 'VALID:alice',
	'with a new root first and the old one second, the old secret still verifies');
my $rotated = $sql->(qq{SELECT apikey.signing_secret('$kid')});
isnt($rotated, $secret, 'signing_secret() hands out the secret of the new root');
is(verify($kid, py_sign($rotated, @req), @req), 'VALID:alice', 'the new secret verifies');
write_roots($new_root);
$node->restart(mode => 'fast');
is(verify($kid, py_sign($secret, @req), @req), 'SIGNATURE_INVALID', 'once the old root is removed, its secrets are refused');
is(verify($kid, py_sign($rotated, @req), @req), 'VALID:alice', 'and the new ones verify');

# ---- the root file itself ----
$node->stop('fast');
chmod 0644, "$dir/signing.key";
ok(!$node->start(fail_ok => 1), 'a root file others may read stops the server from starting');
like(slurp_file($node->logfile), qr/apikey signing key file ".*" has group or world access/, 'and says why');
write_roots('abcd');
ok(!$node->start(fail_ok => 1), 'a malformed root file too');
like(slurp_file($node->logfile), qr/apikey signing key file ".*" is not valid/, 'and says why');
unlike(slurp_file($node->logfile), qr/\Q$secret\E|\Q$rotated\E|$old_root|$new_root/, 'no secret, no root in the log');

done_testing();
