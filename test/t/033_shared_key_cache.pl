# The shared key cache (issue 18): a key one backend read is shared with
# the others, and a change committed anywhere is seen by the first
# verification that starts after COMMIT returned, in a backend whose own
# cache is empty -- which would find the shared entry, if it were stale.
# Every safe_psql below is a new backend.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ApikeyTest;

my $node = apikey_node('sharedcache', conf => "log_statement = none\n");
$node->safe_psql('postgres', q{
    INSERT INTO apikey.tiers (name, rate_limits)
    VALUES ('gold', '[{"name": "hour", "limit": 100, "period": "1 hour"}]');
    CREATE TABLE tok (what text PRIMARY KEY, token text, key_id uuid);
    INSERT INTO tok
    SELECT w, i.token, i.key_id
      FROM unnest('{revoked,tier,updated,own,rolledback,dropped}'::text[]) AS w,
           LATERAL apikey.issue('alice', name => w, tier => 'gold', scopes => '{a}') AS i;
});

sub code
{
	my ($what) = @_;
	return $node->safe_psql('postgres',
		"SELECT (apikey.verify(token)).code FROM tok WHERE what = '$what'");
}

sub limit_value
{
	my ($what) = @_;
	return $node->safe_psql('postgres',
		"SELECT (apikey.check(token, cost => 0)).limit_value FROM tok WHERE what = '$what'");
}

# revoked: shared by one backend, revoked by another, verified by a third
is(code('revoked'), 'VALID', 'a key verified in one backend (and shared)');
my $hits = $node->safe_psql('postgres', 'SELECT shared_key_hits FROM apikey.stats');
is(code('revoked'), 'VALID', 'and in another, from the shared cache');
is($node->safe_psql('postgres', "SELECT shared_key_hits - $hits, shared_keys > 0 FROM apikey.stats"),
	'1|t', 'which counted one shared hit');
$node->safe_psql('postgres', q{SELECT apikey.revoke(key_id) FROM tok WHERE what = 'revoked'});
is(code('revoked'), 'REVOKED', 'revoked in a third: a new backend sees it at once');

# a tier's change empties every cache, the shared one too
is(limit_value('tier'), '100', "the tier's limit, shared");
$node->safe_psql('postgres', q{
    UPDATE apikey.tiers SET rate_limits = '[{"name": "hour", "limit": 7, "period": "1 hour"}]'
     WHERE name = 'gold'});
is(limit_value('tier'), '7', "the tier's new limit, in a new backend");

# an update of the key
is($node->safe_psql('postgres',
		q{SELECT (apikey.verify(token)).scopes FROM tok WHERE what = 'updated'}),
	'{a}', 'scopes, shared');
$node->safe_psql('postgres',
	q{SELECT apikey.update(key_id, '{"scopes": ["b"]}') FROM tok WHERE what = 'updated'});
is($node->safe_psql('postgres',
		q{SELECT (apikey.verify(token)).scopes FROM tok WHERE what = 'updated'}),
	'{b}', 'the new scopes, in a new backend');

# a transaction that changed a key reads its own change, not the shared copy
is(code('own'), 'VALID', 'shared');
is($node->safe_psql('postgres', q{
    BEGIN;
    SELECT apikey.revoke(key_id) FROM tok WHERE what = 'own';
    SELECT (apikey.verify(token)).code FROM tok WHERE what = 'own';
    ROLLBACK;
}), "t\nREVOKED", 'its own revocation, in the revoking transaction');
is(code('own'), 'VALID', 'rolled back: valid again in a new backend');

# ... and does not share it: nobody else may see an uncommitted change
is($node->safe_psql('postgres', q{
    BEGIN;
    SELECT apikey.revoke(key_id) FROM tok WHERE what = 'rolledback';
    SELECT (apikey.verify(token)).code FROM tok WHERE what = 'rolledback';
    ROLLBACK;
}), "t\nREVOKED", 'revoked and verified in a transaction, first read there');
is(code('rolledback'), 'VALID', 'rolled back: the uncommitted version was not shared');

# the shared cache is of one apikey.keys: dropped and created again, the
# old keys are gone
my $dropped = $node->safe_psql('postgres', q{SELECT token FROM tok WHERE what = 'dropped'});
is($node->safe_psql('postgres', "SELECT (apikey.verify('$dropped')).code"), 'VALID', 'shared');
$node->safe_psql('postgres', 'DROP EXTENSION apikey');
$node->safe_psql('postgres', 'CREATE EXTENSION apikey');
isnt($node->safe_psql('postgres', "SELECT (apikey.verify('$dropped')).code"), 'VALID',
	'the extension dropped and created again: the old key is not found');

# off, verification is the same
$node->safe_psql('postgres', 'ALTER SYSTEM SET apikey.shared_key_cache = off');
$node->reload;
$node->poll_query_until('postgres', 'SHOW apikey.shared_key_cache', 'off')
  or die 'apikey.shared_key_cache stayed on';
my ($token) = $node->safe_psql('postgres', q{SELECT token FROM apikey.issue('bob')});
is($node->safe_psql('postgres', "SELECT (apikey.verify('$token')).code"), 'VALID',
	'apikey.shared_key_cache = off: verified from the tables');

$node->stop;
done_testing();
