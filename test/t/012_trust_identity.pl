# Trust (doc/security.md): identity comes only from the authenticator,
# owners act within their rights, keys cannot widen themselves.
#
# Each attack of issue 11 is played as an attacker would play it, with
# variants: ordinary login roles; PostgREST's roles (a LOGIN authenticator
# switching to anon or authenticated, with the request settings PostgREST
# sets, replayed statement for statement); Supabase's service_role
# (BYPASSRLS).  Every refusal is checked for its SQLSTATE and the rule its
# detail names, and for changing nothing: no key, no audit row, no counter.
# Positive controls: the legitimate PostgREST path, an owner managing its
# own keys, an admin doing anything.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use MIME::Base64 qw(decode_base64);
use ApikeyTest;

my $secret = 'trust test jwt secret, at least 32 characters long';
my $node = apikey_node('trust', extension => 0, conf => qq{
apikey.jwt_secret = '$secret'
apikey.denied_audit_window = '1s'
apikey.flush_interval = '200ms'
# no key is stamped revoked behind the tests' back: verification decides
apikey.maintenance_interval = '1h'
log_statement = none
log_min_error_statement = error
});

# The roles of a PostgREST and Supabase setup exist before the extension;
# ordinary login roles besides.
$node->safe_psql('postgres', q{
    CREATE ROLE anon NOLOGIN;
    CREATE ROLE authenticated NOLOGIN;
    CREATE ROLE service_role NOLOGIN BYPASSRLS;
    CREATE ROLE authenticator LOGIN NOINHERIT;
    GRANT anon, authenticated, service_role TO authenticator;
    -- a login that switches roles as PostgREST does, but is not PostgREST
    CREATE ROLE proxy LOGIN NOINHERIT;
    GRANT anon TO proxy;
    CREATE ROLE attacker LOGIN;
    CREATE ROLE attacker_alias NOLOGIN;
    GRANT attacker_alias TO attacker;
    CREATE ROLE victim LOGIN;
    CREATE ROLE keyadmin LOGIN;
    CREATE ROLE app_user NOLOGIN;
    CREATE ROLE maker NOLOGIN CREATEROLE;
    CREATE ROLE replicator NOLOGIN REPLICATION;
    CREATE EXTENSION apikey;
    GRANT apikey_admin TO keyadmin;
});

my $J = JSON::PP->new->allow_nonref->canonical;

sub lit
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

# Runs SQL as a login role; returns { out, err, state, message, detail }
# (state etc. of the first error, if any; psql stops there).
sub run_as
{
	my ($user, $sql, $separator) = @_;
	my ($out, $err) = ('', '');
	$node->psql('postgres', "\\set VERBOSITY verbose\n$sql",
		stdout => \$out, stderr => \$err, on_error_stop => 1,
		extra_params => [ '-U', $user, '-F', $separator // '|' ]);
	my %r = (out => $out, err => $err);
	($r{state}, $r{message}) = ($1, $2) if $err =~ /ERROR:\s+([0-9A-Z]{5}): (.*)/;
	$r{detail} = $1 if $err =~ /DETAIL:\s+(.*)/;
	return \%r;
}

# The output of SQL run as a login role, or its error: a check fails, the
# test goes on.
sub q_as
{
	my ($user, $sql) = @_;
	my $r = run_as($user, $sql);
	return "ERROR $r->{state}: $r->{message}" if defined $r->{state};
	chomp(my $out = $r->{out});
	return $out;
}

# The same as the superuser.
my $superuser = $node->safe_psql('postgres', 'SELECT current_user');

sub sq
{
	my ($sql) = @_;
	return q_as($superuser, $sql);
}

# What PostgREST 12 sends for an RPC call of schema apikey: the main query
# of a POST /rpc/<fn> with a JSON body (test/t/011_postgrest.pl replays the
# rest).  args: [name, type, value] with value as JSON.
sub rpc
{
	my ($fn, @args) = @_;
	my $json = '{' . join(', ', map { $J->encode($_->[0]) . ': ' . $_->[2] } @args) . '}';
	my $cols = join(', ', map { qq{"$_->[0]"} } @args);
	my $types = join(', ', map { qq{"$_->[0]" $_->[1]} } @args);
	my $call = join(', ', map { qq{"$_->[0]" := pgrst_body."$_->[0]"} } @args);
	return "\\echo MAIN QUERY\n"
	  . "WITH pgrst_source AS (SELECT pgrst_call.* FROM (SELECT " . lit($json)
	  . "::json AS json_data) pgrst_payload, LATERAL (SELECT $cols FROM json_to_record(pgrst_payload.json_data) "
	  . "AS _($types) LIMIT 1) pgrst_body, LATERAL \"apikey\".\"$fn\"($call) pgrst_call) "
	  . "SELECT null::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, "
	  . "coalesce(json_agg(_postgrest_t), '[]')::character varying AS body, "
	  . "nullif(current_setting('response.headers', true), '') AS response_headers, "
	  . "nullif(current_setting('response.status', true), '') AS response_status "
	  . "FROM (SELECT \"pgrst_source\".* FROM \"pgrst_source\") _postgrest_t;";
}

# One request as PostgREST runs it: logged in as authenticator (login),
# switched to the request's role with the request's settings in one
# statement, the pre-request apikey.check_request() when an x-api-key is
# sent, then sql (the main query).  Returns run_as's result, plus body.
sub rest
{
	my (%r) = @_;
	my $role = $r{role} // 'anon';
	my $claims = $r{claims} // $J->encode({ role => $role });
	my %headers = ('accept' => 'application/json', 'user-agent' => 'curl/8.4.0',
		'host' => 'localhost:3000', %{ $r{headers} // {} });
	my $headers = $J->encode(\%headers);
	my $method = $r{method} // 'POST';
	my $sql = join("\n",
		"BEGIN ISOLATION LEVEL READ COMMITTED;",
		"select set_config('search_path', '\"public\", \"extensions\"', true), "
		  . "set_config('role', " . lit($role) . ", true), "
		  . "set_config('request.jwt.claims', " . lit($claims) . ", true), "
		  . "set_config('request.method', " . lit($method) . ", true), "
		  . "set_config('request.path', " . lit($r{path} // '/rpc/x') . ", true), "
		  . "set_config('request.headers', " . lit($headers) . ", true), "
		  . "set_config('request.cookies', '{}', true);",
		exists $headers{'x-api-key'} ? 'select "apikey"."check_request"();' : '',
		$r{sql} // '', "COMMIT;");
	my $res = run_as($r{login} // 'authenticator', $sql, "\x1f");
	if (!defined $res->{state} && $res->{out} =~ /^MAIN QUERY\n(.*)/ms)
	{
		my (undef, undef, $body) = split /\x1f/, $1;
		$res->{body} = decode_json($body);
	}
	return $res;
}

# Everything a refusal must leave as it was: the keys (every column but
# the worker's), and the audit rows of changes.
sub world
{
	return sq(q{
        SELECT (SELECT md5(coalesce(string_agg(format('%s %s %s %s %s %s %s %s %s %s %s', id, owner,
                    name, scopes, allowed_ips, expires_at, revoked_at, rotated_to, jwt_role,
                    tier, metadata), ',' ORDER BY id), '')) FROM apikey.keys)
            || ' ' || (SELECT count(*) FROM apikey.audit_log
                        WHERE action IN ('issued', 'updated', 'rotated', 'revoked'))});
}

# refused(NAME, RESULT-THUNK, SQLSTATE, DETAIL-REGEX): the attack fails with
# SQLSTATE, a detail naming the rule, and changes nothing.
sub refused
{
	my ($name, $thunk, $state, $detail) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $before = world();
	my $r = $thunk->();
	my $ok = is($r->{state} // 'none', $state, "$name: refused with $state");
	like($r->{detail} // '', $detail, "$name: the detail names the rule") if defined $detail;
	is(world(), $before, "$name: nothing changed");
	diag($r->{err}) unless $ok;
	return $r;
}

# Keys, as the superuser: name => [id, token]
my %k;

sub issue_key
{
	my ($name, $owner, %opt) = @_;
	my $args = join('', map { ", $_ => $opt{$_}" } sort keys %opt);
	my ($id, $token) = split /\|/,
	  sq("SELECT key_id, token FROM apikey.issue(" . lit($owner) . "$args)");
	$k{$name} = [ $id, $token ];
	return $id;
}

sub code_of
{
	my ($user, $name, %opt) = @_;
	my $args = join('', map { ", $_ => $opt{$_}" } sort keys %opt);
	return q_as($user, "SELECT (apikey.check(" . lit($k{$name}[1]) . "$args)).code");
}

# ---- positive controls: an owner manages its own keys ----
my ($vid, $vtok) = split /\|/, q_as('victim', q{
    SELECT key_id || '|' || token FROM apikey.issue('victim', name => 'v1', scopes => '{orders:read}')});
$k{v1} = [ $vid, $vtok ];
is(q_as('victim', "SELECT name FROM apikey.update('$vid', '{\"name\": \"v1 renamed\"}')"), 'v1 renamed',
	'control: an owner updates its own key');
is(q_as('victim', "SELECT count(*) FROM apikey.key_list WHERE owner = 'victim'"), '1',
	'control: an owner sees its own key');
is(code_of('victim', 'v1'), 'OK', 'control: the key works');
poll_ok($node, 'postgres', "SELECT count(*) FROM apikey.usage_hourly WHERE key_id = '$vid'", '1',
	'the key has usage');

# ==== 1. any SQL role acting as any owner ====
my $forge_session = q{SET request.jwt.claims = '{"sub": "victim", "role": "authenticated"}'; SET request.method = 'GET';};
is(q_as('attacker', "$forge_session SELECT apikey.current_owner() || ' ' || count(*) FROM apikey.key_list"),
	'attacker 0', '1: a login role that sets the claims for its session is still itself, and sees no key');
is(q_as('attacker', q{BEGIN;
    SELECT set_config('request.jwt.claims', '{"sub": "victim"}', true) || set_config('request.method', 'GET', true)
           || set_config('request.headers', '{"x-forwarded-for": "10.0.0.1"}', true) <> '' AS set \gset
    SELECT apikey.current_owner() || ' ' || count(*) FROM apikey.key_list; COMMIT;}),
	'attacker 0', '1: nor with transaction-local settings, as PostgREST sets them');
is(q_as('attacker', "SET ROLE attacker_alias; $forge_session SELECT apikey.current_owner() || ' ' || count(*) FROM apikey.keys"),
	'attacker_alias 0', '1: nor after SET ROLE: the session is not an authenticator');
my $r = rest(login => 'proxy', claims => '{"sub": "victim", "role": "anon"}', method => 'GET',
	sql => "SELECT apikey.current_owner() || ' ' || count(*) FROM apikey.key_list;");
like($r->{out}, qr/^anon 0$/m, "1: nor a login replaying PostgREST's statement when it is not in apikey.authenticator_roles");
is(q_as('authenticator', "$forge_session SELECT apikey.current_owner() || ' ' || count(*) FROM apikey.key_list"),
	'authenticator 0', '1: nor the authenticator itself before it switches to a request\'s role');
is(q_as('attacker', "$forge_session SELECT count(*) FROM apikey.audit_log WHERE owner = 'victim'") . ' '
	  . q_as('attacker', "$forge_session SELECT count(*) FROM apikey.usage_hourly"),
	'0 0', "1: the victim's audit rows and usage stay hidden");

refused('1: revoke as the forged owner',
	sub { run_as('attacker', "$forge_session SELECT apikey.revoke('$vid')") },
	'42501', qr/Only its owner or a member of apikey_admin may do this/);
refused('1: update as the forged owner',
	sub { run_as('attacker', "$forge_session SELECT apikey.update('$vid', '{\"scopes\": [\"*\"]}')") },
	'42501', qr/Only its owner/);
refused('1: issue for the forged owner',
	sub { run_as('attacker', "$forge_session SELECT apikey.issue(owner => 'victim', scopes => '{*}')") },
	'42501', qr/Only its owner/);
refused('1: rotate as the forged owner',
	sub { run_as('attacker', "$forge_session SELECT apikey.rotate('$vid')") },
	'42501', qr/Only its owner/);
refused('1: the same through a login replaying PostgREST',
	sub {
		rest(login => 'proxy', claims => '{"sub": "victim", "role": "anon"}',
			sql => rpc('revoke', [ 'key_id', 'uuid', qq{"$vid"} ]))
	},
	'42501', qr/Only its owner/);
is(run_as('attacker', 'SET apikey.authenticator_roles = attacker')->{state}, '42501',
	'1: nor can a role that is not a superuser make itself an authenticator');

# the audit log tells the truth
my $aid = q_as('attacker', "$forge_session SELECT key_id FROM apikey.issue('attacker')");
is(sq("SELECT actor, session_role, coalesce(subject, '-') FROM apikey.audit_log WHERE key_id = '$aid'"),
	'attacker|attacker|-', '1: an audit row names the real roles, and no claimed subject');

# ==== the legitimate PostgREST path (control) ====
$r = rest(role => 'authenticated', claims => '{"sub": "user-1", "role": "authenticated"}',
	sql => rpc('issue', [ 'owner', 'text', '"user-1"' ], [ 'name', 'text', '"from a JWT"' ]));
is($r->{body}[0]{display_prefix} =~ /^ak_live_/ ? 'issued' : $r->{err}, 'issued',
	'control: PostgREST with a JWT: the subject issues its own key');
my $uid = $r->{body}[0]{key_id};
is(sq("SELECT actor, session_role, subject FROM apikey.audit_log WHERE key_id = '$uid'"),
	'authenticated|authenticator|user-1', 'control: its audit row: the roles, and the subject apart');
$r = rest(role => 'authenticated', claims => '{"sub": "user-1", "role": "authenticated"}', method => 'GET',
	sql => "SELECT apikey.current_owner() || ' ' || count(*) FROM apikey.key_list;");
like($r->{out}, qr/^user-1 1$/m, 'control: and sees it, and only it');
$r = rest(role => 'anon', method => 'GET', sql => "SELECT coalesce(apikey.current_owner(), '-') || ' ' || count(*) FROM apikey.key_list;");
like($r->{out}, qr/^- 0$/m, 'control: an anonymous PostgREST request owns nothing');

# ==== 2. a JWT with a privileged role, through 1 ====
refused('2: an admin sets jwt_role = service_role (BYPASSRLS)',
	sub { run_as('keyadmin', "SELECT apikey.update('$vid', '{\"jwt_role\": \"service_role\"}')") },
	'22023', qr/It has BYPASSRLS\. A JWT's role must be a NOLOGIN role/);
is(q_as('keyadmin', "SELECT jwt_role FROM apikey.update('$vid', '{\"jwt_role\": \"app_user\"}')"), 'app_user',
	'control: an admin sets a role for requests');
refused('2: the forged owner rotates that key to get a token',
	sub { run_as('attacker', "$forge_session SELECT token FROM apikey.rotate('$vid')") },
	'42501', qr/Only its owner/);
# explicitly allowed by a superuser: then, and only then
sq(q{ALTER SYSTEM SET apikey.jwt_privileged_roles = 'service_role'; SELECT pg_reload_conf()});
poll_ok($node, 'postgres', 'SHOW apikey.jwt_privileged_roles', 'service_role', 'apikey.jwt_privileged_roles set');
issue_key('svc', 'acme', rate_limits => q{'[]'});
is(q_as('keyadmin', "SELECT jwt_role FROM apikey.update('$k{svc}[0]', '{\"jwt_role\": \"service_role\"}')"),
	'service_role', 'control: service_role is accepted once apikey.jwt_privileged_roles lists it');
my $claims_of = sub {
	my ($jwt) = @_;
	my (undef, $c) = split /\./, $jwt;
	$c =~ tr{-_}{+/};
	$c .= '=' x ((4 - length($c) % 4) % 4);
	return decode_json(decode_base64($c));
};
is($claims_of->(q_as('attacker', "SELECT apikey.exchange(" . lit($k{svc}[1]) . ")->>'access_token'"))->{role},
	'service_role', 'control: and exchange() mints it');
sq(q{ALTER SYSTEM RESET apikey.jwt_privileged_roles; SELECT pg_reload_conf()});
poll_ok($node, 'postgres', 'SHOW apikey.jwt_privileged_roles', '', 'apikey.jwt_privileged_roles reset');
refused('2: exchange() checks the role again: no longer allowed',
	sub { run_as('attacker', "SELECT apikey.exchange(" . lit($k{svc}[1]) . ")") },
	'42501', qr/It has BYPASSRLS/);
# roles change: a role for requests that gains a privilege
issue_key('appkey', 'acme', rate_limits => q{'[]'});
q_as('keyadmin', "SELECT apikey.update('$k{appkey}[0]', '{\"jwt_role\": \"app_user\"}')");
is($claims_of->(q_as('attacker', "SELECT apikey.exchange(" . lit($k{appkey}[1]) . ")->>'access_token'"))->{role},
	'app_user', 'control: a key with a role for requests gets a JWT');
for my $change ([ 'BYPASSRLS', qr/It has BYPASSRLS/ ], [ 'LOGIN', qr/It can log in/ ],
	[ 'CREATEROLE', qr/It has CREATEROLE/ ], [ 'SUPERUSER', qr/It is a superuser/ ])
{
	sq("ALTER ROLE app_user $change->[0]");
	refused("2: exchange() after ALTER ROLE app_user $change->[0]",
		sub { run_as('attacker', "SELECT apikey.exchange(" . lit($k{appkey}[1]) . ")") },
		'42501', $change->[1]);
	sq("ALTER ROLE app_user NO$change->[0]");
}
sq('GRANT apikey_admin TO app_user');
refused('2: exchange() after GRANT apikey_admin TO app_user',
	sub { run_as('attacker', "SELECT apikey.exchange(" . lit($k{appkey}[1]) . ")") },
	'42501', qr/It is apikey_admin or a member of it/);
sq('REVOKE apikey_admin FROM app_user');

# ==== 9. jwt_role: a superuser, a login role, a privileged role ====
for my $case ([ $superuser, qr/It is a superuser/ ], [ 'victim', qr/It can log in/ ],
	[ 'authenticator', qr/It can log in/ ], [ 'maker', qr/It has CREATEROLE/ ],
	[ 'replicator', qr/It has REPLICATION/ ],
	[ 'apikey_admin', qr/It is apikey_admin or a member of it/ ],
	[ 'pg_read_all_data', qr/It is pg_read_all_data or a member of it/ ],
	[ 'pg_execute_server_program', qr/It is pg_execute_server_program or a member of it/ ])
{
	refused("9: jwt_role = $case->[0]",
		sub { run_as('keyadmin', "SELECT apikey.update('$vid', '{\"jwt_role\": \"$case->[0]\"}')") },
		'22023', $case->[1]);
}
sq("ALTER SYSTEM SET apikey.jwt_privileged_roles = '$superuser, maker'; SELECT pg_reload_conf()");
poll_ok($node, 'postgres', 'SHOW apikey.jwt_privileged_roles', "$superuser, maker", 'superuser listed');
refused('9: a superuser, even listed in apikey.jwt_privileged_roles',
	sub { run_as('keyadmin', "SELECT apikey.update('$vid', '{\"jwt_role\": \"$superuser\"}')") },
	'22023', qr/It is a superuser/);
is(q_as('keyadmin', "SELECT jwt_role FROM apikey.update('$vid', '{\"jwt_role\": \"maker\"}')"), 'maker',
	'control: a CREATEROLE role an admin listed');
sq(q{ALTER SYSTEM RESET apikey.jwt_privileged_roles; SELECT pg_reload_conf()});
poll_ok($node, 'postgres', 'SHOW apikey.jwt_privileged_roles', '', 'reset');
sq("UPDATE apikey.keys SET jwt_role = NULL WHERE id = '$vid'");

# ==== 3. rotation resets limits ====
issue_key('quota', 'victim', rate_limits => q{'[]'});
issue_key('rate', 'victim', rate_limits => q{'[{"name": "day", "limit": 3, "period": "1 day", "burst": 3}]'});
issue_key('conc', 'victim', rate_limits => q{'[]'});
q_as('keyadmin', "SELECT apikey.update('$k{quota}[0]', '{\"daily_quota\": 3}');
                  SELECT apikey.update('$k{conc}[0]', '{\"max_concurrency\": 1}')");
for my $case ([ 'quota', 'QUOTA_EXCEEDED' ], [ 'rate', 'RATE_LIMITED' ])
{
	my ($name, $code) = @$case;
	is(join(',', map { code_of('victim', $name) } 1 .. 4), "OK,OK,OK,$code",
		"the owner spends the limit an admin gave ($name)");
	my @codes;
	for my $i (1 .. 6)
	{
		my ($id, $token) = split /\|/, q_as('victim', "SELECT key_id || '|' || token FROM apikey.rotate('$k{$name}[0]', grace => '0')");
		$k{$name} = [ $id, $token ];
		push @codes, code_of('victim', $name);
	}
	is(join(',', @codes), join(',', ($code) x 6), "3: six rotations give no fresh $name");
}
# the concurrency counter too
my $holder = $node->background_psql('postgres', extra_params => [ '-U', 'victim' ]);
$holder->query_safe("BEGIN; SELECT apikey.check(" . lit($k{conc}[1]) . ")");
my ($cid, $ctok) = split /\|/, q_as('victim', "SELECT key_id || '|' || token FROM apikey.rotate('$k{conc}[0]', grace => '1 hour')");
is(q_as('victim', "SELECT (apikey.check(" . lit($ctok) . ")).code"), 'CONCURRENCY_LIMITED',
	'3: the rotated key shares the concurrency counter of its predecessor');
$holder->query_safe('COMMIT');
$holder->quit;
is(q_as('victim', "SELECT (apikey.check(" . lit($ctok) . ")).code"), 'OK', 'control: until the first request ends');
# persisted per lineage: every key of the chain, across a crash
my $lineage = sq("SELECT lineage FROM apikey.keys WHERE id = '$k{quota}[0]'");
is(sq("SELECT count(*) FROM apikey.keys WHERE lineage = '$lineage'"), '7',
	'3: the seven keys of the chain share one lineage');
poll_ok($node, 'postgres', "SELECT min(daily_usage) || ' ' || max(daily_usage) FROM apikey.key_list WHERE lineage = '$lineage'",
	'3 3', "3: each key of the chain shows the chain's count");
poll_ok($node, 'postgres', "SELECT day_used FROM apikey.quota_counters WHERE subject = '$lineage'",
	'3', "3: the worker writes the chain's count once, for its lineage");
poll_ok($node, 'postgres', "SELECT count(DISTINCT u.key_id) || ' ' || sum(u.allowed) || ' ' || sum(u.quota_exceeded)
        FROM apikey.usage_hourly u JOIN apikey.keys k ON k.id = u.key_id WHERE k.lineage = '$lineage'",
	'7 3 7', '3: usage stays per key');
$node->stop('immediate');
$node->start;
is(code_of('victim', 'quota'), 'QUOTA_EXCEEDED', '3: after a crash the newest key starts from the same count');

# ==== 4. a key widens itself (through PostgREST) ====
my $in_an_hour = sq("SELECT now() + interval '1 hour'");
my $in_2_hours = sq("SELECT now() + interval '2 hours'");
my $in_half_hour = sq("SELECT now() + interval '30 minutes'");
issue_key('ro', 'acme', scopes => q{'{orders:read}'}, allowed_ips => q{'{10.0.0.0/8}'},
	expires_at => lit($in_an_hour), rate_limits => q{'[]'});
issue_key('mg', 'acme', scopes => q{'{orders:read,apikey:manage}'}, allowed_ips => q{'{10.0.0.0/8}'},
	expires_at => lit($in_an_hour), rate_limits => q{'[]'});
issue_key('wide', 'acme', scopes => q{'{*}'}, rate_limits => q{'[]'});
my $as_key = sub {
	my ($name, $sql, %opt) = @_;
	return rest(headers => { 'x-api-key' => $k{$name}[1], 'x-forwarded-for' => $opt{ip} // '10.1.2.3' },
		sql => $sql);
};
$r = $as_key->('ro', "SELECT apikey.current_owner() || ' ' || count(*) FROM apikey.key_list;");
like($r->{out}, qr/^acme 5$/m, "control: PostgREST with a key: the key's owner, and its keys");
refused('4: a key without the manage scope issues a key',
	sub { $as_key->('ro', rpc('issue', [ 'owner', 'text', '"acme"' ], [ 'scopes', 'text[]', '["orders:read"]' ])) },
	'42501', qr/Keys cannot widen themselves: .* scope "apikey:manage"/);
refused("4: issue(owner => 'acme', scopes => '{*}'), no allowlist, no expiry",
	sub { $as_key->('mg', rpc('issue', [ 'owner', 'text', '"acme"' ], [ 'scopes', 'text[]', '["*"]' ])) },
	'42501', qr/Keys cannot widen themselves: scope "\*" is not within/);
for my $case (
	[ 'a wider scope', [ [ 'scopes', 'text[]', '["orders:*"]' ] ], qr/scope "orders:\*" is not within/ ],
	[ 'no allowlist', [ [ 'scopes', 'text[]', '["orders:read"]' ] ], qr/the allowlist must be within/ ],
	[ 'a wider allowlist', [ [ 'scopes', 'text[]', '["orders:read"]' ], [ 'allowed_ips', 'cidr[]', '["0.0.0.0/0"]' ] ],
		qr/the allowlist must be within/ ],
	[ 'no expiry', [ [ 'allowed_ips', 'cidr[]', '["10.1.0.0/16"]' ] ], qr/the expiry must be no later/ ],
	[ 'a later expiry', [ [ 'allowed_ips', 'cidr[]', '["10.1.0.0/16"]' ], [ 'expires_at', 'timestamptz', qq{"$in_2_hours"} ] ],
		qr/the expiry must be no later/ ])
{
	refused("4: a managing key issues a key with $case->[0]",
		sub { $as_key->('mg', rpc('issue', [ 'owner', 'text', '"acme"' ], @{ $case->[1] })) },
		'42501', $case->[2]);
}
for my $case (
	[ '{"scopes": ["*"], "allowed_ips": null, "expires_at": null}', qr/scope "\*" is not within/ ],
	[ '{"scopes": ["orders:read", "apikey:manage", "billing:read"]}', qr/scope "billing:read" is not within/ ],
	[ '{"allowed_ips": null}', qr/the allowlist must be within/ ],
	[ '{"allowed_ips": ["10.0.0.0/7"]}', qr/the allowlist must be within/ ],
	[ '{"expires_at": null}', qr/the expiry must be no later/ ],
	[ qq({"expires_at": "$in_2_hours"}), qr/the expiry must be no later/ ])
{
	refused("4: a key updates itself to $case->[0]",
		sub { $as_key->('mg', rpc('update', [ 'key_id', 'uuid', qq{"$k{mg}[0]"} ], [ 'changes', 'jsonb', $case->[0] ])) },
		'42501', $case->[1]);
}
refused('4: a key widens itself through update_bulk()',
	sub { $as_key->('mg', rpc('update_bulk', [ 'key_ids', 'uuid[]', qq{["$k{mg}[0]"]} ], [ 'changes', 'jsonb', '{"scopes": ["*"]}' ])) },
	'42501', qr/scope "\*" is not within/);
refused('4: a key issues a wider key through issue_bulk()',
	sub { $as_key->('mg', rpc('issue_bulk', [ 'specs', 'jsonb', '[{"owner": "acme", "scopes": ["orders:read"]}]' ])) },
	'42501', qr/the allowlist must be within/);
refused('4: a key rotates a wider key of its owner (and would get its token)',
	sub { $as_key->('mg', rpc('rotate', [ 'key_id', 'uuid', qq{"$k{wide}[0]"} ])) },
	'42501', qr/scope "\*" is not within/);
refused('4: a key without the manage scope revokes a key',
	sub { $as_key->('ro', rpc('revoke', [ 'key_id', 'uuid', qq{"$k{wide}[0]"} ])) },
	'42501', qr/scope "apikey:manage"/);
# a forged client address does not meet the allowlist outside PostgREST
refused('4: a login with the token forges X-Forwarded-For',
	sub {
		run_as('attacker', "BEGIN; SELECT set_config('request.method', 'POST', true), "
			  . "set_config('request.headers', " . lit($J->encode({ 'x-api-key' => $k{mg}[1], 'x-forwarded-for' => '10.0.0.1' }))
			  . ", true); SELECT apikey.check_request(); SELECT apikey.issue('acme', scopes => '{orders:read}'); COMMIT;")
	},
	'42501', qr/The apikey code is IP_NOT_ALLOWED/);
refused('4: so does a login replaying PostgREST',
	sub {
		rest(login => 'proxy', headers => { 'x-api-key' => $k{mg}[1], 'x-forwarded-for' => '10.0.0.1' },
			sql => rpc('issue', [ 'owner', 'text', '"acme"' ]))
	},
	'42501', qr/The apikey code is IP_NOT_ALLOWED/);
$r = $as_key->('mg', "SELECT 1;", ip => '192.0.2.1');
is($r->{state}, 'PGRST', 'control: through PostgREST, a client outside the allowlist is refused (403)');
# within its reach (control)
$r = $as_key->('mg', rpc('issue', [ 'owner', 'text', '"acme"' ], [ 'scopes', 'text[]', '["orders:read"]' ],
		[ 'allowed_ips', 'cidr[]', '["10.1.0.0/16"]' ], [ 'expires_at', 'timestamptz', qq{"$in_half_hour"} ]));
my $child = $r->{body}[0]{key_id} // 'none';
isnt($child, 'none', 'control: a managing key issues a key within its reach');
is(sq("SELECT owner, actor, session_role, actor_key_id = '$k{mg}[0]', coalesce(subject, '-')
        FROM apikey.audit_log WHERE key_id = '$child' AND action = 'issued'"),
	'acme|anon|authenticator|t|-', 'control: its audit row names the roles and the key that acted');
$r = $as_key->('mg', rpc('update', [ 'key_id', 'uuid', qq{"$k{mg}[0]"} ],
		[ 'changes', 'jsonb', qq({"scopes": ["orders:read", "apikey:manage"], "allowed_ips": ["10.1.0.0/16"], "expires_at": "$in_half_hour"}) ]));
is($r->{body}[0]{allowed_ips}[0] // $r->{err}, '10.1.0.0/16', 'control: a key narrows itself');

# ==== 5. rotation is final ====
issue_key('r1', 'victim');
q_as('victim', "SELECT key_id FROM apikey.rotate('$k{r1}[0]', grace => '1 hour')");
refused('5: the owner clears the rotated-out key\'s expires_at',
	sub { run_as('victim', "SELECT apikey.update('$k{r1}[0]', '{\"expires_at\": null}')") },
	'22023', qr/Rotation is final: a rotated-out key's expires_at can only be brought forward/);
refused('5: the owner pushes it later',
	sub { run_as('victim', "SELECT apikey.update('$k{r1}[0]', '{\"expires_at\": \"$in_2_hours\"}')") },
	'22023', qr/Rotation is final/);
refused('5: an admin pushes it later',
	sub { run_as('keyadmin', "SELECT apikey.update('$k{r1}[0]', '{\"expires_at\": \"$in_2_hours\"}')") },
	'22023', qr/Rotation is final/);
is(q_as('victim', "SELECT status FROM apikey.update('$k{r1}[0]', '{\"expires_at\": \"$in_half_hour\"}')"),
	'rotating', 'control: bringing it forward is allowed');
issue_key('r2', 'victim');
q_as('victim', "SELECT apikey.rotate('$k{r2}[0]', grace => '1 second')");
poll_ok($node, 'postgres', "SELECT status || ' ' || coalesce(revoke_reason, '-') FROM apikey.key_list WHERE id = '$k{r2}[0]'",
	'revoked -', 'a rotated key past its grace, not yet stamped by the worker');
refused('5: the owner sets a future expires_at on it',
	sub { run_as('victim', "SELECT apikey.update('$k{r2}[0]', '{\"expires_at\": \"$in_2_hours\"}')") },
	'22023', qr/A revoked or expired key is never revived/);
is(code_of('victim', 'r2'), 'REVOKED', '5: and it stays revoked');
issue_key('e1', 'victim', expires_at => q{now() + interval '1 second'});
poll_ok($node, 'postgres', "SELECT status FROM apikey.key_list WHERE id = '$k{e1}[0]'", 'expired', 'an expired key');
for my $who ('victim', 'keyadmin')
{
	refused("5: $who revives an expired key",
		sub { run_as($who, "SELECT apikey.update('$k{e1}[0]', '{\"expires_at\": null}')") },
		'22023', qr/A revoked or expired key is never revived/);
}

# ==== 6. consume(key_id) without a right to the key ====
issue_key('c1', 'victim', rate_limits => q{'[{"name": "day", "limit": 5, "period": "1 day", "burst": 5}]'});
q_as('keyadmin', "SELECT apikey.update('$k{c1}[0]', '{\"daily_quota\": 5}')");
my $c1 = $k{c1}[0];
my $remaining = sub { q_as('victim', "SELECT remaining FROM apikey.check(" . lit($k{c1}[1]) . ", cost => 0)") };
is($remaining->(), '5', 'the key to drain is full');
my $consume_rule = qr/Only a member of apikey_admin, the key's owner \(apikey.current_owner\(\)\), or a caller that verified the key's token in this transaction may consume it/;
refused('6: another login consumes the key by id',
	sub { run_as('attacker', "SELECT apikey.consume('$c1', 5)") }, '42501', $consume_rule);
refused('6: the same, forging the claims of its owner',
	sub { run_as('attacker', "$forge_session SELECT apikey.consume('$c1', 5)") }, '42501', $consume_rule);
refused('6: the same as an anonymous PostgREST request',
	sub { rest(sql => rpc('consume', [ 'key_id', 'uuid', qq{"$c1"} ], [ 'cost', 'integer', '5' ])) },
	'42501', $consume_rule);
refused('6: the same with a verified key of another owner',
	sub { rest(headers => { 'x-api-key' => $k{wide}[1] }, sql => rpc('consume', [ 'key_id', 'uuid', qq{"$c1"} ], [ 'cost', 'integer', '5' ])) },
	'42501', $consume_rule);
refused('6: the same with a key verified in an earlier transaction',
	sub { run_as('attacker', "SELECT apikey.verify(" . lit($k{c1}[1]) . "); SELECT apikey.consume('$c1', 5)") },
	'42501', $consume_rule);
my $nobody = '00000000-0000-4000-8000-000000000001';
my $unknown = run_as('attacker', "SELECT apikey.consume('$nobody')");
is("$unknown->{state} " . ($unknown->{message} =~ s/[0-9a-f-]{36}/ID/r),
	"42501 permission denied to consume API key ID",
	'6: an unknown key id is refused alike: consume() is no oracle of key ids');
is($remaining->(), '5', '6: nothing was drained');
# controls: the owner, an admin, the holder of the token in its transaction
is(q_as('victim', "SELECT code FROM apikey.consume('$c1')"), 'OK', 'control: the owner consumes');
is(q_as('keyadmin', "SELECT code FROM apikey.consume('$c1')"), 'OK', 'control: an admin consumes');
is(q_as('attacker', "BEGIN; SELECT (apikey.verify(" . lit($k{c1}[1]) . ")).code; SELECT code FROM apikey.consume('$c1'); COMMIT;"),
	"VALID\nOK", 'control: a holder of the token, after verify() in its transaction');
$r = rest(headers => { 'x-api-key' => $k{c1}[1] }, sql => rpc('consume', [ 'key_id', 'uuid', qq{"$c1"} ]));
is($r->{body}[0]{code} // $r->{err}, 'OK', 'control: a PostgREST request with the key (check_request())');
is($remaining->(), '0', 'control: 5 units: 4 consumed and one check_request()');
poll_ok($node, 'postgres', "SELECT daily_usage FROM apikey.key_list WHERE id = '$c1'", '5', 'and the quota counted as many');
# key_list counts live; the worker sends the alerts of those 5 units (80%
# and 95% of c1's quota) when it flushes: they are out before section 7
# listens
poll_ok($node, 'postgres', "SELECT count(*) FROM apikey.audit_log WHERE action = 'quota_alert' AND key_id = '$c1'",
	'2', 'and its quota alerts were sent');

# ==== 7. LISTEN apikey_quota ====
issue_key('q1', 'victim', rate_limits => q{'[]'});
q_as('keyadmin', "SELECT apikey.update('$k{q1}[0]', '{\"daily_quota\": 10}')");
my $listener = $node->background_psql('postgres', extra_params => [ '-U', 'attacker' ]);
$listener->query_safe('LISTEN apikey_quota');
q_as('victim', "SELECT apikey.check(" . lit($k{q1}[1]) . ") FROM generate_series(1, 8)");
my @alerts;
wait_until(sub {
	push @alerts, ($listener->query_safe('SELECT 1') =~
		  /Asynchronous notification "apikey_quota" with payload "(.*?)" received/g);
	return @alerts >= 1;
});
is(scalar(@alerts), 1, 'another role listening gets the alert');
like($alerts[0] // '', qr/^\{"period": "day", "percent": 80, "audit_id": \d+\}$/,
	'7: it carries the audit row id, the period and the percent, nothing else');
unlike($alerts[0] // '', qr/victim|$k{q1}[0]|"used"|"quota"/, '7: no owner, no key id, no count');
my ($audit_id) = ($alerts[0] // '') =~ /"audit_id": (\d+)/;
$audit_id //= 0;
$listener->quit;
is(q_as('attacker', "SELECT count(*) FROM apikey.audit_log WHERE id = $audit_id"), '0',
	'control: the listener of another owner reads nothing more under row-level security');
is(q_as('victim', "SELECT key_id || ' ' || (detail->>'used') FROM apikey.audit_log WHERE id = $audit_id"),
	"$k{q1}[0] 8", "control: the key's owner reads the rest");
is(q_as('keyadmin', "SELECT owner FROM apikey.audit_log WHERE id = $audit_id"), 'victim', 'control: so does an admin');

# ==== 8. exchange() for a key out of quota or rate-limited ====
issue_key('x1', 'acme', rate_limits => q{'[]'});
issue_key('x2', 'acme', rate_limits => q{'[{"name": "day", "limit": 2, "period": "1 day", "burst": 2}]'});
q_as('keyadmin', "SELECT apikey.update('$k{x1}[0]', '{\"daily_quota\": 2}')");
for my $case ([ 'x1', 'QUOTA_EXCEEDED' ], [ 'x2', 'RATE_LIMITED' ])
{
	my ($name, $code) = @$case;
	my $exchange = "SELECT apikey.exchange(" . lit($k{$name}[1]) . ")->>'token_type'";
	is(q_as('attacker', "$exchange; $exchange"), "bearer\nbearer", "two exchanges pass ($name)");
	my $res = run_as('attacker', $exchange);
	is("$res->{state} " . ($res->{detail} // ''), "53400 The apikey code is $code; over HTTP the status would be 429.",
		"8: the third is refused with the limiter's code ($code)");
	unlike($res->{err}, qr/\Q$k{$name}[1]\E/, 'the refusal shows no token');
	is(code_of('attacker', $name), $code, '8: the exchanges were charged to the key');
}
$r = rest(sql => rpc('exchange', [ 'token', 'text', $J->encode($k{x1}[1]) ]));
is($r->{state}, 'PGRST', '8: through PostgREST, the refusal is an HTTP error');
like($r->{detail} // '', qr/^\{"status":429,/, '8: 429');
poll_ok($node, 'postgres', "SELECT requests || ' ' || allowed || ' ' || quota_exceeded FROM apikey.usage_hourly WHERE key_id = '$k{x1}[0]'",
	'5 2 3', '8: exchanges count in usage');

# ==== Supabase's service_role, and an admin (controls) ====
$r = rest(role => 'service_role', claims => '{"role": "service_role"}', method => 'GET',
	sql => "SELECT count(*) > 10 FROM apikey.keys;");
like($r->{out}, qr/^t$/m, 'service_role bypasses row-level security: it reads every key row (doc/security.md)');
refused('control: service_role, not an admin, revokes a key (it acts for no owner)',
	sub { rest(role => 'service_role', claims => '{"role": "service_role"}', sql => rpc('revoke', [ 'key_id', 'uuid', qq{"$k{wide}[0]"} ])) },
	'42501', qr/The caller acts for no owner/);
is(q_as('keyadmin', "SELECT apikey.revoke('$vid', 'admin')"), 't', 'control: an admin revokes any key');
is(q_as('keyadmin', "SELECT (apikey.introspect(prefix))->>'owner' FROM apikey.keys WHERE id = '$vid'"), 'victim',
	'control: and introspects it');
is(q_as('keyadmin', "SELECT key_id IS NOT NULL FROM apikey.issue('someone', tier => 'premium')"), 't',
	'control: and issues for anyone, in any tier');

# ---- no token reached the server log ----
$node->stop;
my $log = slurp_file($node->logfile);
ok(!grep({ index($log, $_->[1]) >= 0 } values %k), 'no token appears in the server log');
done_testing();
