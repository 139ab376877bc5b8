#!/usr/bin/env bash
# What the apikey worker costs with 10,000 active keys.
#
# pgbench runs check() over 10,000 keys with quotas (bench/workloads/
# check_10k.sql) while the worker flushes every second: quota counts and
# last_used_at into keys, usage into usage_hourly.  Over the measured
# window this prints, per flush: the worker's CPU time (from
# /proc/<pid>/stat), the rows written and the execution time of each of its
# statements (pg_stat_statements, track = all).  Benchmarks are not tests:
# nothing here fails on a number.
#
# Usage: sudo bash bench/worker.sh [SECONDS, default 20] [CLIENTS, default 8]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$here/scripts/lib.sh"

seconds=${1:-20}
clients=${2:-8}
warm=5
ak_install_deps
ak_build_install "$here"

work=$(ak_pg_workdir)
port=${AK_BENCH_PORT:-54359}
AK_PORT_VAR=AK_BENCH_PORT    # named by the error if the port is taken
trap 'ak_cluster_stop "$work"; rm -rf "$work"' EXIT
ak_cluster_start "$work" "$port" "max_connections = 150" "shared_buffers = 256MB" \
    "shared_preload_libraries = 'apikey, pg_stat_statements'" \
    "pg_stat_statements.track = all" "apikey.flush_interval = '1s'" \
    "log_min_messages = warning"
export PGHOST=$work PGPORT=$port PGUSER=postgres PGDATABASE=postgres
bindir=$(ak_bindir)
psql() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

(cd "$here/bench" && psql) >/dev/null <<'SQL'
CREATE EXTENSION apikey;
CREATE EXTENSION pg_stat_statements;
CREATE SCHEMA bench;
\ir keys.sql
VACUUM ANALYZE;
SQL

worker=$(psql -At -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'apikey worker'")
[ -n "$worker" ] || ak_die "the apikey worker is not running"
cpu_jiffies() { awk '{ print $14 + $15 }' "/proc/$worker/stat"; }

"$bindir/pgbench" -n -M prepared -T $((warm + seconds)) -c "$clients" -j 2 -D warmed=0 \
    -f "$here/bench/workloads/check_10k.sql" > "$work/pgbench.out" 2>&1 &
pgbench=$!
sleep "$warm"
psql -c "SELECT pg_stat_statements_reset()" >/dev/null
c1=$(cpu_jiffies)
sleep "$seconds"
c2=$(cpu_jiffies)
wait "$pgbench" || { cat "$work/pgbench.out" >&2; exit 1; }
sleep 2    # the last flush of the window

hz=$(getconf CLK_TCK)
echo "apikey worker, flush_interval 1 s, 10,000 keys with quotas, pgbench check() at $clients clients"
echo "pgbench: $(grep -E '^tps' "$work/pgbench.out" | head -1)"
psql -At -F ' ' -c "
    SELECT count(DISTINCT key_id), sum(requests) FROM apikey.usage_hourly" |
    awk '{ printf "usage_hourly: %d keys, %d requests counted\n", $1, $2 }'
flushes=$(psql -At -c "SELECT coalesce(max(calls), 0) FROM pg_stat_statements
                        WHERE query LIKE 'UPDATE apikey.keys AS k SET%'")
awk -v j=$((c2 - c1)) -v hz="$hz" -v s="$seconds" -v f="$flushes" 'BEGIN {
    printf "worker CPU: %.1f ms per second of wall time (%.2f%% of one core), %d flushes, %.1f ms per flush\n",
        j * 1000 / hz / s, j * 100 / hz / s, f, (f ? j * 1000 / hz / f : 0) }'
echo
echo "per statement, per flush (pg_stat_statements):"
psql -c "
    SELECT CASE WHEN query LIKE 'UPDATE apikey.keys AS k SET%' THEN 'flush keys: UPDATE keys'
                WHEN query LIKE 'INSERT INTO apikey.usage_hourly%' THEN 'flush usage: upsert usage_hourly'
                ELSE left(regexp_replace(query, '\s+', ' ', 'g'), 40) END AS statement,
           calls, round(rows::numeric / calls) AS rows_per_call,
           round(mean_exec_time::numeric, 2) AS mean_ms,
           round(max_exec_time::numeric, 2) AS max_ms
      FROM pg_stat_statements
     WHERE query LIKE 'UPDATE apikey.keys AS k SET%'
        OR query LIKE 'INSERT INTO apikey.usage_hourly%'
     ORDER BY statement"
