# PostgREST replay: the transactions PostgREST 12 runs for a request, sent
# as PostgREST sends them (its statements, with the parameter values
# inlined), by the role it logs in as (authenticator) and the roles it
# switches to.  What PostgREST would answer is read from the same places
# it reads: the error's SQLSTATE, message and detail, or the main query's
# response_headers column.
#
# Also: the error JSON has exactly the field types PostgREST's parser
# requires, no token reaches the server log, and a JWT from exchange()
# verifies with an independent HS256 implementation (Perl's Digest::SHA,
# and openssl when installed).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use MIME::Base64 qw(decode_base64);
use Digest::SHA qw(hmac_sha256);
use ApikeyTest;

my $secret = 'postgrest jwt secret, at least 32 characters long';
my $node = apikey_node('postgrest', extension => 0, conf => qq{
apikey.jwt_secret = '$secret'
# PostgREST's own statement carries request.headers: with log_statement =
# all the server logs it, key included (doc/postgrest.md).  apikey's
# messages and the statements they name must not.
log_statement = none
log_min_messages = info
log_min_error_statement = info
log_error_verbosity = verbose
});

# The roles of a PostgREST or Supabase setup exist before the extension
$node->safe_psql('postgres', q{
    CREATE ROLE anon NOLOGIN;
    CREATE ROLE authenticated NOLOGIN;
    CREATE ROLE service_role NOLOGIN BYPASSRLS;
    CREATE ROLE authenticator LOGIN NOINHERIT;
    GRANT anon, authenticated, service_role TO authenticator;
    REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC;
    ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
    CREATE EXTENSION apikey;
    CREATE TABLE public.items (id serial PRIMARY KEY, name text, owner text DEFAULT apikey.current_owner());
    GRANT SELECT, INSERT ON public.items TO anon;
    GRANT USAGE ON SEQUENCE public.items_id_seq TO anon;
    ALTER TABLE public.items ENABLE ROW LEVEL SECURITY;
    -- an API key's owner, or a Supabase user (auth.uid() in Supabase)
    CREATE POLICY items_owner ON public.items TO anon
        USING (owner = apikey.current_owner()) WITH CHECK (owner = apikey.current_owner());
    CREATE FUNCTION public.list_items() RETURNS SETOF public.items
        LANGUAGE sql STABLE AS 'SELECT * FROM public.items ORDER BY id';
    CREATE FUNCTION public.add_item(name text) RETURNS public.items
        LANGUAGE sql VOLATILE AS 'INSERT INTO public.items (name) VALUES (name) RETURNING *';
    GRANT EXECUTE ON FUNCTION public.list_items(), public.add_item(text) TO anon;
    -- the application's own pre-request sets a header, then calls apikey's
    CREATE FUNCTION public.pre_request() RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM set_config('response.headers', '[{"Cache-Control": "no-store"}]', true);
        PERFORM apikey.check_request();
    END $$;
    GRANT EXECUTE ON FUNCTION public.pre_request() TO anon;
    INSERT INTO apikey.scope_map (method, path_pattern, scope) VALUES
        ('GET', '/rpc/list_items', 'items:read'), ('POST', '/rpc/add_item', 'items:write');
});

is($node->safe_psql('postgres', q{
    SELECT string_agg(r, ',' ORDER BY r) FROM unnest('{anon,authenticated,service_role}'::name[]) AS r
     WHERE has_function_privilege(r, 'apikey.check_request()', 'EXECUTE')
       AND has_function_privilege(r, 'apikey.exchange(text, interval, boolean)', 'EXECUTE')
       AND has_schema_privilege(r, 'apikey', 'USAGE')}),
	'anon,authenticated,service_role',
	'the roles PostgREST switches to may run check_request() and exchange()');
is($node->safe_psql('postgres', q{
    SELECT has_table_privilege('anon', 'apikey.scope_map', 'SELECT')
        OR has_column_privilege('anon', 'apikey.keys', 'key_hash', 'SELECT')}),
	'f', 'and nothing more: not the scope map, not key_hash');

my %tok;
for my $row (split /\n/, $node->safe_psql('postgres', q{
    SELECT 'rw', token FROM apikey.issue('acme', scopes => '{items:read,items:write}',
        rate_limits => '[{"name": "burst", "limit": 3, "period": "1 minute", "burst": 3}]')
    UNION ALL
    SELECT 'ro', token FROM apikey.issue('acme', scopes => '{items:read}', rate_limits => '[]')
    UNION ALL
    SELECT 'ip', token FROM apikey.issue('acme', scopes => '{items:read}',
        allowed_ips => '{203.0.113.0/24}', rate_limits => '[]')
    UNION ALL
    SELECT 'gone', token FROM apikey.issue('acme', rate_limits => '[]')}))
{
	my ($name, $token) = split /\|/, $row;
	$tok{$name} = $token;
}
$node->safe_psql('postgres', q{SELECT apikey.revoke(id) FROM apikey.keys WHERE name IS NULL AND scopes = '{}'});

sub sql_literal
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

# One request, as PostgREST 12 runs it.  Returns { status, headers, body }
# for a success, or { sqlstate, message, detail } for an error.
sub request
{
	my (%r) = @_;
	my $method = $r{method} // 'GET';
	my $read_only = $method eq 'GET' ? ' READ ONLY' : '';
	my %headers = (
		'accept' => 'application/json',
		'user-agent' => 'curl/8.4.0',
		'host' => 'localhost:3000',
		%{ $r{headers} // {} });
	my $headers_json = JSON::PP->new->canonical->encode(\%headers);
	my $path = $r{path};
	my $fn = $path =~ s{^/rpc/}{}r;
	my $args = $r{args} // '{}';
	my $call = $fn eq 'add_item'
	  ? qq{"public"."add_item"("name" := pgrst_body."name")}
	  : qq{"public"."$fn"()};
	my $payload = $fn eq 'add_item'
	  ? q{, LATERAL (SELECT "name" FROM json_to_record(pgrst_payload.json_data) AS _("name" text) LIMIT 1) pgrst_body}
	  : '';
	my $sql = join("\n",
		"\\set ON_ERROR_STOP 1",
		"\\set VERBOSITY verbose",
		"BEGIN ISOLATION LEVEL READ COMMITTED$read_only;",
		"select set_config('search_path', '\"public\", \"extensions\"', true), "
		  . "set_config('role', 'anon', true), "
		  . "set_config('request.jwt.claims', '{\"role\":\"anon\"}', true), "
		  . "set_config('request.method', " . sql_literal($method) . ", true), "
		  . "set_config('request.path', " . sql_literal($path) . ", true), "
		  . "set_config('request.headers', " . sql_literal($headers_json) . ", true), "
		  . "set_config('request.cookies', '{}', true);",
		'select "' . ($r{pre_request} // 'apikey') . '"."' . ($r{pre_request} ? 'pre_request' : 'check_request') . '"();',
		"\\echo MAIN QUERY",
		"WITH pgrst_source AS (SELECT pgrst_call.* FROM (SELECT " . sql_literal($args)
		  . "::json AS json_data) pgrst_payload$payload, LATERAL $call pgrst_call) "
		  . "SELECT null::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, "
		  . "coalesce(json_agg(_postgrest_t), '[]')::character varying AS body, "
		  . "nullif(current_setting('response.headers', true), '') AS response_headers, "
		  . "nullif(current_setting('response.status', true), '') AS response_status "
		  . "FROM (SELECT \"pgrst_source\".* FROM \"pgrst_source\") _postgrest_t;",
		"COMMIT;");
	my ($stdout, $stderr);
	$node->psql('postgres', $sql, stdout => \$stdout, stderr => \$stderr,
		extra_params => [ '-U', 'authenticator', '-F', "\x1f" ]);
	if ($stderr =~ /ERROR:\s+(\w{5}): (.*)\n(?:DETAIL:\s+(.*)\n)?/)
	{
		return { sqlstate => $1, message => $2, detail => $3 };
	}
	# the main query's row follows the marker (json_agg's body spans lines)
	my ($total, $count, $body, $response_headers) = split /\x1f/, (split /^MAIN QUERY\n/m, $stdout)[-1];
	return {
		status => 200,
		body => decode_json($body),
		headers => $response_headers ? decode_json($response_headers) : [],
		stderr => $stderr
	};
}

# The HTTP answer PostgREST >= 12 makes of a PGRST error, checking the
# exact schema its parser accepts (PGRST121 otherwise).
sub pgrst_answer
{
	my ($res, $label) = @_;
	is($res->{sqlstate}, 'PGRST', "$label: SQLSTATE PGRST");
	my $body = eval { decode_json($res->{message}) } // {};
	my $detail = eval { decode_json($res->{detail}) } // {};
	my @keys = sort keys %$body;
	is("@keys", 'code details hint message', "$label: message is {code, message, details, hint}");
	ok(!grep({ ref($body->{$_}) || $res->{message} !~ /"$_":"/ } @keys),
		"$label: each of them a string");
	like($res->{detail}, qr/^\{"status":\d{3},"headers":\{/, "$label: detail has a numeric status and headers");
	ok(!grep({ ref($_) } values %{ $detail->{headers} }), "$label: header values are strings");
	return { status => $detail->{status}, code => $body->{code}, details => $body->{details},
		hint => $body->{hint}, headers => $detail->{headers} };
}

sub header_list
{
	my ($headers) = @_;
	return join(', ', map { my ($k) = keys %$_; "$k" } @$headers);
}

# ---- 200 ----
my $res = request(path => '/rpc/list_items', headers => { 'x-api-key' => $tok{rw} },
	pre_request => 'public');
is($res->{status}, 200, 'GET (READ ONLY) with a valid key: 200');
is(header_list($res->{headers}),
	'Cache-Control, RateLimit-Policy, RateLimit, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset',
	"the rate-limit headers follow the application's own");

$res = request(method => 'POST', path => '/rpc/add_item', args => '{"name": "anvil"}',
	headers => { 'x-api-key' => $tok{rw}, 'x-forwarded-for' => '198.51.100.7' });
is($res->{status}, 200, 'POST with a key that has the write scope: 200');
is($res->{body}[0]{owner}, 'acme', "the row belongs to the key's owner (current_owner() in a DEFAULT and RLS)");
is(header_list($res->{headers}),
	'RateLimit-Policy, RateLimit, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset',
	'response.headers carries the rate-limit headers');
my %h = map { %$_ } @{ $res->{headers} };
is($h{'RateLimit-Policy'}, '"burst";q=3;w=60', 'RateLimit-Policy');
is($h{'X-RateLimit-Remaining'}, '1', 'X-RateLimit-Remaining: the second of 3');

$res = request(path => '/rpc/list_items', headers => { 'x-api-key' => $tok{ro} });
is(scalar(@{ $res->{body} }), 1, 'RLS: the key sees the rows of its owner');

# ---- 401 ----
for my $case (
	[ 'no key', {} ],
	[ 'a malformed key', { 'x-api-key' => 'Bearer something' } ],
	[ 'an unknown key', { 'x-api-key' => 'ak_live_' . ('Z' x 38) } ],
	[ 'a revoked key', { 'x-api-key' => $tok{gone} } ])
{
	my $a = pgrst_answer(request(path => '/rpc/list_items', headers => $case->[1]), $case->[0]);
	is($a->{status}, 401, "$case->[0]: 401");
	is($a->{headers}{'WWW-Authenticate'}, 'ApiKey header="x-api-key"', "$case->[0]: WWW-Authenticate");
}

# ---- 403 ----
my $a = pgrst_answer(request(method => 'POST', path => '/rpc/add_item', args => '{"name": "x"}',
		headers => { 'x-api-key' => $tok{ro} }), 'missing scope');
is("$a->{status} $a->{details}", '403 INSUFFICIENT_SCOPE', 'a read-only key cannot POST add_item: 403');
is($a->{hint}, 'This request needs scope "items:write".', 'the hint names the scope');
$a = pgrst_answer(request(path => '/rpc/list_items',
		headers => { 'x-api-key' => $tok{ip}, 'x-forwarded-for' => '192.0.2.9, 203.0.113.5' }), 'address');
is("$a->{status} $a->{details}", '403 IP_NOT_ALLOWED', 'a client outside the allowlist: 403');
$res = request(path => '/rpc/list_items',
	headers => { 'x-api-key' => $tok{ip}, 'x-forwarded-for' => '203.0.113.5, 192.0.2.9' });
is($res->{status}, 200, 'inside it (first hop of x-forwarded-for): 200');

# ---- 429 ----
request(path => '/rpc/list_items', headers => { 'x-api-key' => $tok{rw} }) for 1 .. 2;
$a = pgrst_answer(request(path => '/rpc/list_items', headers => { 'x-api-key' => $tok{rw} }), 'burst spent');
is("$a->{status} $a->{details}", '429 RATE_LIMITED', 'after the burst of 3: 429');
like($a->{headers}{'Retry-After'}, qr/^(19|20)$/, 'with Retry-After (one token per 20 s)');
is($a->{headers}{'X-RateLimit-Remaining'}, '0', 'and the rate-limit headers');

# ---- 503 ----
$node->safe_psql('postgres', 'ALTER ROLE authenticator SET apikey.max_inflight = 1');
my $holder = $node->background_psql('postgres', extra_params => [ '-U', 'authenticator' ]);
$holder->query_safe(q{BEGIN READ ONLY});
my $holder_headers = sql_literal(encode_json({ 'x-api-key' => $tok{ro} }));
$holder->query_safe("SELECT set_config('role', 'anon', true), set_config('request.method', 'GET', true), "
	  . "set_config('request.path', '/rpc/list_items', true), "
	  . "set_config('request.headers', $holder_headers, true)");
$holder->query_safe(q{SELECT apikey.check_request()});
$a = pgrst_answer(request(path => '/rpc/list_items', headers => { 'x-api-key' => $tok{ro} }), 'overload');
is("$a->{status} $a->{details}", '503 OVERLOADED', 'with apikey.max_inflight requests in flight: 503');
is($a->{headers}{'Retry-After'}, '1', 'with Retry-After');
$holder->query_safe('COMMIT');
$holder->quit;
$node->safe_psql('postgres', 'ALTER ROLE authenticator RESET apikey.max_inflight');
is(request(path => '/rpc/list_items', headers => { 'x-api-key' => $tok{ro} })->{status}, 200,
	'the slot is free once that request has ended');

# ---- exchange(): a key for a JWT, checked independently ----
my $jwt = $node->safe_psql('postgres',
	"SELECT apikey.exchange(" . sql_literal($tok{ro}) . ", '5 minutes')->>'access_token'");
my ($h64, $c64, $s64) = split /\./, $jwt;
my $b64url = sub { my $s = shift; $s =~ tr{-_}{+/}; $s .= '=' x ((4 - length($s) % 4) % 4); decode_base64($s) };
is($b64url->($s64), hmac_sha256("$h64.$c64", $secret), 'the JWT signature verifies (Digest::SHA HMAC-SHA-256)');
SKIP:
{
	skip 'openssl is not installed', 1 unless system('openssl version >/dev/null 2>&1') == 0;
	my $mac = `printf '%s' '$h64.$c64' | openssl dgst -sha256 -hmac '$secret' -binary`;
	is($mac, $b64url->($s64), 'and with openssl dgst -sha256 -hmac');
}
my $claims = decode_json($b64url->($c64));
is("$claims->{sub} $claims->{role} @{$claims->{scopes}}", 'acme authenticated items:read',
	'claims: sub = owner, role, scopes');
is($claims->{exp} - $claims->{iat}, 300, 'exp = iat + ttl');
is(decode_json($b64url->($h64))->{alg}, 'HS256', 'alg HS256');

# errors of exchange() hide their statement, which holds the token
my ($out, $err);
$node->psql('postgres', "SELECT apikey.exchange(" . sql_literal($tok{ro}) . ", '0')",
	stdout => \$out, stderr => \$err);
like($err, qr/invalid ttl/, 'exchange() with a bad ttl fails');

# ---- no token in the log ----
$node->stop;
my $log = slurp_file($node->logfile);
ok(length($log) > 0 && $log =~ /PGRST/, 'the refusals were logged');
ok(!grep({ index($log, $_) >= 0 } values %tok), 'no token appears in the server log');
done_testing();
