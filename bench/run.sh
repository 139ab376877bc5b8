#!/usr/bin/env bash
# Throughput of apikey.check() under pgbench -M prepared, in one run, against
# what bounds it and what people write instead:
#
#   SELECT 1            the cheapest statement
#   floor               bench/floor: a no-op C function with check()'s exact
#                       signature and result (hash the token, build a constant
#                       row with realistic headers) -- the interface floor
#   check               apikey.check(token), admitted (limits and daily and
#                       monthly quotas set high; usage collected, and the
#                       apikey worker flushing it every second, as in production)
#   plpgsql             a table-based limiter: digest lookup + UPDATE ...
#                       RETURNING token bucket, as users write it
#
# each on one hot key and over 10,000 keys (the 10k workloads read the token
# by a random id from a small table: floor and check pay the same lookup),
# at 1, 8 and 64 clients.  Prints TPS, p99 latency and the ratios to SELECT 1
# and to the floor.  Benchmarks are not tests: nothing here fails on a number.
#
# Each run lasts WARM + SECONDS; the first WARM seconds are left out of every
# figure, for every workload alike.  That is when each new pgbench backend
# fills its verification cache: 64 backends meeting 10,000 keys make 640,000
# first-touch misses (bench/inserver.sh: about 5 us each), a cost a
# long-lived backend pays once, not per request.
#
# This VM's throughput swings by 10-20% over seconds (neighbours on the
# host), more than the differences measured here.  So the workloads run in
# ROUNDS rounds, each round running every workload back to back; TPS and p99
# are medians over rounds, and each ratio is the median of the ratios
# measured within a round -- between runs seconds apart -- shown with their
# range.  The plpgsql limiter, far slower, runs in one round.
#
# Each run also reads the machine's busy CPU time (/proc/stat: user, nice,
# system, irq, softirq -- not idle, not time stolen by the host) over the
# measured window, and divides it by the transactions in the window.  On a
# saturated machine throughput is the inverse of that cost, so the ratio of
# CPU per transaction (floor / check) is what the TPS ratio would be on a
# quiet, dedicated machine: the steadier figure of the two.
#
# Usage: sudo bash bench/run.sh [SECONDS, default 6] [clients...]
#        AK_BENCH_WARM=5, AK_BENCH_ROUNDS=5 (defaults)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$here/scripts/lib.sh"

seconds=${1:-6}
shift || true
warm=${AK_BENCH_WARM:-5}
rounds=${AK_BENCH_ROUNDS:-5}
clients=${*:-1 8 64}
ak_install_deps
ak_build_install "$here"
make -C "$here/bench/floor" -s >/dev/null

work=$(ak_pg_workdir)
port=${AK_BENCH_PORT:-54349}
AK_PORT_VAR=AK_BENCH_PORT    # named by the error if the port is taken
trap 'ak_cluster_stop "$work"; rm -rf "$work"' EXIT
cp "$here/bench/floor/check_floor.so" "$work/"
ak_cluster_start "$work" "$port" "max_connections = 150" "shared_buffers = 256MB" \
    "log_min_messages = warning"
export PGHOST=$work PGPORT=$port PGUSER=postgres PGDATABASE=postgres
bindir=$(ak_bindir)
psql() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

(cd "$here/bench" && psql -v floor_so="$work/check_floor.so") >/dev/null <<'SQL'
CREATE EXTENSION apikey;
CREATE SCHEMA bench;

CREATE FUNCTION bench.check_floor(token text, scope text DEFAULT NULL,
                                  client_ip text DEFAULT NULL, cost integer DEFAULT 1)
RETURNS apikey.check_result LANGUAGE c VOLATILE
AS :'floor_so', 'check_floor';

\ir keys.sql

-- what people write instead: a table of digests and token buckets
CREATE TABLE bench.pl_keys (
    key_hash    bytea PRIMARY KEY,
    owner       text NOT NULL,
    tokens      double precision NOT NULL,
    updated_at  timestamptz NOT NULL,
    rate        double precision NOT NULL,
    burst       double precision NOT NULL
);
INSERT INTO bench.pl_keys
SELECT sha256(convert_to(token, 'UTF8')), 'bench', 1e9, now(), 1e9, 1e9 FROM bench.tokens;

CREATE FUNCTION bench.pl_check(token text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    k bench.pl_keys;
BEGIN
    UPDATE bench.pl_keys
       SET tokens = least(burst, tokens + rate * extract(epoch FROM clock_timestamp() - updated_at)) - 1,
           updated_at = clock_timestamp()
     WHERE key_hash = sha256(convert_to(token, 'UTF8'))
       AND least(burst, tokens + rate * extract(epoch FROM clock_timestamp() - updated_at)) >= 1
    RETURNING * INTO k;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('allowed', false);
    END IF;
    RETURN jsonb_build_object('allowed', true, 'owner', k.owner,
        'headers', jsonb_build_object('X-RateLimit-Limit', k.burst::bigint::text,
                                      'X-RateLimit-Remaining', floor(k.tokens)::bigint::text));
END $$;

VACUUM ANALYZE;
SQL

hot=$(psql -At -c "SELECT token FROM bench.tokens WHERE id = 1")
# every key cached and every bucket created in one pass, before timing
psql -At -c "SELECT count(*) FROM bench.tokens, apikey.check(token)" >/dev/null

workloads="select1 floor_hot check_hot plpgsql_hot floor_10k check_10k plpgsql_10k"
results=$work/results
mkdir -p "$results"

# busy CPU time of the whole machine so far, in jiffies (not idle, not steal)
busy_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }

# run WORKLOAD CLIENTS: "tps p99_ms cpu_us_per_transaction", after the warm-up
run() {
    local w=$1 c=$2 j out pid b1 b2
    j=$(( c < 2 ? 1 : 2 ))
    rm -f "$results"/log.*
    "$bindir/pgbench" -n -M prepared -T $((warm + seconds)) -c "$c" -j "$j" -P 1 \
        -D token="$hot" -D warmed=0 -f "$here/bench/workloads/$w.sql" \
        -l --sampling-rate=0.2 --log-prefix="$results/log" > "$results/out" 2>&1 &
    pid=$!
    sleep "$warm"
    b1=$(busy_jiffies)
    sleep "$seconds"
    b2=$(busy_jiffies)
    wait "$pid" || { cat "$results/out" >&2; return 1; }
    out=$(cat "$results/out")
    local tps p99 start cpu
    tps=$(awk -v warm="$warm" '/^progress: / { t = $2 + 0; if (t > warm) { s += $4; n++ } }
                               END { if (n) printf "%.0f", s / n }' <<<"$out")
    cpu=$(awk -v j=$((b2 - b1)) -v tps="$tps" -v s="$seconds" -v hz="$(getconf CLK_TCK)" \
              'BEGIN { printf "%.1f", j * 1e6 / hz / (tps * s) }')
    start=$(cat "$results"/log.* | awk 'NR == 1 || $5 < m { m = $5 } END { print m }')
    p99=$(cat "$results"/log.* | awk -v from=$((start + warm)) '$5 >= from { print $3 }' | sort -n |
          awk '{ a[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.3f", a[i] / 1000 }')
    echo "$tps $p99 $cpu"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
range() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s-%s", lo, hi }'; }

# the workload each one is compared with, within a round
baseline() {
    case $1 in
    select1) echo - ;;
    check_*|plpgsql_*) echo "floor_${1#*_}" ;;
    *) echo select1 ;;
    esac
}

echo "apikey.check() under pgbench -M prepared: $(nproc) cores, PostgreSQL $(pg_config --version | awk '{print $2}')"
echo "${seconds}s per run after ${warm}s of warm-up; medians of $rounds rounds (ratios: within each round)"
echo "CPU: busy CPU time of the machine per transaction (us); CPU ratio = floor's / this one's"
printf '%-7s %-12s %8s %7s %7s %17s %6s %17s\n' clients workload TPS "p99 ms" "vs SEL1" \
    "vs floor [range]" "CPU us" "by CPU [range]"
for c in $clients; do
    run select1 "$c" >/dev/null      # warm up the server and the OS
    declare -A tps_runs=() p99_runs=() cpu_runs=() vs_select1=() vs_floor=() cpu_floor=()
    for r in $(seq "$rounds"); do
        declare -A now=() cpu_now=()
        for w in $workloads; do
            [ "$r" -gt 1 ] && [ "${w#plpgsql}" != "$w" ] && continue
            read -r t p u < <(run "$w" "$c")
            now[$w]=$t
            cpu_now[$w]=$u
            tps_runs[$w]+="$t "
            p99_runs[$w]+="$p "
            cpu_runs[$w]+="$u "
        done
        for w in "${!now[@]}"; do
            vs_select1[$w]+="$(ratio "${now[$w]}" "${now[select1]}") "
            b=$(baseline "$w")
            if [ "$b" != - ] && [ "$b" != select1 ]; then
                vs_floor[$w]+="$(ratio "${now[$w]}" "${now[$b]}") "
                cpu_floor[$w]+="$(ratio "${cpu_now[$b]}" "${cpu_now[$w]}") "
            fi
        done
        unset now cpu_now
    done
    for w in $workloads; do
        vf=- cf=-
        if [ -n "${vs_floor[$w]:-}" ]; then
            vf="$(median ${vs_floor[$w]}) [$(range ${vs_floor[$w]})]"
            cf="$(median ${cpu_floor[$w]}) [$(range ${cpu_floor[$w]})]"
        fi
        printf '%-7s %-12s %8s %7s %7s %17s %6s %17s\n' "$c" "$w" "$(median ${tps_runs[$w]})" \
            "$(median ${p99_runs[$w]})" "$(median ${vs_select1[$w]})" "$vf" \
            "$(median ${cpu_runs[$w]})" "$cf"
    done
    unset tps_runs p99_runs cpu_runs vs_select1 vs_floor cpu_floor
done
