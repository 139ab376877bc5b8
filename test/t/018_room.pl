# Room in shared memory (issue "Room to grow"):
#  - nothing is dropped: with a usage store far smaller than the keys and
#    endpoints in use, every request is in usage_hourly, exactly;
#  - the tables grow with the work: thousands of keys get buckets, and no
#    request is refused while the budget has room;
#  - when a class has spent what the budget allows it, requests are refused
#    (on_table_full = closed) or admitted without limit (open), stats say
#    so, and a WARNING is logged once its use passes 80%.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ApikeyTest;

# ---- nothing is dropped ----
my $node = apikey_node('room', conf => q{
apikey.authenticator_roles = 'postgres'
apikey.max_usage_entries = 50
apikey.flush_interval = '100ms'
apikey.usage_flush_interval = '1h'
log_statement = none
});
$node->safe_psql('postgres', q{
    CREATE TABLE k AS
    SELECT g, i.token, i.key_id FROM generate_series(1, 120) AS g,
           LATERAL apikey.issue('room', name => g::text, rate_limits => '[]') AS i;
    -- requests as PostgREST sends them: the authenticator, switched to a role
    CREATE ROLE web;
    GRANT USAGE ON SCHEMA apikey TO web;
    GRANT SELECT ON k TO web});

# 4 sessions at once, each every key on 3 endpoints: 1,440 requests over
# 480 (key, endpoint) entries and 120 heads, in a store of 50
my $script = q{
    SET ROLE web;
    DO $$
    DECLARE r record;
    BEGIN
        FOR r IN SELECT token FROM k, generate_series(1, 3) AS e(n) ORDER BY random() LOOP
            PERFORM set_config('request.path', '/e' || (random() * 2)::int, true);
            PERFORM apikey.check(r.token);
        END LOOP;
    END $$};
my @sessions = map { $node->background_psql('postgres') } 1 .. 4;
$_->query_until(qr/started/, "\\echo started\n$script;\n\\echo done\n") for @sessions;
$_->quit for @sessions;
poll_ok($node, 'postgres', q{
    SELECT sum(requests) || ' ' || sum(allowed)
      FROM apikey.usage_hourly WHERE key_id IN (SELECT key_id FROM k)},
	'1440 1440', 'usage_hourly counts every one of 1,440 requests, exactly');
is($node->safe_psql('postgres', q{
    SELECT count(DISTINCT key_id) FROM apikey.usage_hourly WHERE key_id IN (SELECT key_id FROM k)}),
	'120', 'for each of the 120 keys');
is($node->safe_psql('postgres', q{
    SELECT sum(requests) > 0 FROM apikey.usage_hours WHERE key_id IN (SELECT key_id FROM k)}),
	't', 'the worker wrote usage early, as room ran short');
ok(!$node->log_contains(qr/usage records/), 'nothing was lost, nor logged as lost');

# an endpoint flood from one key: its hour keeps 31 endpoints and "(other)"
$node->safe_psql('postgres', q{
    SET ROLE web;
    DO $$
    BEGIN
        FOR i IN 1 .. 200 LOOP
            PERFORM set_config('request.path', '/junk/' || i, true);
            PERFORM apikey.check((SELECT token FROM k WHERE g = 1));
        END LOOP;
    END $$});
poll_ok($node, 'postgres', q{
    SELECT (SELECT count(*) FROM jsonb_object_keys(endpoints)) || ' ' ||
           (SELECT sum((v->>'requests')::int) FROM jsonb_each(endpoints) AS e(p, v)) || ' ' ||
           (endpoints ? '(other)')::text
      FROM apikey.usage_hourly WHERE key_id = (SELECT key_id FROM k WHERE g = 1)},
	'32 212 true', 'made-up paths of one key: 31 endpoints and "(other)", every request counted');
$node->stop;

# ---- a budget ----
$node = apikey_node('budget', conf => q{
apikey.shared_memory_budget = '1MB'
log_statement = none
});
$node->safe_psql('postgres', q{
    CREATE TABLE b AS
    SELECT g, i.token FROM generate_series(1, 6000) AS g,
           LATERAL apikey.issue('budget', name => g::text,
                                rate_limits => '[{"limit": 1, "period": "1 hour"}]') AS i});
my ($first, $first_refused) = split /\|/, $node->safe_psql('postgres', q{
    SELECT count(*) FILTER (WHERE c.allowed), count(*) FILTER (WHERE c.code = 'OVERLOADED')
      FROM b, apikey.check(b.token) AS c WHERE g <= 2000});
is("$first $first_refused", '2000 0', 'the tables grow: 2,000 keys get buckets, none refused');

my ($rest, $refused) = split /\|/, $node->safe_psql('postgres', q{
    SELECT count(*) FILTER (WHERE c.allowed), count(*) FILTER (WHERE c.code = 'OVERLOADED')
      FROM b, apikey.check(b.token) AS c WHERE g > 2000});
cmp_ok($refused, '>', 0, "a 1 MB budget is spent: $refused of 4,000 more are refused as OVERLOADED");
is($rest + $refused, 4000, 'the others admitted');
is($node->safe_psql('postgres', q{
    SELECT key_buckets > 3000 AND shared_memory_used <= shared_memory_budget
           AND shared_memory_budget = 1024 * 1024
      FROM apikey.stats}),
	't', 'stats: the buckets, the memory used, never above the budget');
ok($node->wait_for_log(qr/WARNING:  apikey's key memory uses \d+% of what apikey.shared_memory_budget allows it/),
	'a WARNING says so once its use passes 80%');
is($node->safe_psql('postgres', q{
    SET apikey.on_table_full = open;
    SELECT string_agg(DISTINCT c.code || ' ' || coalesce(c.remaining::text, 'unlimited'), ', ')
      FROM b, apikey.check(b.token) AS c WHERE g > 5990}),
	'OK unlimited', 'with on_table_full = open they are admitted, without limit');
is(scalar(() = slurp_file($node->logfile) =~ /key memory uses \d+% of what/g), 1, 'the WARNING is logged once');

$node->stop;

# ---- access events without room ----
# The worker writes events only every hour here, and the budget leaves the
# event table little room: refused requests from more addresses than it
# holds are counted in one entry of the window and code alone, which names
# no address, or dropped and counted; a quota alert that finds no room is dropped and counted, and
# never written without its key.
$node = apikey_node('events', conf => q{
apikey.shared_memory_budget = '1MB'
apikey.flush_interval = '1h'
apikey.denied_audit_window = '1s'
log_statement = none
});
$node->safe_psql('postgres', q{
    CREATE TABLE q AS SELECT key_id, token FROM apikey.issue('alerts');
    SELECT apikey.update(key_id, '{"daily_quota": 10}') FROM q});
$node->safe_psql('postgres', q{
    SELECT count(apikey.check('ak_live_' || lpad(g::text, 38, 'x'),
                              client_ip => '10.1.' || (g / 250) || '.' || (g % 250)))
      FROM generate_series(1, 600) AS g});
my $dropped_before = $node->safe_psql('postgres', 'SELECT events_dropped FROM apikey.stats');
is($node->safe_psql('postgres',
		q{SELECT string_agg((apikey.check(token)).code, ' ') FROM q, generate_series(1, 9)}),
	'OK OK OK OK OK OK OK OK OK', 'the key crosses 80% of its quota with the event table full');
cmp_ok($node->safe_psql('postgres', 'SELECT events_dropped FROM apikey.stats'), '>', $dropped_before,
	'... its alert is dropped, and counted');
# a reload with a shorter interval applies at once, not after the hour
$node->append_conf('postgresql.conf', "apikey.flush_interval = '100ms'");
$node->reload;
poll_ok($node, 'postgres', q{
    SELECT coalesce(sum((detail->>'count')::bigint), 0) + (SELECT events_dropped FROM apikey.stats)
      FROM apikey.audit_log WHERE action = 'denied'}, '601',
	'every refused request is in the audit log or counted as dropped, and so is the alert');
is($node->safe_psql('postgres', q{
    SELECT count(*) FROM apikey.audit_log
     WHERE action = 'denied' AND (detail->>'count')::bigint > 1 AND client_ip IS NOT NULL}),
	'0', 'no row counts the requests of other addresses under one address');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM apikey.audit_log WHERE action = 'quota_alert' AND key_id IS NULL}),
	'0', 'no quota alert is written without its key');
$node->stop;
done_testing();
