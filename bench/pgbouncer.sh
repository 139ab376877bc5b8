#!/usr/bin/env bash
# A thousand clients through PgBouncer against 64 direct connections.
#
# PgBouncer (installed if missing) runs on loopback in transaction pooling
# mode with a pool of POOL server connections (64 by default, as many as the
# direct arm opens); pgbench runs 1,000 clients through it, then 64 clients
# straight to the server, with the same scripts, in the simple query
# protocol for both (PgBouncer 1.18 keeps no prepared statements across
# server connections).  Workloads, each over 10,000 keys drawn at random:
#
#   check       one check() per transaction: SELECT apikey.check(token)
#   noop        a PostgREST-shaped request (bench/workloads/postgrest.sql.in)
#               with a pre-request that does nothing
#   apikey      the same with apikey.check_request() as pre-request
#
# Rounds are interleaved; each prints TPS and p99 latency per arm, and the
# ratios pgbouncer / direct and apikey / noop within the round.  The end
# prints medians over rounds.  Server backends meet keys as they come: the
# first WARM seconds of each run (their caches filling) are left out.
# Benchmarks are not tests: nothing here fails on a number.
#
# Usage: sudo bash bench/pgbouncer.sh [SECONDS, default 8]
#        AK_BENCH_WARM=8, AK_BENCH_ROUNDS=3, AK_BENCH_CLIENTS=1000,
#        AK_BENCH_POOL=64, AK_BENCH_PORT=54389 (PgBouncer: the next port)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$here/scripts/lib.sh"
. "$here/bench/common.sh"

seconds=${1:-8}
warm=${AK_BENCH_WARM:-8}
rounds=${AK_BENCH_ROUNDS:-3}
many=${AK_BENCH_CLIENTS:-1000}
pool=${AK_BENCH_POOL:-64}
direct=64
workloads="check noop apikey"
ak_install_deps
bench_need pgbouncer pgbouncer
ak_build_install "$here"

work=$(ak_pg_workdir)
port=${AK_BENCH_PORT:-54389}
bport=$((port + 1))
fds=$((many + pool + 200))
cleanup() {
    if [ -f "$work/pgbouncer.pid" ]; then kill "$(cat "$work/pgbouncer.pid")" 2>/dev/null || true; fi
    ak_cluster_stop "$work"
    rm -rf "$work"
}
trap cleanup EXIT
ak_cluster_start "$work" "$port" "max_connections = $((pool + direct + 20))" \
    "shared_buffers = 256MB" "log_min_messages = warning"
export PGHOST=$work PGPORT=$port PGUSER=postgres PGDATABASE=postgres
bindir=$(ak_bindir)
psql() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

(cd "$here/bench" && psql -f postgrest_setup.sql) >/dev/null
psql -c "GRANT SELECT ON bench.tokens TO anon" >/dev/null
psql -At -c "SELECT count(*) FROM bench.tokens, apikey.check(token)" >/dev/null

# PgBouncer, as the postgres OS user (it refuses root), on loopback
ak_as_pg tee "$work/userlist.txt" >/dev/null <<EOF
"postgres" ""
"authenticator" ""
EOF
ak_as_pg tee "$work/pgbouncer.ini" >/dev/null <<EOF
[databases]
postgres = host=$work port=$port dbname=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bport
unix_socket_dir =
auth_type = trust
auth_file = $work/userlist.txt
pool_mode = transaction
default_pool_size = $pool
max_client_conn = $((many + 100))
logfile = $work/pgbouncer.log
pidfile = $work/pgbouncer.pid
EOF
ak_as_pg sh -c "ulimit -n $fds && exec pgbouncer -d $work/pgbouncer.ini" \
    || ak_die "pgbouncer did not start"
for _ in $(seq 50); do
    "$bindir/psql" -X -At -h 127.0.0.1 -p "$bport" -U postgres -c "SELECT 1" postgres >/dev/null 2>&1 && break
    sleep 0.2
done

# the scripts: one check() per transaction, and the PostgREST-shaped
# request without the per-connection warm-up (a pooled client has no
# connection of its own to warm)
scripts=$work/scripts
mkdir -p "$scripts"
cat > "$scripts/check.sql" <<'EOF'
\set i random(1, :keys)
SELECT apikey.check(t.token) FROM bench.tokens AS t WHERE t.id = :i;
EOF
for arm in noop apikey; do
    bench_postgrest_script "$arm" "$here/bench/workloads/postgrest.sql.in" "$scripts/$arm.sql"
done

results=$work/results
mkdir -p "$results"

# run WORKLOAD SETUP: writes "tps p99_ms" to $results/last, after the warm-up;
# every workload connects as authenticator, so PgBouncer keeps one pool
run() {
    local w=$1 setup=$2 c user=authenticator host=127.0.0.1 p=$port start
    [ "$setup" = pgbouncer ] && c=$many p=$bport || c=$direct
    rm -f "$results"/log.*
    sh -c "ulimit -n $fds && exec \"\$@\"" pgbench "$bindir/pgbench" -n -T $((warm + seconds)) \
        -c "$c" -j 2 -P 1 -h "$host" -p "$p" -U "$user" -D keys=10000 -D warmed=1 \
        -f "$scripts/$w.sql" -l --sampling-rate=0.05 --log-prefix="$results/log" \
        postgres > "$results/out" 2>&1 || { cat "$results/out" >&2; return 1; }
    start=$(bench_log_start "$results"/log.*)
    echo "$(bench_progress_tps "$warm" "$results/out") \
$(bench_latency_quantile 0.99 $((start + warm)) "$results"/log.*)" > "$results/last"
}

declare -A tps_all=() p99_all=() vs_direct=() vs_noop=()
echo "$many clients through PgBouncer $(pgbouncer --version | head -1 | awk '{print $2}') (transaction pooling, pool $pool) vs $direct direct connections"
echo "$(nproc) cores, PostgreSQL $(pg_config --version | awk '{print $2}'), pgbench simple protocol, 10,000 keys at random"
echo "${seconds}s per run after ${warm}s of warm-up; $rounds rounds"
for r in $(seq "$rounds"); do
    declare -A now=()
    for w in $workloads; do
        for setup in direct pgbouncer; do
            run "$w" "$setup"
            read -r t p < "$results/last"
            now[$w $setup]=$t
            tps_all[$w $setup]+="$t "
            p99_all[$w $setup]+="$p "
        done
        vs_direct[$w]+="$(bench_ratio "${now[$w pgbouncer]}" "${now[$w direct]}") "
    done
    for setup in direct pgbouncer; do
        vs_noop[$setup]+="$(bench_ratio "${now[apikey $setup]}" "${now[noop $setup]}") "
    done
    line=""
    for w in $workloads; do
        line+=" $w ${now[$w direct]}/${now[$w pgbouncer]}"
    done
    echo "round $r, TPS direct/pgbouncer:$line"
    unset now
done

echo
printf '%-8s %-10s %8s %9s %22s\n' workload setup TPS "p99 ms" "pgbouncer/direct"
for w in $workloads; do
    for setup in direct pgbouncer; do
        vd=""
        # shellcheck disable=SC2086
        [ "$setup" = pgbouncer ] && vd="$(bench_median ${vs_direct[$w]}) [$(bench_min ${vs_direct[$w]})-$(bench_max ${vs_direct[$w]})]"
        # shellcheck disable=SC2086
        printf '%-8s %-10s %8s %9s %22s\n' "$w" "$setup" "$(bench_median ${tps_all[$w $setup]})" \
            "$(bench_median ${p99_all[$w $setup]})" "$vd"
    done
done
for setup in direct pgbouncer; do
    # shellcheck disable=SC2086
    echo "check_request() / no-op pre-request, $setup: $(bench_median ${vs_noop[$setup]}) [$(bench_min ${vs_noop[$setup]})-$(bench_max ${vs_noop[$setup]})]"
done
