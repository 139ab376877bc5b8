# doc/grafana/apikey.json, the importable Grafana dashboard
# (doc/dashboards.md): valid JSON in the shape Grafana imports (a data
# source input, an $owner variable, panels on a 24-column grid that do not
# overlap); the panels of the report; and every query, once Grafana's
# macros and variables are replaced by the SQL Grafana would send, runs
# against a sample database as the monitoring role the docs describe,
# returning rows, with a "time" column for the time series.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use JSON::PP;
use ApikeyTest;

my $dashboard = eval {
	decode_json(slurp_file("$FindBin::RealBin/../../doc/grafana/apikey.json"));
};
ok($dashboard, 'doc/grafana/apikey.json is valid JSON') or diag($@);

# ---- what Grafana's import needs ----
my ($input) = @{ $dashboard->{__inputs} // [] };
is_deeply([ @$input{qw(name type pluginId)} ], [ 'DS_APIKEY', 'datasource', 'grafana-postgresql-datasource' ],
	'it asks for a PostgreSQL data source on import');
ok($dashboard->{title} && $dashboard->{uid} && $dashboard->{schemaVersion}, 'a title, a uid, a schema version');
my ($owner) = grep { $_->{name} eq 'owner' } @{ $dashboard->{templating}{list} };
ok($owner && $owner->{type} eq 'query' && $owner->{multi} && $owner->{includeAll},
	'an $owner variable: a query, several values or all');

my @panels = grep { $_->{type} ne 'row' } @{ $dashboard->{panels} };
my %titles = map { $_->{title} => $_ } @panels;
for my $title ('Requests and refusals per hour', 'Latency per hour: p50, p95, p99',
	'Quota burn-down this month (monthly quota left)', 'Keys nearest their quota',
	'Top endpoints', 'Top refused keys and their codes', 'Key inventory',
	'Addresses with the most failed verifications', 'Buckets in use')
{
	ok($titles{$title}, "panel: $title");
}
my %ids;
my @bad = grep {
	$ids{ $_->{id} }++
	  || ($_->{datasource}{uid} // '') ne '${DS_APIKEY}'
	  || !@{ $_->{targets} // [] }
	  || grep({ !$_->{rawQuery} || !$_->{rawSql} } @{ $_->{targets} })
} @panels;
is_deeply([ map { $_->{title} } @bad ], [], 'every panel: a unique id, the data source input, raw SQL');

# the grid: 24 columns, no two panels on the same cell
my %cell;
my @overlaps;
for my $p (@{ $dashboard->{panels} })
{
	my $g = $p->{gridPos};
	push @overlaps, "$p->{title} is wider than the grid" if $g->{x} + $g->{w} > 24;
	for my $x ($g->{x} .. $g->{x} + $g->{w} - 1)
	{
		for my $y ($g->{y} .. $g->{y} + $g->{h} - 1)
		{
			push @overlaps, "$p->{title} on $cell{$x,$y}" if $cell{$x,$y};
			$cell{$x,$y} = $p->{title};
		}
	}
}
is_deeply(\@overlaps, [], 'the panels tile the grid without overlapping');

# ---- the queries, against a sample database ----
my $node = apikey_node('grafana', conf => q{
apikey.denied_audit_window = '1s'
apikey.flush_interval = '200ms'
});
$node->safe_psql('postgres', slurp_file("$FindBin::RealBin/../dashboards/sample.sql"));
# the monitoring role of doc/dashboards.md, which also sees the worker
$node->safe_psql('postgres', q{CREATE ROLE grafana LOGIN IN ROLE apikey_admin, pg_read_all_stats});
poll_ok($node, 'postgres', q{SELECT sum(requests) FROM apikey.usage_hourly
             WHERE hour >= date_trunc('hour', now(), 'UTC')}, '124', 'the sample is written');

sub grafana_sql
{
	my ($sql, %param) = @_;
	return $node->psql('postgres', $sql, extra_params => [ '-U', 'grafana', '--csv', '-P', 'tuples_only=off' ], %param);
}

my ($rc, $owners, $err) = grafana_sql($owner->{query});
is($owners, "owner\nacme\nalice\nglobex\ninitech", 'the $owner variable\'s query lists the owners');
my $all_owners = join ',', map { "'$_'" } split /\n/, ($owners =~ s/^owner\n//r);

# Grafana's macros as the PostgreSQL data source expands them, over the
# dashboard's default range (the last 7 days)
my %step = ('1h' => 3600, '$__interval' => 3600, '1d' => 86400);
my $from = q{'now'::timestamptz - interval '7 days'};
sub expand
{
	my ($sql) = @_;
	$sql =~ s/\$__timeGroupAlias\(\s*([\w.]+)\s*,\s*([\$\w]+)\s*\)/
	  "to_timestamp(floor(extract(epoch FROM $1) \/ $step{$2}) * $step{$2}) AS \"time\""/ge;
	$sql =~ s/\$__timeGroup\(\s*([\w.]+)\s*,\s*([\$\w]+)\s*\)/
	  "to_timestamp(floor(extract(epoch FROM $1) \/ $step{$2}) * $step{$2})"/ge;
	$sql =~ s/\$__timeFilter\(\s*([\w.]+)\s*\)/$1 BETWEEN $from AND now()/g;
	$sql =~ s/\$__timeFrom\(\)/$from/g;
	$sql =~ s/\$__timeTo\(\)/now()/g;
	$sql =~ s/\$__interval\b/'1h'/g;
	$sql =~ s/\$\{owner(?::[a-z]+)?\}|\$owner\b/$all_owners/g;
	return $sql;
}

for my $p (@panels)
{
	for my $t (@{ $p->{targets} })
	{
		my $sql = expand($t->{rawSql});
		unlike($sql, qr/\$\w/, "$p->{title}: every macro and variable is known");
		my ($code, $out, $stderr) = grafana_sql($sql);
		is($code, 0, "$p->{title}: the query runs") or diag("$stderr\n$sql");
		my @rows = split /\n/, $out;
		ok(@rows > 1, "$p->{title}: and returns rows");
		if (($t->{format} // '') eq 'time_series')
		{
			like($rows[0], qr/^"?time"?,/, "$p->{title}: a time series, time first");
		}
	}
}

done_testing();
