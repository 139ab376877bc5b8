#!/usr/bin/env bash
# What the apikey worker costs while 10,000 and 100,000 keys are active
# every second (issue 14's targets: at most 2% and 10% of one core).
#
# The keys are in a tier with a rate limit and daily and monthly quotas
# that admit everything, so every check() debits quotas and records usage,
# as in production, and the worker runs with its default settings.
# pgbench sweeps the active keys in blocks of 50 per transaction (SELECT
# count(apikey.check(token)) over 50 consecutive keys), at a fixed rate
# (pgbench -R) that checks each active key 1.2 times a second on average,
# so that every key is used in every second and the load is the same
# before and after a change of the worker.  Each client sweeps its own
# share of the blocks, so each backend's cache holds its share of the keys.
#
# Over a window of SECONDS, after a warm-up, it reads the worker's CPU time
# (utime + stime of /proc/<pid>/stat), the WAL written (pg_current_wal_lsn),
# the checks done and the worker's statements (pg_stat_statements), and
# prints the worker's share of one core, WAL bytes per second and the
# checks per second actually done.  An idle window comes first, for
# reference.  Sizes a running server needs for 100,000 keys (the bucket
# table, the usage store) are raised when those settings exist, so that
# nothing is dropped or refused; the key cache is raised so that backends
# do not miss.  Benchmarks are not tests: nothing here fails on a number.
#
# Usage: sudo bash bench/worker.sh [SECONDS, default 20] [CLIENTS, default 8]
#        AK_BENCH_KEYS="10000 100000", AK_BENCH_WARM=10, AK_BENCH_PORT=54359,
#        AK_BENCH_CONF: one more postgresql.conf line, e.g.
#        "apikey.flush_interval = '5s'" (what a longer crash-loss bound buys)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$here/scripts/lib.sh"
. "$here/bench/common.sh"

seconds=${1:-20}
clients=${2:-8}
warm=${AK_BENCH_WARM:-10}
sizes=${AK_BENCH_KEYS:-10000 100000}
block=50
passes=1.2      # checks of each active key per second
ak_install_deps
ak_build_install "$here"

max_keys=$(printf '%s\n' $sizes | sort -n | tail -1)
work=$(ak_pg_workdir)
port=${AK_BENCH_PORT:-54359}
AK_PORT_VAR=AK_BENCH_PORT    # named by the error if the port is taken
trap 'ak_cluster_stop "$work"; rm -rf "$work"' EXIT
ak_cluster_start "$work" "$port" "max_connections = 150" "shared_buffers = 512MB" \
    "shared_preload_libraries = 'apikey, pg_stat_statements'" \
    "pg_stat_statements.track = all" "log_min_messages = warning" "max_wal_size = 4GB" \
    ${AK_BENCH_CONF:+"$AK_BENCH_CONF"}
export PGHOST=$work PGPORT=$port PGUSER=postgres PGDATABASE=postgres
bindir=$(ak_bindir)
psql() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

# room for every key, in whichever settings this version has
room() {
    psql -At -c "SELECT name FROM pg_settings WHERE name = '$1'" | grep -q . || return 0
    psql -c "ALTER SYSTEM SET $1 = '$2'" >/dev/null
    echo "$1 = $2"
}
{
    room apikey.max_keys_cached $((max_keys * 2))
    room apikey.max_buckets $((max_keys * 4))
    room apikey.max_usage_entries $((max_keys * 3))
} > "$work/settings"
ak_as_pg "$bindir/pg_ctl" -D "$work/data" -l "$work/server.log" -w -t 60 restart >/dev/null

psql -v keys="$max_keys" >/dev/null <<'SQL'
CREATE EXTENSION apikey;
CREATE EXTENSION pg_stat_statements;
CREATE SCHEMA bench;
-- a tier whose limit and quotas admit everything: every check() debits
-- both quotas and the bucket, and records usage
INSERT INTO apikey.tiers (name, rate_limits, daily_quota, monthly_quota)
VALUES ('bench', '[{"name": "second", "limit": 1000000000, "period": 1}]',
        1000000000000, 1000000000000);
CREATE TABLE bench.tokens AS
SELECT i.n AS id, i.token
  FROM apikey.issue_bulk((SELECT jsonb_agg(jsonb_build_object('owner', 'bench-' || g % 100,
                                                              'name', g::text, 'tier', 'bench')
                                           ORDER BY g)
                            FROM generate_series(1, :keys) AS g))
       WITH ORDINALITY AS i(key_id, token, display_prefix, n);
ALTER TABLE bench.tokens ADD PRIMARY KEY (id);
VACUUM ANALYZE;
SQL

worker=$(psql -At -c "SELECT pid FROM pg_stat_activity WHERE backend_type LIKE 'apikey%worker%'")
[ -n "$worker" ] || ak_die "the apikey worker is not running"
hz=$(getconf CLK_TCK)
wal_lsn() { psql -At -c "SELECT pg_current_wal_lsn()"; }
wal_bytes() { psql -At -c "SELECT pg_wal_lsn_diff('$2', '$1')"; }

cat > "$work/sweep.sql" <<EOF
\\set blk (:client_id + $clients * :n) % :blocks
\\set n :n + 1
SELECT count(apikey.check(t.token)) FROM bench.tokens AS t
 WHERE t.id > :blk * $block AND t.id <= (:blk + 1) * $block;
EOF

# window LABEL: measures the worker over SECONDS; prints one line
window() {
    local c1 c2 w1 w2
    psql -c "SELECT pg_stat_statements_reset()" >/dev/null
    c1=$(bench_pid_jiffies "$worker")
    w1=$(wal_lsn)
    sleep "$seconds"
    c2=$(bench_pid_jiffies "$worker")
    w2=$(wal_lsn)
    awk -v label="$1" -v j=$((c2 - c1)) -v hz="$hz" -v s="$seconds" -v w="$(wal_bytes "$w1" "$w2")" 'BEGIN {
        printf "%-26s worker CPU %6.1f ms/s = %5.2f%% of one core, WAL %8.0f kB/s\n",
            label, j * 1000 / hz / s, j * 100 / hz / s, w / 1024 / s }'
}

statements() {
    psql -c "
        SELECT left(regexp_replace(query, '\s+', ' ', 'g'), 60) AS statement, calls,
               round(rows::numeric / greatest(calls, 1)) AS rows_per_call,
               round(mean_exec_time::numeric, 2) AS mean_ms,
               round((total_exec_time / $seconds)::numeric, 1) AS ms_per_s
          FROM pg_stat_statements
         WHERE query NOT LIKE '%bench.tokens%' AND query NOT LIKE '%pg_stat_statements%'
           AND query NOT LIKE '%pg_current_wal_lsn%' AND query NOT LIKE '%pg_wal_lsn_diff%'
         ORDER BY total_exec_time DESC LIMIT 6"
}

echo "apikey worker cost: $(nproc) cores, PostgreSQL $(pg_config --version | awk '{print $2}'), $clients clients"
echo "keys in a tier with a rate limit and daily and monthly quotas; usage on; worker settings: defaults"
[ -s "$work/settings" ] && echo "room for $max_keys keys: $(paste -sd, "$work/settings" | sed 's/,/, /g')"
echo "each active key checked $passes times a second, in blocks of $block; ${seconds}s windows after ${warm}s"
echo
window "idle"
for keys in $sizes; do
    blocks=$((keys / block))
    rate=$(awk -v k="$keys" -v p="$passes" -v b="$block" 'BEGIN { printf "%d", k * p / b }')
    o1=$(psql -At -c "SELECT coalesce(sum(overloaded_total), 0) FROM apikey.stats")
    "$bindir/pgbench" -n -T $((warm + seconds + 2)) -c "$clients" -j 2 -R "$rate" \
        -D blocks="$blocks" -D n=0 -f "$work/sweep.sql" > "$work/pgbench.out" 2>&1 &
    pgbench=$!
    sleep "$warm"
    window "$keys active keys"
    wait "$pgbench" || { cat "$work/pgbench.out" >&2; exit 1; }
    o2=$(psql -At -c "SELECT coalesce(sum(overloaded_total), 0) FROM apikey.stats")
    tps=$(awk '/^tps = / { print $3; exit }' "$work/pgbench.out")
    lag=$(awk '/rate limit schedule lag:/ { sub(/.*lag: /, ""); print; exit }' "$work/pgbench.out")
    awk -v t="$tps" -v b="$block" -v k="$keys" -v r="$rate" -v lag="$lag" -v o=$((o2 - o1)) 'BEGIN {
        printf "%-26s checks %8.0f/s (asked %d/s, schedule lag %s), %.2f checks per key per second, OVERLOADED %d\n",
            "", t * b, r * b, lag, t * b / k, o }'
    statements
done
echo "log lines about dropped usage or full tables:"
grep -Ei "full|dropped" "$work/server.log" | sed 's/^/  /' | tail -5 || echo "  none"
