# Tokens reach the server log through messages PostgreSQL raises before
# apikey runs, or that quote SQL text: an aborted transaction, a statement
# timeout, a misspelled function, an argument that does not convert,
# log_statement, auto_explain's plans and parameters, the postmaster's
# "Failed process was running" after a backend crash.  Under default
# logging settings (and then verbose ones), none of them may carry a
# token, nor auto_explain a key's digest; each still logs its message.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ApikeyTest;

my $node = apikey_node('hygiene', conf => q{
shared_preload_libraries = 'apikey, auto_explain'
apikey.jwt_secret = 'a-jwt-secret-of-at-least-32-characters'
restart_after_crash = on
});

my $sql = sub { $node->safe_psql('postgres', shift) };
# runs SQL that is meant to fail; returns its stderr
my $fails = sub {
	my ($query) = @_;
	my ($out, $err) = ('', '');
	$node->psql('postgres', $query, stdout => \$out, stderr => \$err, on_error_stop => 0);
	return $err;
};

my @tokens = split /\n/, $sql->(q{
	CREATE TABLE tok AS SELECT key_id, token FROM generate_series(1, 8) AS g,
		LATERAL apikey.issue('owner-' || g) AS t;
	SELECT token FROM tok ORDER BY key_id;
});
is(scalar(@tokens), 8, 'eight tokens');
my $display = sub { substr(shift, 0, length('ak_live_') + 8) };
my $logpos = -s $node->logfile;

# errors PostgreSQL raises before apikey runs, each with a token in its statement
like($fails->(qq{BEGIN; SELECT 1/0; SELECT apikey.check('$tokens[0]'); ROLLBACK;}),
	qr/current transaction is aborted/, 'an aborted transaction refuses the check');
like($fails->(qq{SET statement_timeout = '50ms'; SELECT apikey.check('$tokens[1]'), pg_sleep(5);}),
	qr/statement timeout/, 'a statement timeout');
like($fails->(qq{SELECT apikey.chek('$tokens[2]');}),
	qr/function apikey\.chek\(unknown\) does not exist/, 'a misspelled function');
like($fails->(qq{SELECT apikey.exchange('$tokens[3]', ttl => 'an hour');}),
	qr/invalid input syntax for type interval/, 'a ttl that is not an interval');
like($fails->(qq{SELECT apikey.check('$tokens[3]', cost => 'one');}),
	qr/invalid input syntax for type integer/, 'a cost that is not an integer');
like($fails->(q{SELECT 1/0;}), qr/division by zero/, 'and an error without a token');

my $log = slurp_file($node->logfile, $logpos);
like($log, qr/STATEMENT:  SELECT 1\/0;/, 'the statement of an error without a token is logged');
like($log, qr/ERROR:  current transaction is aborted/, 'the aborted transaction is logged');
like($log, qr/function apikey\.chek\(unknown\) does not exist/, 'the misspelled function is logged');
ok(!grep({ index($log, $_) >= 0 } @tokens[0 .. 3]), 'without the statements that hold tokens');

# log_statement = all: the statement is logged, the token masked
$logpos = -s $node->logfile;
$sql->(qq{SET log_statement = 'all'; SELECT apikey.verify('$tokens[4]');
	PREPARE p(text) AS SELECT apikey.check(\$1); EXECUTE p('$tokens[5]');});
$log = slurp_file($node->logfile, $logpos);
my ($d4, $d5) = map { quotemeta($display->($_)) } @tokens[4, 5];
like($log, qr/statement: SELECT apikey\.verify\('$d4\*{30}'\)/,
	'log_statement: the token is masked but for its display prefix');
like($log, qr/EXECUTE p\('$d5\*{30}'\)/, 'in an EXECUTE too');
ok(!grep({ index($log, $_) >= 0 } @tokens[4, 5]), 'no token');

# auto_explain, with nested statements and verbose plans: no digest
$logpos = -s $node->logfile;
$sql->(q{
	SET auto_explain.log_min_duration = 0;
	SET auto_explain.log_nested_statements = on;
	SET auto_explain.log_verbose = on;
	SELECT count(*) FROM apikey.issue('explained');
	SELECT count(*) FROM apikey.rotate((SELECT key_id FROM tok LIMIT 1));
});
$log = slurp_file($node->logfile, $logpos);
like($log, qr/Query Text: .*INSERT INTO apikey\.keys/, 'auto_explain logged apikey\'s statements');
unlike($log, qr/\\x[0-9a-f]{64}/, 'and no digest');
like($log, qr/\\x\*{64}/, 'the digests are masked');

# a backend crash: the postmaster logs what it was running
$logpos = -s $node->logfile;
my $victim = $node->background_psql('postgres');
my $pid = $victim->query_safe('SELECT pg_backend_pid()');
$victim->query_until(qr/started/, qq{\\echo started
SELECT apikey.check('$tokens[6]'), pg_sleep(600);
});
ok(wait_until(sub {
	$sql->(qq{SELECT count(*) FROM pg_stat_activity WHERE pid = $pid AND query LIKE '%pg_sleep%'}) eq '1' }),
	'the victim runs its statement');
kill 'KILL', $pid;
eval { $victim->quit };
ok(wait_until(sub { slurp_file($node->logfile, $logpos) =~ /database system is ready to accept connections/ }),
	'the server restarts after the crash');
$log = slurp_file($node->logfile, $logpos);
my $d6 = quotemeta($display->($tokens[6]));
like($log, qr/Failed process was running: SELECT apikey\.check\('$d6\*{30}'\)/,
	'the crash report masks the token');
ok(index($log, $tokens[6]) < 0, 'no token');

# security_report(): what can still leak, in this session
is($sql->(q{SELECT current_value || ' ' || ok FROM apikey.security_report() WHERE setting = 'log_statement'}),
	'all false', 'security_report: log_statement = all is reported');
is($sql->(q{SET log_statement = 'none'; SET log_min_duration_statement = -1;
	SELECT string_agg(setting, ',' ORDER BY setting) FROM apikey.security_report()
	 WHERE setting IN ('log_statement', 'log_min_duration_statement') AND ok}),
	'log_min_duration_statement,log_statement', 'and not once set as recommended');
is($sql->(q{SELECT current_value FROM apikey.security_report() WHERE setting = 'auto_explain.log_nested_statements'}),
	'off', 'auto_explain is loaded: its settings are reported');
is($sql->(q{SELECT count(*) FROM apikey.security_report() WHERE reason IS NULL OR recommended IS NULL}),
	'0', 'every row says what to set and why');

# the whole log, once more
$log = slurp_file($node->logfile);
ok(!grep({ index($log, $_) >= 0 } @tokens), 'no token anywhere in the log');

done_testing();
