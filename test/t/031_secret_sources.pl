# Secrets only from trusted places: apikey.static_key and apikey.jwt_secret
# are refused where other roles read them -- ALTER ROLE / ALTER DATABASE
# SET (pg_db_role_setting), CREATE FUNCTION ... SET (pg_proc) -- and in
# ALTER SYSTEM in clear (postgresql.auto.conf); accepted from
# postgresql.conf, from apikey.jwt_secret_file, or as the static key's
# digest.  No refused secret reaches a catalog, a file or the log.
use strict;
use warnings;
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64url);
use PostgreSQL::Test::Utils;
use Test::More;
use ApikeyTest;

my $static = 'clear-static-key-' . join('', map { ('a' .. 'z')[ rand 26 ] } 1 .. 16);
my $jwt = 'clear-jwt-secret-of-32-characters-' . join('', map { ('a' .. 'z')[ rand 26 ] } 1 .. 16);
# log_statement would log every statement as it arrives, before apikey can
# refuse anything (doc/security.md): what is asserted here is that no error
# logs the statement that held a secret.
my $node = apikey_node('secrets_src', conf => q{
log_statement = none
log_min_error_statement = error
});
my $sql = sub { $node->safe_psql('postgres', shift) };
my $fails = sub {
	my ($query) = @_;
	my ($out, $err) = ('', '');
	my $rc = $node->psql('postgres', $query, stdout => \$out, stderr => \$err, on_error_stop => 1);
	return $rc == 0 ? '' : $err;
};
$sql->(q{CREATE ROLE regress_app LOGIN});

# per role, per database, for every role, per function: refused
like($fails->(qq{ALTER ROLE regress_app SET apikey.static_key = '$static'}),
	qr/apikey\.static_key cannot be set for a role, a database, a function or on the command line/,
	'ALTER ROLE SET apikey.static_key is refused');
like($fails->(qq{ALTER ROLE regress_app IN DATABASE postgres SET apikey.jwt_secret = '$jwt'}),
	qr/apikey\.jwt_secret cannot be set for a role/, 'ALTER ROLE IN DATABASE SET apikey.jwt_secret is refused');
like($fails->(qq{ALTER DATABASE postgres SET apikey.jwt_secret = '$jwt'}),
	qr/apikey\.jwt_secret cannot be set/, 'ALTER DATABASE SET is refused');
like($fails->(qq{ALTER ROLE ALL SET apikey.static_key = '$static'}),
	qr/apikey\.static_key cannot be set/, 'ALTER ROLE ALL SET is refused');
like($fails->(qq{CREATE FUNCTION f() RETURNS int LANGUAGE sql SET apikey.jwt_secret = '$jwt' AS 'SELECT 1'}),
	qr/apikey\.jwt_secret cannot be set/, 'a function\'s SET clause is refused');
is($sql->(q{SELECT count(*) FROM pg_db_role_setting, unnest(setconfig) c WHERE c LIKE 'apikey.%'}), '0',
	'nothing reached pg_db_role_setting');

# the static key's digest is no secret: accepted anywhere
my $digest = $sql->(qq{SET apikey.static_key = '$static'; SHOW apikey.static_key});
like($digest, qr/^blake2b:[0-9a-f]{64}$/, 'a session shows the static key as its digest');
like($fails->(qq{ALTER ROLE regress_app SET apikey.static_key = '$static'}), qr/HINT:  .*'\Q$digest\E'/,
	'the refusal names the digest to set instead');
is($fails->(qq{ALTER ROLE regress_app SET apikey.static_key = '$digest'}), '', 'ALTER ROLE SET of the digest works');
is($node->safe_psql('postgres', qq{SELECT (apikey.verify('$static')).code}, extra_params => [ '-U', 'regress_app' ]),
	'VALID', 'and the role verifies the static key');
$sql->(q{ALTER ROLE regress_app RESET apikey.static_key});

# ALTER SYSTEM: refused in clear, the digest accepted
like($fails->(qq{ALTER SYSTEM SET apikey.static_key = '$static'}),
	qr/ALTER SYSTEM cannot set apikey\.static_key in clear.*\n.*\n.*HINT:  .*'\Q$digest\E'/,
	'ALTER SYSTEM SET apikey.static_key in clear is refused, naming the digest');
like($fails->(qq{ALTER SYSTEM SET apikey.jwt_secret = '$jwt'}),
	qr/ALTER SYSTEM cannot set apikey\.jwt_secret in clear/, 'ALTER SYSTEM SET apikey.jwt_secret is refused');
like($fails->(qq{ALTER SYSTEM SET "APIKEY.JWT_SECRET" TO '$jwt'}),
	qr/cannot set apikey\.jwt_secret in clear|cannot set APIKEY\.JWT_SECRET in clear/i, 'whatever the case of its name');
is($fails->(qq{ALTER SYSTEM SET apikey.static_key = '$digest'}), '', 'ALTER SYSTEM SET of the digest works');
$node->reload;
ok(wait_until(sub { $sql->(qq{SELECT (apikey.verify('$static')).code}) eq 'VALID' }),
	'after a reload, the static key verifies in every session');
is($fails->(q{ALTER SYSTEM RESET apikey.static_key}), '', 'ALTER SYSTEM RESET works');
$node->reload;

# apikey.jwt_secret_file
my $file = $node->data_dir . '/../jwt.secret';
PostgreSQL::Test::Utils::append_to_file($file, "$jwt\n");
chmod 0600, $file;
$node->append_conf('postgresql.conf', "apikey.jwt_secret_file = '$file'\n");
$node->reload;
my $token = $sql->(q{SELECT token FROM apikey.issue('jwt-owner')});
my $access;
ok(wait_until(sub {
	$access = $node->safe_psql('postgres', qq{SELECT apikey.exchange('$token')->>'access_token'});
	$access ne '' }), 'exchange() signs with the secret of apikey.jwt_secret_file');
my ($h, $c, $sig) = split /\./, $access;
is($sig, encode_base64url(hmac_sha256("$h.$c", $jwt)), 'the signature is the file secret\'s');
chmod 0644, $file;
$node->append_conf('postgresql.conf', "apikey.jwt_secret_file = '$file'\n");
$node->reload;
ok(wait_until(sub { slurp_file($node->logfile) =~ /must not be accessible to its group or to others/ }),
	'a file others can read is refused at reload');

# nothing refused reached postgresql.auto.conf or the log
my $auto = slurp_file($node->data_dir . '/postgresql.auto.conf');
ok(index($auto, $static) < 0 && index($auto, $jwt) < 0, 'no secret in postgresql.auto.conf');
my $log = slurp_file($node->logfile);
like($log, qr/ALTER SYSTEM cannot set apikey\.static_key in clear/, 'the refusals are logged');
ok(index($log, $static) < 0, 'without the static key');
ok(index($log, $jwt) < 0, 'nor the JWT secret');

done_testing();
