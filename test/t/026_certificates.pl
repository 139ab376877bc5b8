# Client certificates (doc/authentication.md, "Client certificates"): a CA,
# a server certificate and client certificates made by openssl; the test
# cluster listens with ssl = on and verifies clients against the CA; real
# TLS connections with a client certificate verify as its registration
# says.  Registration, revocation, validity, the registry's row-level
# security and audit, and check_request() behind a proxy that passes the
# certificate in a header: fingerprint, URL-encoded PEM, Envoy's XFCC.
use strict;
use warnings;
use IPC::Run qw(run);
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use ApikeyTest;

my $dir = PostgreSQL::Test::Utils::tempdir;

sub openssl
{
	my (@args) = @_;
	my ($out, $err);
	run [ 'openssl', @args ], '>', \$out, '2>', \$err or die "openssl @args: $err";
	return $out;
}

# a CA, and certificates it signs: EC P-256, as quick to make as any
sub make_cert
{
	my ($name, $cn, $days, $ca) = @_;
	$ca //= 'ca';
	openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
		'-keyout', "$dir/$name.key", '-out', "$dir/$name.csr", '-subj', "/O=Acme/CN=$cn");
	openssl('x509', '-req', '-in', "$dir/$name.csr", '-CA', "$dir/$ca.pem", '-CAkey', "$dir/$ca.key",
		'-CAcreateserial', '-out', "$dir/$name.pem", '-days', $days);
	chmod 0600, "$dir/$name.key";
}
for my $ca ('ca', 'other_ca')
{
	openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
		'-keyout', "$dir/$ca.key", '-out', "$dir/$ca.pem", '-days', 30, '-subj', "/CN=apikey test $ca");
}
make_cert('server', 'localhost', 30);
make_cert('client1', 'client one', 2);
make_cert('client2', 'client two', 2);
make_cert('stranger', 'not registered', 2);

sub pem { return slurp_file("$dir/$_[0].pem") }

sub fingerprint
{
	my ($name) = @_;
	my $out = openssl('x509', '-in', "$dir/$name.pem", '-noout', '-fingerprint', '-sha256');
	$out =~ /Fingerprint=([0-9A-F:]+)/ or die;
	return $1;
}

sub plain_fingerprint { return lc(fingerprint($_[0]) =~ s/://gr) }

# the cluster's own free port: it checks 127.0.0.1 too
my $node = apikey_node('certs', conf => qq{
listen_addresses = '127.0.0.1'
apikey.denied_audit_window = '1s'
ssl = on
ssl_cert_file = '$dir/server.pem'
ssl_key_file = '$dir/server.key'
ssl_ca_file = '$dir/ca.pem'
apikey.flush_interval = 50ms
});
$node->append_conf('pg_hba.conf', 'hostssl all all 127.0.0.1/32 trust');
$node->reload;
my $port = $node->port;
my $sql = sub { $node->safe_psql('postgres', shift) };

sub lit
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

# one statement over a real TLS connection, with the client certificate of
# $cert (undef: none); returns its output, or the error
sub over_tls
{
	my ($cert, $query) = @_;
	my $conn = "host=127.0.0.1 port=$port dbname=postgres user=postgres sslmode=require";
	$conn .= " sslcert=$dir/$cert.pem sslkey=$dir/$cert.key" if $cert;
	my ($out, $err) = ('', '');
	run [ 'psql', '-XAtq', '-d', $conn, '-c', $query ], '>', \$out, '2>', \$err;
	chomp $out;
	return $out ne '' ? $out : $err;
}

my $verify = q{SELECT concat_ws('|', code, owner, subject_cn) FROM apikey.verify_certificate()};

$sql->(q{CREATE ROLE alice; CREATE ROLE mallory; CREATE ROLE boss IN ROLE apikey_admin;
    CREATE ROLE regress_web; GRANT USAGE ON SCHEMA apikey TO regress_web;
    INSERT INTO apikey.tiers (name, rate_limits) VALUES
        ('tiny', '[{"name": "hourly", "limit": 2, "period": "1 hour", "burst": 2}]')});

# ---- registration ----
my $reg = $sql->(sprintf(q{SET ROLE alice;
    SELECT concat_ws('|', fingerprint, subject_cn, to_char(not_after AT TIME ZONE 'UTC', 'Mon DD HH24:MI:SS YYYY'))
      FROM apikey.register_certificate(%s, 'alice', 'laptop', scopes => '{items:read}')}, lit(pem('client1'))));
my ($fp1, $cn1, $not_after) = split /\|/, $reg;
is($fp1, plain_fingerprint('client1'), 'the fingerprint is openssl\'s SHA-256 of the DER, in lower case without colons');
is($cn1, 'client one', 'the subject CN is read');
my $enddate = openssl('x509', '-in', "$dir/client1.pem", '-noout', '-enddate');
$enddate =~ s/^notAfter=//;
$enddate =~ s/\s+GMT\s*$//;
$enddate =~ s/  / 0/;
is($not_after, $enddate, 'not_after is the certificate\'s notAfter');
is($sql->(q{SELECT concat_ws('|', issuer, owner, name, tier, active) FROM apikey.certificates}),
	'CN=apikey test ca|alice|laptop|free|t', 'the registry row: issuer (RFC 2253), owner, name, tier');
$sql->(sprintf(q{SELECT apikey.register_certificate(%s, 'alice', tier => 'tiny')}, lit(pem('client2'))));

# ---- verification over a real TLS connection ----
is(over_tls('client1', $verify), 'VALID|alice|client one', 'a TLS connection with a registered client certificate: VALID, as its owner');
is(over_tls('client1', q{SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()}), 't', '(the connection is TLS)');
is(over_tls('stranger', $verify), 'CERT_UNKNOWN', 'a certificate of the trusted CA that is not registered: CERT_UNKNOWN');
is(over_tls(undef, $verify), 'CERT_MISSING', 'a TLS connection without a client certificate: CERT_MISSING');
is($sql->($verify), 'CERT_MISSING', 'a connection without TLS: CERT_MISSING');
like(over_tls('other_ca', $verify), qr/certificate|SSL|ssl/i, 'a certificate of another CA does not even connect');

is($sql->(sprintf(q{SELECT concat_ws('|', code, owner) FROM apikey.verify_certificate(%s)}, lit(fingerprint('client1')))),
	'VALID|alice', 'by fingerprint, as openssl prints it (upper case, colons)');
is($sql->(sprintf(q{SELECT concat_ws('|', code, owner) FROM apikey.verify_certificate(%s)}, lit($fp1))),
	'VALID|alice', 'by fingerprint, as the registry keeps it');
is($sql->(sprintf(q{SELECT code || coalesce(owner, '-') FROM apikey.verify_certificate(%s)}, lit(plain_fingerprint('stranger')))),
	'CERT_UNKNOWN-', 'an unknown fingerprint: CERT_UNKNOWN, and no owner');

# ---- validity, on apikey's clock ----
is($sql->(qq{SET apikey.test_clock_offset = '3d';
    SELECT code FROM apikey.verify_certificate('$fp1')}), 'CERT_EXPIRED', 'past notAfter: CERT_EXPIRED');
is($sql->(qq{SET apikey.test_clock_offset = '-1h';
    SELECT code FROM apikey.verify_certificate('$fp1')}), 'CERT_NOT_YET_VALID', 'before notBefore: CERT_NOT_YET_VALID');
my ($ret, $out, $err) = $node->psql('postgres', sprintf(q{SET apikey.test_clock_offset = '3d';
    SELECT apikey.register_certificate(%s, 'alice')}, lit(pem('stranger'))));
like($err, qr/invalid pem: the certificate expired at/, 'an expired certificate cannot be registered');

# ---- revocation ----
my $id1 = $sql->(qq{SELECT id FROM apikey.certificates WHERE fingerprint = '$fp1'});
($ret, $out, $err) = $node->psql('postgres', qq{SET ROLE mallory; SELECT apikey.revoke_certificate('$id1')});
like($err, qr/permission denied to revoke this certificate/, "another owner cannot revoke it: 42501");
is($sql->(qq{SET ROLE alice; SELECT apikey.revoke_certificate('$id1')}), 't', 'its owner revokes it');
is($sql->(qq{SELECT apikey.revoke_certificate('$id1')}), 'f', 'twice: false');
is(over_tls('client1', $verify), 'CERT_REVOKED', 'from the commit on, the TLS connection is CERT_REVOKED');
$sql->(sprintf(q{SET ROLE boss; SELECT apikey.register_certificate(%s, 'alice', 'laptop again', scopes => '{items:read}')},
	lit(pem('client1'))));
is(over_tls('client1', $verify), 'VALID|alice|client one', 'registered again: VALID');
is($sql->(qq{SELECT count(*) || '/' || count(*) FILTER (WHERE active) FROM apikey.certificates WHERE fingerprint = '$fp1'}),
	'2/1', 'the revoked registration stays, beside the active one');

# ---- refusals of the registration ----
for my $bad ([ q{'not a pem'}, 'alice', qr/invalid pem\nDETAIL:  It holds no certificate in PEM form/, 'text that is no PEM' ],
	[ lit(pem('stranger') . slurp_file("$dir/stranger.key")), 'alice',
		qr/invalid pem\nDETAIL:  It holds a private key/, 'a PEM with its private key' ],
	[ lit(pem('stranger') . pem('client2')), 'alice', qr/It holds more than one certificate/, 'two certificates' ],
	[ 'NULL', 'alice', qr/invalid pem: it must not be null/, 'no PEM' ],
	[ lit(pem('client2')), 'alice', qr/certificate \w+ is already registered/, 'a certificate registered already (23505)' ],
	[ lit(pem('stranger')), 'NULL', qr/invalid owner: it must not be null/, 'no owner' ])
{
	my ($p, $owner, $re, $label) = @$bad;
	$owner = lit($owner) unless $owner eq 'NULL';
	($ret, $out, $err) = $node->psql('postgres', "SELECT apikey.register_certificate($p, $owner)");
	like($err, $re, "refused: $label");
}
($ret, $out, $err) = $node->psql('postgres', sprintf(q{SET ROLE mallory; SELECT apikey.register_certificate(%s, 'alice')}, lit(pem('stranger'))));
like($err, qr/permission denied to register a certificate for this owner/, 'for another owner: 42501');
($ret, $out, $err) = $node->psql('postgres', sprintf(q{SET ROLE alice; SELECT apikey.register_certificate(%s, 'alice', tier => 'tiny')}, lit(pem('stranger'))));
like($err, qr/permission denied to set tier/, 'an owner may not choose a tier: 42501');
($ret, $out, $err) = $node->psql('postgres', q{SELECT apikey.revoke_certificate('00000000-0000-0000-0000-0000000000aa')});
like($err, qr/certificate 00000000-0000-0000-0000-0000000000aa does not exist/, 'revoking an unknown certificate: 42704');
($ret, $out, $err) = $node->psql('postgres', q{SELECT apikey.verify_certificate('12:34')});
like($err, qr/invalid fingerprint\nDETAIL:  A SHA-256 fingerprint is 64 hexadecimal digits/, 'a malformed fingerprint: 22023');
# an application role logs no statements: then the refusal of a private key
# is logged without the statement that carries it
my $log_before = -s $node->logfile;
($ret, $out, $err) = $node->psql('postgres', sprintf(q{SET log_statement = none;
    SET log_min_error_statement = error;
    SELECT apikey.register_certificate(%s, 'alice')}, lit(pem('client2') . slurp_file("$dir/client2.key"))));
like($err, qr/It holds a private key/, 'a PEM with its private key is refused');
my $log_after = substr(slurp_file($node->logfile), $log_before);
like($log_after, qr/ERROR:  invalid pem/, 'the refusal is logged');
unlike($log_after, qr/PRIVATE KEY/, 'without the statement that holds the key');

# ---- the registry: row-level security, audit ----
is($sql->(q{SET ROLE alice; SELECT count(*) FROM apikey.certificates}), '3', 'an owner sees her certificates');
is($sql->(q{SET ROLE mallory; SELECT count(*) FROM apikey.certificates}), '0', 'another owner sees none');
is($sql->(q{SET ROLE boss; SELECT count(*) FROM apikey.certificates}), '3', 'an admin sees all');
($ret, $out, $err) = $node->psql('postgres', q{SET ROLE alice; DELETE FROM apikey.certificates});
like($err, qr/permission denied/, 'nobody writes the registry but through the functions');
is($sql->(q{SELECT string_agg(action || ':' || owner, ',' ORDER BY id) FROM apikey.audit_log
    WHERE action LIKE 'certificate%'}),
	'certificate_registered:alice,certificate_registered:alice,certificate_revoked:alice,certificate_registered:alice',
	'registrations and revocations are audited, for the owner');
poll_ok($node, 'postgres', q{SELECT count(*) > 0 FROM apikey.audit_log WHERE action = 'denied'
    AND detail->>'code' = 'CERT_UNKNOWN' AND detail->>'prefix' LIKE 'cert:%'}, 't',
	'refused certificates become access events, named by their fingerprint');

# ---- check_request() behind a proxy ----
$sql->(q{INSERT INTO apikey.scope_map (method, path_pattern, scope, require_signature) VALUES
    ('GET', '/rpc/items', 'items:read', false), ('GET', '/rpc/admin', 'admin', false),
    ('POST', '/rpc/pay', NULL, true)});
my $api_key = $sql->(q{SELECT token FROM apikey.issue('bob', scopes => '{items:read}')});

sub via_proxy
{
	my ($path, $headers, %opt) = @_;
	my $method = $opt{method} // 'GET';
	my $json = JSON::PP->new->canonical->encode($headers);
	my $setting = $opt{header} // 'x-client-cert';
	my ($r, $o, $e) = $node->psql('postgres', sprintf(q{
        SET apikey.certificate_header = %s;
        BEGIN;
        SELECT set_config('apikey.authenticator_roles', quote_ident(session_user), true);
        SET LOCAL ROLE regress_web;
        SELECT set_config('request.method', %s, true), set_config('request.path', %s, true),
               set_config('request.headers', %s, true);
        SELECT apikey.check_request();
        SELECT 'admitted:' || apikey.current_owner() || ':' || coalesce(apikey.current_key_id()::text, 'no key')
               || ':' || coalesce(current_setting('response.headers', true), '');
        COMMIT;}, lit($setting), lit($method), lit($path), lit($json)));
	return $o =~ /admitted:(.*)/ ? "admitted $1" : ($e =~ /"details":"(\w+)"/)[0] // $e;
}

my $pem_escaped = pem('client1') =~ s/([^A-Za-z0-9\-_.~])/sprintf('%%%02X', ord($1))/gre;
like(via_proxy('/rpc/items', { 'x-client-cert' => $fp1 }), qr/^admitted alice:no key:\[\{"RateLimit-Policy"/,
	'the fingerprint in the trusted header: admitted as the owner, no key, with the tier\'s rate-limit headers');
like(via_proxy('/rpc/items', { 'x-client-cert' => fingerprint('client1') }), qr/^admitted alice/, 'with colons');
like(via_proxy('/rpc/items', { 'x-client-cert' => $pem_escaped }), qr/^admitted alice/,
	'the URL-encoded PEM, as nginx\'s $ssl_client_escaped_cert');
like(via_proxy('/rpc/items', { 'x-forwarded-client-cert' => "By=spiffe://acme;Hash=$fp1;Subject=\"O=Acme,CN=client one\"" },
	header => 'x-forwarded-client-cert'), qr/^admitted alice/, "Envoy's x-forwarded-client-cert (its Hash=)");
is(via_proxy('/rpc/items', { 'x-client-cert' => plain_fingerprint('stranger') }), 'CERT_UNKNOWN', 'an unknown certificate: CERT_UNKNOWN');
is(via_proxy('/rpc/items', { 'x-client-cert' => 'garbage' }), 'CERT_UNKNOWN', 'a header that names no certificate: CERT_UNKNOWN');
my $fp2 = plain_fingerprint('client2');
my $id2 = $sql->(qq{SELECT id FROM apikey.certificates WHERE fingerprint = '$fp2'});
is(via_proxy('/rpc/admin', { 'x-client-cert' => $fp1 }), 'INSUFFICIENT_SCOPE', 'a scope the registration lacks: INSUFFICIENT_SCOPE');
is(via_proxy('/rpc/pay', { 'x-client-cert' => $fp1 }, method => 'POST'), 'SIGNATURE_REQUIRED',
	'a route that must be signed: SIGNATURE_REQUIRED (signing secrets are keys\')');
like(via_proxy('/rpc/items', { 'x-client-cert' => $fp1 }, header => ''), qr/MALFORMED/,
	'with apikey.certificate_header empty (the default), no header is trusted');
like(via_proxy('/rpc/items', { 'x-client-cert' => $fp1, 'x-api-key' => $api_key }), qr/^admitted bob:[0-9a-f-]{36}:/,
	'a request with a key is the key\'s, whatever certificate it names');
($ret, $out, $err) = $node->psql('postgres', sprintf(q{SET apikey.certificate_header = 'x-client-cert';
    SELECT set_config('request.headers', %s, false); SELECT apikey.check_request()},
	lit(encode_json({ 'x-client-cert' => $fp1 }))));
like($err, qr/request refused: API key required/, 'outside a PostgREST request the header is not trusted');

# the owner's buckets for the tier, shared by the owner's certificates of that tier
is(via_proxy('/rpc/open', { 'x-client-cert' => $fp2 }) =~ /^admitted alice/ ? 1 : 0, 1, 'tier "tiny": first request');
like(via_proxy('/rpc/open', { 'x-client-cert' => $fp2 }), qr/"RateLimit": "\\"hourly\\";r=0/, 'second: its last token');
is(via_proxy('/rpc/open', { 'x-client-cert' => $fp2 }), 'RATE_LIMITED', 'third: RATE_LIMITED, by the tier\'s limit');
$sql->(sprintf(q{SELECT apikey.register_certificate(%s, 'alice', tier => 'tiny')}, lit(pem('stranger'))));
is(via_proxy('/rpc/open', { 'x-client-cert' => plain_fingerprint('stranger') }), 'RATE_LIMITED',
	'another certificate of the same owner and tier draws on the same buckets');
$sql->(qq{SELECT apikey.revoke_certificate('$id2')});
is(via_proxy('/rpc/open', { 'x-client-cert' => $fp2 }), 'CERT_REVOKED', 'a revoked one: CERT_REVOKED');

done_testing();
