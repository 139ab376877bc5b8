# The apikey worker (doc/apikey.md, "The background worker"): quota counts, usage, last use and access
# events reach their tables within a bounded wait; quota alerts are sent once
# per threshold; rotated and expired keys are revoked; old rows are purged;
# and a task that fails (a table locked too long) is retried without the
# worker dying.  Every wait polls with a deadline; no sleep is an assertion.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ApikeyTest;

my $node = apikey_node('worker', conf => q{
apikey.flush_interval = '300ms'
apikey.usage_flush_interval = '300ms'
apikey.denied_audit_window = '1s'
apikey.maintenance_interval = '500ms'
});
$node->safe_psql('postgres', q{
    CREATE TABLE k AS
    SELECT 'quota' AS what, key_id, token FROM apikey.issue('carol', rate_limits => '[]');
    SELECT apikey.update(key_id, '{"daily_quota": 10, "monthly_quota": 1000}') FROM k;
    -- PostgREST's roles: request settings count only in its requests
    CREATE ROLE web NOLOGIN;
    CREATE ROLE authenticator LOGIN NOINHERIT;
    GRANT web TO authenticator;
    GRANT SELECT ON k TO web;
});

# SQL run as PostgREST runs a request: logged in as authenticator, switched
# to the request's role, with the request's settings
sub as_request
{
	my ($settings, $sql) = @_;
	return $node->safe_psql('postgres', "BEGIN; SELECT set_config('role', 'web', true), $settings; $sql; COMMIT;",
		extra_params => [ '-U', 'authenticator' ]);
}

poll_ok($node, 'postgres', q{SELECT count(*) FROM pg_stat_activity
            WHERE backend_type = 'apikey worker' AND datname = 'postgres'},
	'1', 'the worker of the database runs, in pg_stat_activity');
my $worker_pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'apikey worker'});

# ---- quota counts, usage and last use are flushed ----
my $listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN apikey_quota');

# 9 requests, 5 of them on an endpoint as PostgREST would set it
$node->safe_psql('postgres', q{SELECT apikey.check(token) FROM k, generate_series(1, 4)});
as_request(q{set_config('request.method', 'GET', true), set_config('request.path', '/rpc/report', true)},
	q{SELECT apikey.check(token) FROM k, generate_series(1, 5)});
poll_ok($node, 'postgres', q{SELECT q.day_used, q.month_used, q.day = (now() AT TIME ZONE 'UTC')::date,
                  q.month = date_trunc('month', now() AT TIME ZONE 'UTC')::date,
                  keys.last_used_at > now() - interval '1 minute'
             FROM apikey.keys JOIN k ON k.key_id = keys.id
             JOIN apikey.quota_counters AS q ON q.subject = keys.lineage},
	'9|9|t|t|t', 'quota counts reach quota_counters, and last use the key row');
poll_ok($node, 'postgres', q{SELECT requests, allowed, cost_units, endpoints->'/rpc/report'->>'requests',
                  avg_ms > 0 AND p95_ms >= avg_ms * 0 AND p99_ms >= p95_ms,
                  hour = date_trunc('hour', now())
             FROM apikey.usage_hourly JOIN k USING (key_id)},
	'9|9|9|5|t|t', 'usage of the current hour reaches usage_hourly, with endpoints and latency');

# ---- quota alerts: 80% at the 8th unit, 95% at the 10th, once each ----
# the 10th request crosses 95%; the 11th is refused and alerts nothing
is($node->safe_psql('postgres', q{
    SELECT string_agg((apikey.check(token)).code, ',' ORDER BY g) FROM k, generate_series(1, 2) g}),
	'OK,QUOTA_EXCEEDED', 'the quota admits its 10th unit and refuses the 11th');

my @alerts;
wait_until(sub {
	push @alerts, ($listener->query_safe('SELECT 1') =~
		  /Asynchronous notification "apikey_quota" with payload "(.*?)" received/g);
	return @alerts >= 2;
});
is(scalar(@alerts), 2, 'two notifications: 80% and 95%');
like($alerts[0], qr/"percent": 80\b/, 'the first at 80%');
like($alerts[0], qr/"period": "day"/, 'of the daily quota');
like($alerts[0], qr/^\{"period": "day", "percent": 80, "audit_id": \d+\}$/,
	'the payload says where to look and nothing more: no key, no owner');
like($alerts[1], qr/"percent": 95\b/, 'the second at 95%');
my @audit_ids = map { /"audit_id": (\d+)/ } @alerts;
is($node->safe_psql('postgres', qq{
    SELECT string_agg(format('%s %s %s/%s %s', owner, key_id = (SELECT key_id FROM k WHERE what = 'quota'),
                             detail->>'used', detail->>'quota', detail->>'percent'), '; ' ORDER BY id)
      FROM apikey.audit_log WHERE id IN ($audit_ids[0], $audit_ids[1]) AND action = 'quota_alert'}),
	'carol t 8/10 80; carol t 10/10 95', "the audit rows they name hold the key, its owner, the count and the quota");

# more refused requests and more flushes: nothing more
$node->safe_psql('postgres', q{SELECT apikey.check(token) FROM k, generate_series(1, 5)});
poll_ok($node, 'postgres', q{SELECT requests FROM apikey.usage_hourly JOIN k USING (key_id)},
	'16', 'the refused requests are counted in usage');
is($listener->query_safe('SELECT 1'), '1', 'no further notification');
is($node->safe_psql('postgres', q{
    SELECT string_agg(detail->>'percent', ',' ORDER BY id) FROM apikey.audit_log
     WHERE action = 'quota_alert' AND owner = 'carol' AND actor = 'apikey worker'}),
	'80,95', 'each alert has its audit row');
$listener->quit;

# ---- access events: failed verifications, never the token ----
$node->safe_psql('postgres', q{
    CREATE TABLE d AS SELECT key_id, token FROM apikey.issue('dave');
    SELECT apikey.revoke(key_id) FROM d;
});
my $revoked = $node->safe_psql('postgres', 'SELECT token FROM d');
$node->safe_psql('postgres', qq{SELECT apikey.check('not a token at all', client_ip => '192.0.2.7')});
as_request(q{set_config('request.path', '/items', true), set_config('request.method', 'GET', true)},
	qq{SELECT apikey.check('$revoked', client_ip => '2001:db8::1')});
poll_ok($node, 'postgres', q{SELECT string_agg(format('%s %s %s %s %s %s', status, detail->>'code',
                  coalesce(detail->>'prefix', '-'), client_ip, coalesce(request_method, '-'),
                  coalesce(request_path, '-')), '; ' ORDER BY id)
             FROM apikey.audit_log WHERE action = 'denied'},
	"401 MALFORMED - 192.0.2.7 - -; 401 REVOKED " . substr($revoked, 0, 16) . " 2001:db8::1 GET /items",
	'denied requests reach audit_log with address, endpoint and code');
is($node->safe_psql('postgres', qq{
    SELECT count(*) FROM apikey.audit_log AS a WHERE a::text LIKE '%' || substr('$revoked', 17) || '%'}),
	'0', 'no audit row holds a token beyond its display prefix');
is($node->safe_psql('postgres', q{
    SELECT owner, actor, session_role FROM apikey.audit_log WHERE action = 'denied' AND key_id IS NOT NULL}),
	'dave|web|authenticator', 'a denied key names its owner, and the roles that asked');

# ---- expiry: rotation grace and expires_at, by the worker ----
$node->safe_psql('postgres', q{
    INSERT INTO k SELECT 'rotated', key_id, token FROM apikey.issue('erin');
    SELECT apikey.rotate(key_id, '1 second') FROM k WHERE what = 'rotated';
    INSERT INTO k SELECT 'expiring', key_id, token
      FROM apikey.issue('erin', expires_at => now() + interval '1 second');
});
poll_ok($node, 'postgres', q{SELECT what, status, revoke_reason, revoked_at = expires_at
             FROM k JOIN apikey.key_list l ON l.id = k.key_id
            WHERE what IN ('rotated', 'expiring') ORDER BY what},
	"expiring|expired|expired|t\nrotated|revoked|rotated|t",
	'the worker revokes a rotated key after its grace, and an expired key');
is($node->safe_psql('postgres', q{
    SELECT string_agg(detail->>'reason', ', ' ORDER BY detail->>'reason')
      FROM apikey.audit_log WHERE action = 'expired' AND actor = 'apikey worker'}),
	'expires_at passed, rotation grace ended', 'each with an "expired" audit row');

# ---- units refunded on rollback are not billed ----
$node->safe_psql('postgres', q{
    INSERT INTO k SELECT 'billing', key_id, token FROM apikey.issue('frank', rate_limits => '[]');
    SELECT apikey.update(key_id, '{"daily_quota": 100}') FROM k WHERE what = 'billing';
});
$node->psql('postgres', q{
    BEGIN;
    SELECT apikey.consume(key_id, 50, refund_on_rollback => true) FROM k WHERE what = 'billing';
    ROLLBACK;
    SELECT apikey.consume(key_id, 7, refund_on_rollback => true) FROM k WHERE what = 'billing';
});
poll_ok($node, 'postgres', q{SELECT k2.daily_usage || ' ' || u.cost_units
             FROM k JOIN apikey.key_list k2 ON k2.id = k.key_id
             JOIN apikey.usage_hourly u ON u.key_id = k.key_id WHERE what = 'billing'},
	'7 7', 'a rolled-back consume() costs neither quota nor billed units');
$node->psql('postgres', q{
    INSERT INTO k SELECT 'billing-no-quota', key_id, token FROM apikey.issue('frank', rate_limits => '[]');
    BEGIN;
    SELECT apikey.consume(key_id, 9, refund_on_rollback => true) FROM k WHERE what = 'billing-no-quota';
    ROLLBACK;
    SELECT apikey.consume(key_id, 2, refund_on_rollback => true) FROM k WHERE what = 'billing-no-quota';
});
poll_ok($node, 'postgres', q{SELECT u.cost_units FROM k JOIN apikey.usage_hourly u ON u.key_id = k.key_id
            WHERE what = 'billing-no-quota'},
	'2', 'nor, for a key without a quota, billed units');

# ---- a task fails, and the worker carries on ----
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN; LOCK apikey.usage_hourly IN ACCESS EXCLUSIVE MODE');
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', q{
    SELECT apikey.update(key_id, '{"daily_quota": 20}') FROM k WHERE what = 'quota';
    SELECT apikey.check(token) FROM k WHERE what = 'quota';
});
ok($node->wait_for_log(
		qr/canceling statement due to lock timeout[^\n]*\n(?:[^\n]*\n){0,3}?[^\n]*apikey worker task "flush usage"/,
		$log_offset), 'the locked table makes the usage flush fail, and it is logged');
poll_ok($node, 'postgres', q{SELECT day_used FROM apikey.quota_counters JOIN k ON k.key_id = subject WHERE what = 'quota'},
	'11', 'the other tasks go on meanwhile');
$locker->query_safe('COMMIT');
$locker->quit;
poll_ok($node, 'postgres', q{SELECT requests FROM apikey.usage_hourly JOIN k USING (key_id) WHERE what = 'quota'},
	'17', 'once the lock is gone, the usage collected meanwhile is written');
is($node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'apikey worker'}),
	$worker_pid, 'by the same worker process');

# ---- retention ----
is($node->safe_psql('postgres', q{SELECT count(*) > 0 FROM apikey.audit_log}), 't',
	'there are audit rows');
$node->append_conf('postgresql.conf', qq{
apikey.audit_retention = '1s'
apikey.usage_retention = '1s'
});
$node->reload;
poll_ok($node, 'postgres', q{SELECT count(*) FROM apikey.audit_log WHERE at < now() - interval '3 seconds'},
	'0', 'audit rows past apikey.audit_retention are purged');
poll_ok($node, 'postgres', q{SELECT count(*) FROM apikey.usage_hourly WHERE hour < now() - interval '3 seconds'},
	'0', 'usage rows past apikey.usage_retention are purged');

$node->stop;
done_testing();
