# Quota counters that leave shared memory (issue "Quota counters must not
# lock other keys out"): with room for far fewer counters than keys that
# have quotas,
#  - keys never used are admitted, before and after a restart;
#  - a counter written to apikey.quota_counters leaves memory when room is
#    needed and is read back exactly: under 4 concurrent sessions churning
#    through the counters, no key is ever admitted beyond its quota;
#  - stats tell quota counters from buckets.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ApikeyTest;

my $node = apikey_node('quota_eviction', conf => q{
apikey.max_buckets = 100
apikey.flush_interval = '50ms'
log_statement = none
});
$node->safe_psql('postgres', q{
    CREATE TABLE q AS
    SELECT g, i.token, i.key_id FROM generate_series(1, 300) AS g,
           LATERAL apikey.issue('quota', name => g::text, rate_limits => '[]') AS i;
    UPDATE apikey.keys SET daily_quota = 3;
    CREATE TABLE admitted (g int, allowed bool, code text);
});

# the first request of every key, 50 keys at a time: each batch waits for
# the worker to write the last, so that at most 100 counters are unwritten
for my $batch (0 .. 5)
{
	my ($from, $to) = ($batch * 50 + 1, $batch * 50 + 50);
	$node->safe_psql('postgres', qq{
        INSERT INTO admitted SELECT g, c.allowed, c.code
          FROM q, apikey.check(q.token) AS c WHERE g BETWEEN $from AND $to});
	$node->poll_query_until('postgres',
		"SELECT count(*) >= $to FROM apikey.quota_counters", 't');
}
is($node->safe_psql('postgres', q{SELECT count(*) FILTER (WHERE allowed) FROM admitted}),
	'300', '300 keys with quotas, room for 100 counters: every first request is admitted');
is($node->safe_psql('postgres', q{
    SELECT quota_counters <= 100 AND key_buckets = 0 FROM apikey.stats}),
	't', 'stats: at most 100 quota counters, and they are not buckets');

# 4 sessions, each every key 3 times in its own random order: 3,600
# requests for 600 units left; counters leave and come back all along.
# Each session takes a breath between requests, so that the unwritten
# counters (which must stay) fit in the 100.
my $script = q{
    INSERT INTO admitted
    SELECT g, c.allowed, c.code
      FROM (SELECT g, token FROM q, generate_series(1, 3) ORDER BY random()) AS r,
           LATERAL (SELECT pg_sleep(0.004 + 0 * r.g)) AS breath,
           LATERAL apikey.check(r.token) AS c};
my @sessions = map { $node->background_psql('postgres') } 1 .. 4;
$_->query_until(qr/started/, "\\echo started\n$script;\n\\echo done\n") for @sessions;
$_->quit for @sessions;

is($node->safe_psql('postgres', q{
    SELECT count(*) FROM (SELECT g FROM admitted GROUP BY g
                          HAVING count(*) FILTER (WHERE allowed) > 3) AS over}),
	'0', 'no key is admitted beyond its quota of 3');
cmp_ok($node->safe_psql('postgres', q{
    SELECT count(*) FROM (SELECT g FROM admitted GROUP BY g
                          HAVING count(*) FILTER (WHERE allowed) = 3) AS used_up}),
	'>=', 250, 'most keys used their whole quota');
like($node->safe_psql('postgres', q{
    SELECT string_agg(DISTINCT code, ',' ORDER BY code) FROM admitted WHERE NOT allowed}),
	qr/^(OVERLOADED,)?QUOTA_EXCEEDED$/,
	'the others were refused for their quota, or for want of room when unwritten counters filled it');
poll_ok($node, 'postgres', q{
    SELECT count(*) FROM q JOIN apikey.quota_counters AS c ON c.subject = q.key_id
      JOIN (SELECT g, count(*) FILTER (WHERE allowed) AS n FROM admitted GROUP BY g) AS a USING (g)
     WHERE c.day_used = a.n}, '300',
	'quota_counters holds, for every key, exactly what was admitted');

# a restart: unused keys are admitted, used-up ones are not
$node->safe_psql('postgres', q{
    INSERT INTO q SELECT 1000 + g, i.token, i.key_id FROM generate_series(1, 50) AS g,
           LATERAL apikey.issue('quota', name => 'fresh' || g, rate_limits => '[]') AS i;
    UPDATE apikey.keys SET daily_quota = 3 WHERE daily_quota IS NULL});
$node->restart;
is($node->safe_psql('postgres', q{
    SELECT count(*) FILTER (WHERE c.allowed) || '/' || count(*)
      FROM q, apikey.check(q.token) AS c WHERE g > 1000}),
	'50/50', 'after a restart, keys never used are admitted');
is($node->safe_psql('postgres', q{
    SELECT count(*) FILTER (WHERE c.code = 'QUOTA_EXCEEDED')
      FROM q, apikey.check(q.token) AS c
     WHERE g <= 50 AND g IN (SELECT g FROM admitted GROUP BY g
                              HAVING count(*) FILTER (WHERE allowed) = 3)}),
	$node->safe_psql('postgres', q{
    SELECT count(*) FROM (SELECT g FROM admitted WHERE g <= 50 GROUP BY g
                          HAVING count(*) FILTER (WHERE allowed) = 3) AS used_up}),
	'and keys that used their quota are still refused: the counts came back from the table');

$node->stop;
done_testing();
