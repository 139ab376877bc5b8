# The token format and its digest, checked by independent implementations:
# zlib's CRC-32 (Compress::Zlib) and BLAKE2b-256 keyed with the pepper
# (Python's hashlib).  Also: the pepper file is required to be private and
# well formed, and changing it makes every stored key unknown.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Compress::Zlib ();
use Test::More;
use ApikeyTest;

my @alphabet = ('0' .. '9', 'A' .. 'Z', 'a' .. 'z');

sub base62_6
{
	my ($v) = @_;
	my $s = '';
	for (1 .. 6) { $s = $alphabet[ $v % 62 ] . $s; $v = int($v / 62); }
	return $s;
}

my $python = -x '/usr/bin/python3' ? '/usr/bin/python3' : undef;

sub blake2b_256
{
	my ($token, $pepper_hex) = @_;
	my $program = 'import hashlib,sys; t,k=sys.argv[1],bytes.fromhex(sys.argv[2]); '
	  . 'print(hashlib.blake2b(t.encode(), digest_size=32, key=k).hexdigest())';
	my $out = `$python -c '$program' '$token' '$pepper_hex'`;
	chomp $out;
	return $out;
}

my $pepper_file = PostgreSQL::Test::Utils::tempdir . '/pepper';
my $pepper = join '', map { sprintf '%02x', int(rand 256) } 1 .. 32;
PostgreSQL::Test::Utils::append_to_file($pepper_file, "$pepper\n");
chmod 0600, $pepper_file;
my $node = apikey_node('crypto', conf => "apikey.pepper_file = '$pepper_file'\n");

$node->safe_psql('postgres', q{
    CREATE TABLE tok AS
        SELECT t.key_id, t.token, t.display_prefix, p AS prefix
          FROM generate_series(1, 60) AS g,
               LATERAL (SELECT (ARRAY['ak_live', 'sk', 'myapp_prod_v2'])[1 + g % 3] AS p) AS x,
               LATERAL apikey.issue('crypto-' || g, prefix => x.p) AS t;
});
my @rows = split /\n/, $node->safe_psql('postgres',
	q{SELECT t.token, t.display_prefix, t.prefix, encode(k.key_hash, 'hex')
        FROM tok t JOIN apikey.keys k ON k.id = t.key_id});
is(scalar(@rows), 60, 'sixty tokens');

my ($shape, $crc, $display, $digest) = (0, 0, 0, 0);
foreach my $row (@rows)
{
	my ($token, $dp, $prefix, $hash) = split /\|/, $row;
	$shape++ if $token =~ /^\Q$prefix\E_[0-9A-Za-z]{38}$/;
	my $random = substr($token, 0, length($token) - 6);
	$crc++ if base62_6(Compress::Zlib::crc32($random)) eq substr($token, -6);
	$display++ if $dp eq substr($token, 0, length($prefix) + 1 + 8);
	$digest++ if $python && blake2b_256($token, $pepper) eq $hash;
}
is($shape, 60, 'every token is <prefix>_ and 38 base62 characters');
is($crc, 60, 'every checksum is zlib CRC-32 of <prefix>_<random>, base62, 6 digits');
is($display, 60, 'every display prefix is <prefix>_ and 8 characters');
SKIP:
{
	skip 'no python3 for an independent BLAKE2b', 1 unless $python;
	is($digest, 60, 'every stored digest is BLAKE2b-256 of the token keyed with the pepper');
}

# the pepper survives a restart (it is a file, not memory)
$node->restart;
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM tok WHERE (apikey.verify(token)).valid}),
	'60', 'after a restart every key verifies');

# a new pepper makes every stored digest unknown
$node->stop;
unlink $pepper_file;
PostgreSQL::Test::Utils::append_to_file($pepper_file, ('ab' x 32) . "\n");
chmod 0600, $pepper_file;
$node->start;
is($node->safe_psql('postgres',
		q{SELECT string_agg(DISTINCT (apikey.verify(token)).code, ',') FROM tok}),
	'NOT_FOUND', 'with another pepper no key is found');

# a pepper file others can read, or a malformed one, stops the server
$node->stop;
chmod 0644, $pepper_file;
ok(!$node->start(fail_ok => 1), 'a world-readable pepper file stops the server');
like(slurp_file($node->logfile), qr/apikey pepper file ".*" has group or world access/,
	'and says why');
chmod 0600, $pepper_file;
unlink $pepper_file;
PostgreSQL::Test::Utils::append_to_file($pepper_file, "not-hex\n");
chmod 0600, $pepper_file;
ok(!$node->start(fail_ok => 1), 'a malformed pepper file stops the server');
like(slurp_file($node->logfile), qr/apikey pepper file ".*" is not valid/, 'and says why');

done_testing();
