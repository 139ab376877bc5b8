# No token reaches a log line, an error message, a setting or a table.
#
# The server logs every statement and every error with its statement, at
# the most verbose error format.  Tokens are created and used inside the
# server (never sent back as SQL text), through every lifecycle and
# verification path, including failing ones; then the log, the tables and
# the settings are searched for them.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ApikeyTest;

my $static = 'static-dev-key-' . join('', map { ('a' .. 'z')[ rand 26 ] } 1 .. 20);

my $node = apikey_node('secrets', env => { APIKEY_STATIC_KEY => $static }, conf => q{
log_statement = all
log_min_error_statement = debug5
log_min_messages = info
log_error_verbosity = verbose
log_parameter_max_length = -1
});

my $sql = sub { $node->safe_psql('postgres', shift) };

$sql->(q{
    CREATE TABLE tok AS
        SELECT t.key_id, t.token FROM generate_series(1, 5) AS g,
               LATERAL apikey.issue('owner-' || g, name => 'leak test ' || g,
                                    scopes => '{read}', allowed_ips => '{10.0.0.0/8}') AS t;
});

# verification on every path, successful or not
$sql->(q{
    SELECT apikey.verify(token) FROM tok;
    SELECT apikey.verify(token, 'read', '10.0.0.1') FROM tok;
    SELECT apikey.verify(token, 'write', '10.0.0.1') FROM tok;
    SELECT apikey.verify(token, 'read', '11.0.0.1') FROM tok;
    SELECT apikey.verify(left(token, -1) || 'x') FROM tok;
    SELECT apikey.verify(token || token) FROM tok;
});

# rotation, update, revocation, each writing audit rows
$sql->(q{
    INSERT INTO tok SELECT r.key_id, r.token FROM tok, LATERAL apikey.rotate(tok.key_id, '1 hour') AS r
     WHERE tok.key_id = (SELECT key_id FROM tok ORDER BY key_id LIMIT 1);
    SELECT apikey.update(key_id, '{"name": "renamed"}') FROM tok WHERE key_id IN (SELECT key_id FROM tok LIMIT 2);
    SELECT apikey.revoke(key_id, 'test') FROM tok;
    SELECT apikey.verify(token) FROM tok;
});

# failing statements that have a token in their data
my ($ret, $out, $err) = $node->psql('postgres',
	q{SELECT (apikey.verify(token)).code::int FROM tok});
isnt($ret, 0, 'a failing statement over tokens fails');
($ret, $out, $err) = $node->psql('postgres',
	q{SELECT (apikey.verify(token)).valid::int / 0 FROM tok});
isnt($ret, 0, 'another failing statement over tokens fails');
like($err, qr/division by zero/, 'with an error of its own');

# the static key from the environment: shown as a digest only
my $shown = $sql->(q{SHOW apikey.static_key});
like($shown, qr/^blake2b:[0-9a-f]{64}$/, 'the static key setting shows a digest');
is($sql->(q{SELECT count(*) FROM pg_settings WHERE setting LIKE '%static-dev-key%'}),
	'0', 'no setting holds the static key');
# (sent as COPY data, which no log setting records, as a token in a request
# header never appears in SQL text)
is($node->safe_psql('postgres',
		"CREATE TABLE dev (k text);\nCOPY dev FROM STDIN;\n$static\n\\.\n"
		  . "SELECT (apikey.verify(k)).code FROM dev;"),
	'VALID', 'the static key from APIKEY_STATIC_KEY verifies');

# a rejected static key is not quoted in the error (with statement logging
# off for this session: the SET statement itself carries the value)
($ret, $out, $err) = $node->psql('postgres', q{
    SET log_statement = none;
    SET log_min_error_statement = panic;
    SET apikey.static_key = 'tooshort-secret';
});
like($err, qr/invalid value for parameter "apikey.static_key"/, 'a short static key is refused');
unlike($err, qr/tooshort-secret/, 'without quoting it');

my @tokens = split /\n/, $sql->(q{SELECT token FROM tok});
is(scalar(@tokens), 6, 'six tokens were issued');

# An error raised deep in a verification (here: its tier's table is gone)
# is logged without the statement that carries the token.  Statement
# logging is off for this session, as it would be for an application role.
# The key was verified before: without the shared key cache, this new
# backend reads it from the tables.
my $literal = $tokens[1];
$sql->('ALTER SYSTEM SET apikey.shared_key_cache = off');
$node->reload;
$node->poll_query_until('postgres', 'SHOW apikey.shared_key_cache', 'off')
  or die 'apikey.shared_key_cache stayed on';
($ret, $out, $err) = $node->psql('postgres', qq{
    SET log_statement = none;
    SET log_min_error_statement = error;
    BEGIN;
    ALTER TABLE apikey.tiers RENAME TO tiers_gone;
    SELECT apikey.verify('$literal');
    ROLLBACK;
    SELECT 1/0 AS unrelated_error;
}, on_error_stop => 0);
$sql->('ALTER SYSTEM RESET apikey.shared_key_cache');
$node->reload;
like($err, qr/relation "apikey.tiers" does not exist/, 'a miss without its tier table fails');
my $log_now = slurp_file($node->logfile);
like($log_now, qr/ERROR:  55000: relation "apikey.tiers" does not exist/, 'the error is logged');
like($log_now, qr/STATEMENT:\s+SELECT 1\/0 AS unrelated_error/,
	'a later unrelated error still logs its statement');

# nothing holds a token: not the apikey tables, not the log
is($sql->(q{
    SELECT count(*) FROM tok,
           (SELECT string_agg(k::text, ' ') AS k FROM apikey.keys k) AS ks,
           (SELECT string_agg(a::text, ' ') AS a FROM apikey.audit_log a) AS al
     WHERE ks.k LIKE '%' || tok.token || '%' OR al.a LIKE '%' || tok.token || '%'}),
	'0', 'no token in apikey.keys or apikey.audit_log');

# the application's own table "tok" holds the tokens: its CREATE is logged
# without them, and no line of the log carries one
my $log = slurp_file($node->logfile);
like($log, qr/CREATE TABLE tok AS/, 'statements were logged');
like($log, qr/division by zero/, 'errors were logged with their statement');
my $leaks = grep { index($log, $_) >= 0 } (@tokens, $static, 'tooshort-secret');
is($leaks, 0, 'no token, no static key in the server log');

$node->stop;
done_testing();
