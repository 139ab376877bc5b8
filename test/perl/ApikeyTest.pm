# What the TAP tests (test/t/*.pl) share: a node that preloads apikey and
# has the extension, and waits that poll with a deadline instead of
# sleeping.
#
# "make installcheck-tap" and "make check-tap" put this directory in the
# tests' @INC (PROVE_FLAGS = -I test/perl).
package ApikeyTest;

use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

our @EXPORT = qw(apikey_node poll_ok wait_until);

# apikey_node(NAME, OPTION => VALUE...)
#
# A new node whose postgresql.conf preloads apikey, started, with
# CREATE EXTENSION apikey done in database postgres.  Options:
#   conf       more postgresql.conf lines
#   init       a hash of init()'s arguments, e.g. { allows_streaming => 1 }
#   env        a hash of environment variables the server starts with
#   preload    0: do not preload apikey
#   extension  0: do not create the extension (the test does, later)
#   start      0: leave the node stopped, without the extension
#   port       the node's port (a test that listens on TCP picks its own)
sub apikey_node
{
	my ($name, %opt) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name, $opt{port} ? (port => $opt{port}) : ());

	$node->init(%{ $opt{init} // {} });
	my $conf = ($opt{preload} // 1) ? "shared_preload_libraries = 'apikey'\n" : '';
	$conf .= $opt{conf} // '';
	$node->append_conf('postgresql.conf', $conf) if $conf ne '';
	return $node unless $opt{start} // 1;

	{
		local %ENV = (%ENV, %{ $opt{env} // {} });
		$node->start;
	}
	$node->safe_psql('postgres', 'CREATE EXTENSION apikey') if $opt{extension} // 1;
	return $node;
}

# poll_ok(NODE, DBNAME, SQL, EXPECTED, TEST_NAME)
#
# Passes as soon as SQL returns EXPECTED in DBNAME; fails once the test
# timeout has passed (poll_query_until).  No test asserts a timing.
sub poll_ok
{
	my ($node, $dbname, $sql, $expected, $test_name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	return ok($node->poll_query_until($dbname, $sql, $expected), $test_name);
}

# wait_until(CODE)
#
# Calls CODE every 100 ms until it returns true, for at most the test
# timeout; returns its last result.
sub wait_until
{
	my ($code) = @_;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	my $done;

	until (($done = $code->()) || time() >= $deadline)
	{
		usleep(100_000);
	}
	return $done;
}

1;
