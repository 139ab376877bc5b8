#!/usr/bin/env bash
# In-server cost per call of apikey's functions, inside one backend: a query
# evaluating the call once per row of a table, minus the same query with a
# trivial expression (the empty loop).  No network, client or parsing: what
# apikey itself costs.  Best of several runs, except for first-touch misses,
# which can only be measured once per backend.
#
# Usage: sudo bash bench/inserver.sh [N]       (rows per run, default 200000)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$here/scripts/lib.sh"

n=${1:-200000}
ak_install_deps
ak_build_install "$here"
work=$(ak_pg_workdir)
port=${AK_BENCH_PORT:-54339}
AK_PORT_VAR=AK_BENCH_PORT    # named by the error if the port is taken
trap 'ak_cluster_stop "$work"; rm -rf "$work"' EXIT
ak_cluster_start "$work" "$port"

psql() {
    "$(ak_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -h "$work" -p "$port" -U postgres \
        -d postgres "$@"
}

psql -v n="$n" >/dev/null <<'SQL'
CREATE EXTENSION apikey;
CREATE SCHEMA bench;

-- microseconds per evaluation of expr over the rows of relation "rows"
CREATE FUNCTION bench.cost(label text, expr text, rows text, runs int, target text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    calls bigint;
    best_f float8 := 'infinity';
    best_e float8 := 'infinity';
    t0 timestamptz;
BEGIN
    EXECUTE format('SELECT count(*) FROM %s', rows) INTO calls;
    IF runs > 1 THEN            -- warm up (a first touch is measured with runs = 1)
        EXECUTE format('SELECT count(*) FROM %s WHERE (%s) IS NOT NULL', rows, expr);
    END IF;
    FOR i IN 1 .. runs LOOP
        t0 := clock_timestamp();
        EXECUTE format('SELECT count(*) FROM %s WHERE (%s) IS NOT NULL', rows, expr);
        best_f := least(best_f, extract(epoch FROM clock_timestamp() - t0));
        t0 := clock_timestamp();
        EXECUTE format('SELECT count(*) FROM %s WHERE (%s) IS NOT NULL', rows, 'true');
        best_e := least(best_e, extract(epoch FROM clock_timestamp() - t0));
    END LOOP;
    RETURN rpad(label, 46) || lpad(to_char((best_f - best_e) * 1e6 / calls, 'FM99990.00'), 9)
           || ' us   ' || target;
END $$;

CREATE TABLE bench.series AS SELECT g FROM generate_series(1, :n) AS g;
CREATE TABLE bench.series_20k AS SELECT g FROM generate_series(1, 20000) AS g;
CREATE TABLE bench.tokens AS
    SELECT t.token FROM generate_series(1, 20000) AS g,
           LATERAL apikey.issue('bench-' || g % 100, name => g::text, scopes => '{read}') AS t;
CREATE TABLE bench.one AS
    SELECT token FROM apikey.issue('bench', scopes => '{read}', allowed_ips => '{10.0.0.0/8}',
                                   rate_limits => '[{"name": "second", "limit": 1000000000, "period": 1}]');
CREATE TABLE bench.two AS
    SELECT token FROM apikey.issue('bench', rate_limits =>
        '[{"name": "second", "limit": 1000000000, "period": 1},
          {"name": "day", "limit": 1000000000, "period": "1 day"}]');
VACUUM ANALYZE;
SQL

token=$(psql -At -c "SELECT token FROM bench.one")
token2=$(psql -At -c "SELECT token FROM bench.two")
q() { psql -At -c "$1"; }

echo "apikey in-server cost per call, one backend, PostgreSQL $(pg_config --version | awk '{print $2}')"
printf '%-46s %9s      %s\n' "call" "per call" "target"
q "SELECT bench.cost('verify(token), cached key',
     'apikey.verify(''$token'')', 'bench.series', 5, '<= 2 us')"
q "SELECT bench.cost('verify(token, scope, client_ip), cached',
     'apikey.verify(''$token'', ''read'', ''10.1.2.3'')', 'bench.series', 5, '<= 2 us')"
q "SELECT bench.cost('check(token): verify + 1 limit + headers',
     'apikey.check(''$token'', client_ip => ''10.1.2.3'')', 'bench.series', 5, '<= 5 us')"
q "SELECT bench.cost('check(token): verify + 2 limits + headers',
     'apikey.check(''$token2'')', 'bench.series', 5, '<= 5 us')"
q "SET apikey.ip_rate_limit = 1000000000; SET apikey.max_inflight = 1000000000;
   SELECT bench.cost('check(token): + address bucket + in-flight',
     'apikey.check(''$token'', client_ip => ''10.1.2.3'')', 'bench.series', 5, '<= 5 us')"
q "SELECT bench.cost('throttle(name, rate, period)',
     'apikey.throttle(''bench'', 1000000000, ''1 second'')', 'bench.series', 5, '-')"
q "SELECT bench.cost('verify(malformed): checksum only',
     'apikey.verify(''ak_live_00000000000000000000000000000000000000'')', 'bench.series', 5, '-')"
q "SET apikey.max_keys_cached = 0; SELECT bench.cost('verify(token), cache miss (cache off)',
     'apikey.verify(''$token'')', 'bench.series_20k', 5, '<= 50 us')"
q "SELECT bench.cost('verify(token), first touch of 20000 keys',
     'apikey.verify(token)', 'bench.tokens', 1, '<= 50 us')"
q "SET apikey.max_keys_cached = 50000; SELECT bench.cost('verify(token), 20000 keys, all cached',
     'apikey.verify(token)', 'bench.tokens', 5, '<= 2 us')"
