#!/usr/bin/env bash
# Instructions per call, counted by valgrind (callgrind) in a single-user
# backend: repeatable to the instruction whatever the machine is doing,
# unlike timings on a shared 2-core VM.  For each function: a run that
# calls it once per key (cache misses, first touches) and a run that then
# calls it P more times per key; (second - first) / (P * keys) is the
# steady-state cost of one call.  The floor (bench/floor) is measured the
# same way.
#
# Usage: sudo bash bench/instructions.sh [KEYS, default 2000] [PASSES, default 5]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$here/scripts/lib.sh"

keys=${1:-2000}
passes=${2:-5}
ak_install_deps
command -v valgrind >/dev/null || { apt-get install -y -qq valgrind >/dev/null; }
ak_build_install "$here"
make -C "$here/bench/floor" -s >/dev/null

work=$(ak_pg_workdir)
port=${AK_BENCH_PORT:-54369}
AK_PORT_VAR=AK_BENCH_PORT    # named by the error if the port is taken
trap 'ak_cluster_stop "$work"; rm -rf "$work"' EXIT
cp "$here/bench/floor/check_floor.so" "$work/"
ak_cluster_start "$work" "$port"
export PGHOST=$work PGPORT=$port PGUSER=postgres PGDATABASE=postgres
"$(ak_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -v floor_so="$work/check_floor.so" -v keys="$keys" <<'SQL'
CREATE EXTENSION apikey;
CREATE FUNCTION check_floor(token text, scope text DEFAULT NULL,
                            client_ip text DEFAULT NULL, cost integer DEFAULT 1)
RETURNS apikey.check_result LANGUAGE c VOLATILE AS :'floor_so', 'check_floor';
CREATE TABLE tokens AS
    SELECT t.token FROM generate_series(1, :keys) AS g,
           LATERAL apikey.issue('bench-' || g % 100, name => g::text, scopes => '{read}',
               rate_limits => '[{"name": "second", "limit": 1000000000, "period": 1}]') AS t;
VACUUM ANALYZE tokens;
SQL
ak_cluster_stop "$work"

# count EXPR PASSES FUNCTION: instructions spent in FUNCTION (inclusive)
count() {
    local expr=$1 n=$2 fn=$3 sql=$work/run.sql
    # an aggregate's argument runs once per joined row (a WHERE clause on
    # tokens alone would be pushed down and run once per key)
    echo "SELECT count($expr) FROM tokens" > "$sql"
    if [ "$n" -gt 0 ]; then
        echo "SELECT count($expr) FROM tokens, generate_series(1, $n) AS pass" >> "$sql"
    fi
    chown postgres: "$sql"
    ak_as_pg valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
        "$(ak_bindir)/postgres" --single -D "$work/data" -c shared_preload_libraries=apikey \
        postgres < "$sql" >/dev/null 2>&1
    callgrind_annotate --inclusive=yes "$work/cg.out" 2>/dev/null |
        awk -v fn=":$fn " -v fn2=":${fn}_0_2 " '(index($0, fn) || index($0, fn2)) && !found { gsub(",", "", $1); print $1; found = 1 }'
}

per_call() {
    local label=$1 expr=$2 fn=$3 a b
    a=$(count "$expr" 0 "$fn")
    b=$(count "$expr" "$passes" "$fn")
    printf '%-44s %8d   (first touch %d)\n' "$label" $(( (b - a) / (passes * keys) )) $(( a / keys ))
}

echo "instructions per call, steady state ($keys keys, $passes passes)"
per_call "check_floor(token): the interface floor" "check_floor(token)" check_floor
per_call "apikey.check(token)" "apikey.check(token)" apikey_check
per_call "apikey.check(token, 'read', '10.1.2.3')" "apikey.check(token, 'read', '10.1.2.3')" apikey_check
per_call "apikey.verify(token)" "apikey.verify(token)" apikey_verify

# AK_BENCH_PROFILE=FILE keeps the callgrind profile of check()'s steady state
if [ -n "${AK_BENCH_PROFILE:-}" ]; then
    count "apikey.check(token)" "$passes" apikey_check >/dev/null
    cp "$work/cg.out" "$AK_BENCH_PROFILE"
fi
