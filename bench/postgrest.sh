#!/usr/bin/env bash
# PostgREST-shaped requests under pgbench -M prepared: the transaction
# PostgREST 12 sends for GET /items with an API key (bench/workloads/
# postgrest.sql.in), with four pre-requests:
#
#   none      no db-pre-request: PostgREST's own statements and the query
#   noop      a plpgsql pre-request that does nothing: what any pre-request
#             costs -- the baseline every ratio is taken against
#   apikey    apikey.check_request(): verification, rate limit, daily and
#             monthly quotas, usage, response headers
#   table     what users write instead: a plpgsql limiter on a table of
#             SHA-256 digests with a token bucket per row, UPDATE ...
#             RETURNING per request.  It writes, so it cannot run in the
#             READ ONLY transaction of a GET: this arm alone runs READ WRITE
#             (a POST's transaction), and commits a write per request.
#
# each on one hot key and over 10,000 keys (a random key per request), at 8
# and 64 clients, connected as PostgREST connects (role authenticator,
# switching to anon).  Rounds are interleaved: each round runs every arm of
# a configuration back to back, and prints every arm's TPS as a ratio to the
# no-op of the same round; the end prints medians over rounds, with their
# range.  Each run also reads the server's CPU time over its window (its
# processes only, not the host's other tenants nor pgbench): the server's
# CPU per request, as a ratio (noop's / this arm's), is what the TPS ratio
# would be on a dedicated machine if pgbench cost nothing -- the steadier
# figure on a shared host.
#
# The figures go to a plot of the ratios, made with gnuplot (installed if
# missing): doc/img/postgrest-ratios.svg unless AK_BENCH_PLOT says where.
# Benchmarks are not tests: nothing here fails on a number.
#
# Usage: sudo bash bench/postgrest.sh [SECONDS, default 6] [clients..., default 8 64]
#        AK_BENCH_WARM=5, AK_BENCH_ROUNDS=5, AK_BENCH_PORT=54379 (defaults)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$here/scripts/lib.sh"
. "$here/bench/common.sh"

seconds=${1:-6}
shift || true
clients=${*:-8 64}
warm=${AK_BENCH_WARM:-5}
rounds=${AK_BENCH_ROUNDS:-5}
plot=${AK_BENCH_PLOT:-$here/doc/img/postgrest-ratios.svg}
arms="none noop apikey table"
ak_install_deps
bench_need gnuplot gnuplot-nox
ak_build_install "$here"

work=$(ak_pg_workdir)
port=${AK_BENCH_PORT:-54379}
trap 'ak_cluster_stop "$work"; rm -rf "$work"' EXIT
ak_cluster_start "$work" "$port" "max_connections = 150" "shared_buffers = 256MB" \
    "log_min_messages = warning"
export PGHOST=$work PGPORT=$port PGUSER=postgres PGDATABASE=postgres
bindir=$(ak_bindir)
psql() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

(cd "$here/bench" && psql -f postgrest_setup.sql) >/dev/null

# every key cached and every bucket and quota counter created in one pass
psql -At -c "SELECT count(*) FROM bench.tokens, apikey.check(token)" >/dev/null

# one pgbench script per arm, from the template
scripts=$work/scripts
mkdir -p "$scripts"
for arm in $arms; do
    bench_postgrest_script "$arm" "$here/bench/workloads/postgrest.sql.in" "$scripts/$arm.sql"
done

results=$work/results
mkdir -p "$results"

# run ARM CLIENTS KEYS: writes "tps p99_ms cpu_us_per_request", after the
# warm-up, to $results/last (not to stdout: a command substitution's
# subshell would run the EXIT trap)
run() {
    local arm=$1 c=$2 keys=$3 pid b1 b2 tps cpu start p99
    rm -f "$results"/log.*
    "$bindir/pgbench" -n -M prepared -U authenticator -T $((warm + seconds)) -c "$c" -j 2 -P 1 \
        -D keys="$keys" -D warmed=0 -f "$scripts/$arm.sql" \
        -l --sampling-rate=0.2 --log-prefix="$results/log" > "$results/out" 2>&1 &
    pid=$!
    sleep "$warm"
    b1=$(bench_cluster_jiffies "$work/data")
    sleep "$seconds"
    b2=$(bench_cluster_jiffies "$work/data")
    wait "$pid" || { cat "$results/out" >&2; return 1; }
    if grep -Eq "number of failed transactions: [1-9]" "$results/out"; then
        cat "$results/out" >&2
        return 1
    fi
    tps=$(bench_progress_tps "$warm" "$results/out")
    cpu=$(awk -v j=$((b2 - b1)) -v tps="$tps" -v s="$seconds" -v hz="$(getconf CLK_TCK)" \
              'BEGIN { printf "%.1f", j * 1e6 / hz / (tps * s) }')
    start=$(bench_log_start "$results"/log.*)
    p99=$(bench_latency_quantile 0.99 $((start + warm)) "$results"/log.*)
    echo "$tps $p99 $cpu" > "$results/last"
}

declare -A tps_all=() p99_all=() cpu_all=() ratio_all=() cpuratio_all=()
echo "PostgREST-shaped requests (GET /items, pgbench -M prepared): $(nproc) cores, PostgreSQL $(pg_config --version | awk '{print $2}')"
echo "${seconds}s per run after ${warm}s of warm-up; $rounds rounds; ratios to the no-op pre-request of the same round"
echo "arm table: READ WRITE (it writes); the others: READ ONLY, as PostgREST runs a GET"
for c in $clients; do
    run none "$c" 1      # warm up the server and the OS
    for r in $(seq "$rounds"); do
        for keys in 1 10000; do
            declare -A now=() cpu_now=()
            for arm in $arms; do
                run "$arm" "$c" "$keys"
                read -r t p u < "$results/last"
                now[$arm]=$t
                cpu_now[$arm]=$u
                k="$c $keys $arm"
                tps_all[$k]+="$t "
                p99_all[$k]+="$p "
                cpu_all[$k]+="$u "
            done
            line=""
            for arm in $arms; do
                k="$c $keys $arm"
                ratio_all[$k]+="$(bench_ratio "${now[$arm]}" "${now[noop]}") "
                cpuratio_all[$k]+="$(bench_ratio "${cpu_now[noop]}" "${cpu_now[$arm]}") "
                line+=" $arm ${now[$arm]} ($(bench_ratio "${now[$arm]}" "${now[noop]}"))"
            done
            printf 'round %d, %2d clients, %5s key(s):%s\n' "$r" "$c" "$keys" "$line"
            unset now cpu_now
        done
    done
done

echo
printf '%-7s %-6s %-7s %8s %8s %18s %10s %18s\n' clients keys arm TPS "p99 ms" \
    "vs noop [range]" "srv CPU us" "by CPU [range]"
data=$work/plot.dat
: > "$data"
for c in $clients; do
    for keys in 1 10000; do
        label="$( [ "$keys" = 1 ] && echo hot || echo 10k ), $c clients"
        row="\"$label\""
        for arm in $arms; do
            k="$c $keys $arm"
            # shellcheck disable=SC2086
            printf '%-7s %-6s %-7s %8s %8s %18s %10s %18s\n' "$c" "$keys" "$arm" \
                "$(bench_median ${tps_all[$k]})" "$(bench_median ${p99_all[$k]})" \
                "$(bench_median ${ratio_all[$k]}) [$(bench_min ${ratio_all[$k]})-$(bench_max ${ratio_all[$k]})]" \
                "$(bench_median ${cpu_all[$k]})" \
                "$(bench_median ${cpuratio_all[$k]}) [$(bench_min ${cpuratio_all[$k]})-$(bench_max ${cpuratio_all[$k]})]"
            [ "$arm" = noop ] && continue
            # shellcheck disable=SC2086
            row+=" $(bench_median ${ratio_all[$k]}) $(bench_min ${ratio_all[$k]}) $(bench_max ${ratio_all[$k]})"
        done
        echo "$row" >> "$data"
    done
done

mkdir -p "$(dirname "$plot")"
gnuplot <<EOF
set terminal svg size 760,460 dynamic noenhanced font "sans,12" background rgb "white"
set output "$plot"
set title "PostgREST-shaped GET: throughput as a ratio to a no-op pre-request\n(pgbench -M prepared, $(nproc) cores, medians of $rounds rounds, bars: range)"
set style data histogram
set style histogram errorbars gap 1 lw 1
set style fill solid 0.8 border -1
set yrange [0:1.5]
set ytics 0.1
set grid ytics
set key outside bottom center horizontal
set ylabel "TPS / TPS with a no-op pre-request"
set arrow from graph 0, first 1 to graph 1, first 1 nohead dashtype 2 lc rgb "#555555"
set arrow from graph 0, first 0.95 to graph 1, first 0.95 nohead dashtype 3 lc rgb "#2e7d32"
plot "$data" using 2:3:4:xtic(1) title "no pre-request" lc rgb "#9e9e9e", \
     "" using 5:6:7 title "apikey.check_request()" lc rgb "#1565c0", \
     "" using 8:9:10 title "plpgsql table limiter (READ WRITE)" lc rgb "#c62828"
EOF
echo
echo "plot: $plot"
