# Without shared_preload_libraries = 'apikey' the extension can be created,
# but every SQL entry point fails with SQLSTATE 55000 -- and the failing
# statement, which may carry a token, is not copied into the server log.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ApikeyTest;

my $node = apikey_node('not_preloaded', preload => 0, extension => 0,
	conf => "log_statement = none\nlog_min_error_statement = error\n");

$node->safe_psql('postgres', 'CREATE EXTENSION apikey');
pass('CREATE EXTENSION works without preloading');

# Every C entry point of the extension, called with NULL arguments; the
# helpers that must work anywhere (a CHECK constraint, the status of
# key_list, triggers) excepted.
my $calls = $node->safe_psql('postgres', q{
    SELECT format('SELECT %s(%s)', p.oid::regproc,
                  (SELECT string_agg('NULL::' || format_type(t, NULL), ', ')
                     FROM unnest(p.proargtypes) AS t))
      FROM pg_proc p
     WHERE p.pronamespace = 'apikey'::regnamespace
       AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c')
       AND p.prorettype <> 'trigger'::regtype
       AND p.proname NOT IN ('_check_rate_limits', '_key_status', '_quota_counts',
                             '_serve_database', '_name_subject')
     ORDER BY 1});
my @calls = split /\n/, $calls;
cmp_ok(scalar(@calls), '>=', 9, 'all entry points are enumerated');

foreach my $sql (@calls)
{
	my ($ret, $stdout, $stderr) = $node->psql('postgres', $sql,
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	like($stderr,
		qr/ERROR:  55000: apikey must be loaded via shared_preload_libraries/,
		"$sql fails with 55000");
}

# The view of keys needs no shared memory.
is($node->safe_psql('postgres', q{
    SELECT count(*) FROM apikey.key_list;
    SELECT apikey._key_status(NULL, now() - interval '1 s', NULL, NULL)}),
	"0\nexpired", 'key_list and its status work without preloading');

# A token in the failing statement does not reach the log.
my $token = 'ak_live_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZab';
$node->psql('postgres', "SELECT apikey.verify('$token')");
my $log = slurp_file($node->logfile);
like($log, qr/apikey must be loaded via shared_preload_libraries/,
	'the error is logged');
unlike($log, qr/\Q$token\E/, 'the statement carrying the token is not');

# Restarted with the library preloaded, the same database just works.
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'apikey'\n");
$node->restart;
is($node->safe_psql('postgres',
		"SELECT count(*) FROM apikey.issue('after-restart') AS t, apikey.verify(t.token) AS v WHERE v.valid"),
	'1', 'after preloading, issue and verify work');

$node->stop;
done_testing();
