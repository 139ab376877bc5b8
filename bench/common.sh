# What the benchmarks of bench/ share beyond scripts/lib.sh: installing a
# tool a benchmark needs (never for CI), the machine's busy CPU time, pgbench
# logs read into percentiles, and medians and ranges of a round's figures.
#
# Source it after scripts/lib.sh; it defines functions and sets nothing else.

# bench_need COMMAND PACKAGE: installs the Debian PACKAGE unless COMMAND exists.
bench_need() {
    command -v "$1" >/dev/null && return 0
    [ "$(id -u)" = 0 ] || ak_die "$1 is missing: install the Debian package $2"
    ak_log "installing $2"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "$2" >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null && apt-get install -y -qq "$2" >/dev/null; } \
        || ak_die "could not install $2"
}

# Busy CPU time of the whole machine so far, in jiffies: user, nice, system,
# irq, softirq -- not idle, not iowait, not time stolen by the host.
bench_busy_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }

# CPU time of one server so far, in jiffies: its postmaster's, the
# children it has reaped (cutime + cstime: the backends that exited) and
# the children alive now.  Unlike the machine's busy time, it leaves out
# whatever else the host runs: on a shared machine, the server's own cost.
bench_cluster_jiffies() {
    local pm
    pm=$(head -1 "$1/postmaster.pid")
    {
        awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat"
        for c in $(cat "/proc/$pm/task/$pm/children" 2>/dev/null); do
            awk '{ print $14 + $15 }' "/proc/$c/stat" 2>/dev/null || true
        done
    } | awk '{ s += $1 } END { print s }'
}

# CPU time of one process so far (utime + stime), in jiffies.
bench_pid_jiffies() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# bench_latency_quantile Q FROM_EPOCH LOG...: the Q-quantile (0-1) of the
# latencies, in ms, of the transactions that started at or after FROM_EPOCH
# in pgbench's -l logs.
bench_latency_quantile() {
    local q=$1 from=$2
    shift 2
    cat "$@" | awk -v from="$from" '$5 >= from { print $3 }' | sort -n |
        awk -v q="$q" '{ a[NR] = $1 } END { i = int(NR * q); if (i < 1) i = 1; printf "%.3f", a[i] / 1000 }'
}

# The first transaction's start (epoch seconds) in pgbench's -l logs.
bench_log_start() { cat "$@" | awk 'NR == 1 || $5 < m { m = $5 } END { print m }'; }

# Mean TPS of pgbench's -P 1 progress lines after WARM seconds.
bench_progress_tps() {
    awk -v warm="$1" '/^progress: / { t = $2 + 0; if (t > warm) { s += $4; n++ } }
                      END { if (n) printf "%.0f", s / n; else print 0 }' "$2"
}

bench_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'; }
bench_median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
bench_min() { printf '%s\n' "$@" | sort -g | head -1; }
bench_max() { printf '%s\n' "$@" | sort -g | tail -1; }

# bench_postgrest_script ARM TEMPLATE OUT: the pgbench script of a
# PostgREST-shaped request (bench/workloads/postgrest.sql.in) whose
# pre-request is ARM: none, noop (bench.pre_noop()), apikey
# (apikey.check_request()) or table (bench.pre_table(), READ WRITE).
bench_postgrest_script() {
    local mode="READ ONLY" pre=""
    case $1 in
    none) ;;
    noop) pre='select "bench"."pre_noop"();' ;;
    apikey) pre='select "apikey"."check_request"();' ;;
    table) pre='select "bench"."pre_table"();' mode="READ WRITE" ;;
    *) ak_die "unknown pre-request arm $1" ;;
    esac
    sed -e "s/@MODE@/$mode/" -e "s/@PRE_REQUEST@/$pre/" "$2" > "$3"
}
