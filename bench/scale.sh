#!/usr/bin/env bash
# apikey with a million keys (issues 14 and 18):
#
# 1. load: 1,000,000 keys issued with issue_bulk(), in calls of 100,000, by
#    one session: the time, and keys per second.
# 2. cost per call over random keys among 10,000 / 100,000 / 1,000,000:
#    pgbench -M prepared at one client, one call per transaction (SELECT
#    (apikey.verify(token)).valid FROM bench.tokens WHERE id = random),
#    minus the same statement without the call (the token's lookup alone),
#    in three interleaved rounds: the median difference of the mean latency,
#    and of the CPU time of the backend per transaction (that process only:
#    not the worker, autovacuum nor the host's other tenants), is the
#    call's cost, cache hits and misses
#    as they come (each backend caches apikey.max_keys_cached keys, and
#    first meets 10,000 of them, as a long-lived backend would have); the
#    hit rate is read from apikey.stats.  Also, unless AK_BENCH_CALLGRIND=0,
#    instructions per call counted by callgrind in a single-user backend
#    (repeatable to the instruction): the mean over SAMPLE random keys,
#    after a warm-up through other functions that fills the cache as it
#    would be in steady state (every key of 10,000; else 10,000 keys drawn
#    at random, after the sample's keys were met once -- the shared key
#    cache holds them, as it holds every key once warm -- and pushed out
#    of the backend's own cache by 40,000 more).
# 3. admissions under load: pgbench check() at CLIENTS clients over
#    200,000 and 1,000,000 keys drawn at random, the keys' limit refilling
#    in 10 s (1 request per 10 s, as in issue 18): admitted and refused by
#    code per second (from apikey.stats), p50 and p99 latency, and shared
#    memory used:
#    the stats columns that say so when this version has them
#    (shared_memory_used, shared_memory_budget, key_buckets...), else
#    pg_shmem_allocations and buckets_in_use.
#
# The server runs apikey's default settings: what a million keys meet out
# of the box.  Benchmarks are not tests: nothing here fails on a number.
#
# Usage: sudo bash bench/scale.sh [SECONDS, default 10] [CLIENTS, default 8]
#        AK_BENCH_WARM=5, AK_BENCH_SAMPLE=2000, AK_BENCH_CALLGRIND=1,
#        AK_BENCH_PORT=54399
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$here/scripts/lib.sh"
. "$here/bench/common.sh"

seconds=${1:-10}
clients=${2:-8}
warm=${AK_BENCH_WARM:-5}
sample=${AK_BENCH_SAMPLE:-2000}
callgrind=${AK_BENCH_CALLGRIND:-1}
cwarm=3         # the cost per call: runs of cseconds after cwarm, crounds rounds
cseconds=6
crounds=3
total=1000000
chunk=100000
ak_install_deps
[ "$callgrind" = 1 ] && bench_need valgrind valgrind
ak_build_install "$here"

work=$(ak_pg_workdir)
port=${AK_BENCH_PORT:-54399}
trap 'status=$?; [ $status = 0 ] || tail -20 "$work/server.log" >&2; ak_cluster_stop "$work"; rm -rf "$work"' EXIT
ak_cluster_start "$work" "$port" "max_connections = 150" "shared_buffers = 1GB" \
    "max_wal_size = 8GB" "log_min_messages = warning" "checkpoint_timeout = 30min"
export PGHOST=$work PGPORT=$port PGUSER=postgres PGDATABASE=postgres
bindir=$(ak_bindir)
psql() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
results=$work/results
mkdir -p "$results"

echo "apikey with a million keys: $(nproc) cores, PostgreSQL $(pg_config --version | awk '{print $2}'), default apikey settings"

# ---- 1. load ----
psql >/dev/null <<'SQL'
CREATE EXTENSION apikey;
CREATE SCHEMA bench;
-- no quota; a limit that admits everything until the admissions below
INSERT INTO apikey.tiers (name, rate_limits)
VALUES ('scale', '[{"name": "second", "limit": 1000000000, "period": 1}]');
CREATE TABLE bench.tokens (id int, key_id uuid, token text);
SQL
start=$(date +%s.%N)
for c in $(seq 0 $((total / chunk - 1))); do
    psql -v from=$((c * chunk)) -v n=$chunk >/dev/null <<'SQL'
INSERT INTO bench.tokens
SELECT :from + i.n, i.key_id, i.token
  FROM apikey.issue_bulk((SELECT jsonb_agg(jsonb_build_object('owner', 'user-' || (:from + g),
                                                              'tier', 'scale') ORDER BY g)
                            FROM generate_series(1, :n) AS g))
       WITH ORDINALITY AS i(key_id, token, display_prefix, n);
SQL
done
end=$(date +%s.%N)
psql -c "ALTER TABLE bench.tokens ADD PRIMARY KEY (id)" -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
read -r keys audits < <(psql -At -F ' ' -c "SELECT (SELECT count(*) FROM apikey.keys),
                                                   (SELECT count(*) FROM apikey.audit_log)")
awk -v s="$start" -v e="$end" -v k="$keys" -v a="$audits" -v c=$chunk 'BEGIN {
    printf "load: %d keys (and %d audit rows) in %.1f s with issue_bulk(), calls of %d: %.0f keys/s\n",
        k, a, e - s, c, k / (e - s) }'

# ---- 2. cost per call ----
stat() { psql -At -c "SELECT $1 FROM apikey.stats"; }

# one call per transaction, returning one boolean, after a first
# transaction per connection that fills its cache as a long-lived
# backend's is: every key of 10,000, else 10,000 keys of the population
for call in "lookup:t.token IS NOT NULL" "verify:(apikey.verify(t.token)).valid" \
            "check:(apikey.check(t.token)).allowed"; do
    cat > "$work/${call%%:*}.sql" <<EOF
\\if :warmed = 0
SELECT count(apikey.verify(t.token)) FROM bench.tokens AS t WHERE t.id <= least(:keys, 10000);
\\set warmed 1
\\endif
\\set i random(1, :keys)
SELECT ${call#*:} FROM bench.tokens AS t WHERE t.id = :i;
EOF
done

# percall SCRIPT KEYS: writes "latency_us backend_cpu_us" per transaction of
# SCRIPT over random keys among KEYS, after the warm-up, to $results/last:
# the CPU of the one backend that runs it, not the worker's nor
# autovacuum's, which come and go between runs
percall() {
    local script=$1 keys=$2 pid backend j1 j2 from lat tps
    rm -f "$results"/log.*
    "$bindir/pgbench" -n -M prepared -c 1 -T $((cwarm + cseconds + 2)) -P 1 -D keys="$keys" -D warmed=0 \
        -f "$work/$script.sql" -l --sampling-rate=0.2 --log-prefix="$results/log" \
        > "$results/out" 2>&1 &
    pid=$!
    sleep "$cwarm"
    backend=$(psql -At -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench'")
    j1=$(bench_pid_jiffies "$backend")
    sleep "$cseconds"
    j2=$(bench_pid_jiffies "$backend")
    wait "$pid" || { cat "$results/out" >&2; return 1; }
    from=$(( $(bench_log_start "$results"/log.*) + cwarm ))
    lat=$(cat "$results"/log.* | awk -v from="$from" '$5 >= from { s += $3; n++ } END { printf "%.2f", s / n }')
    tps=$(bench_progress_tps "$cwarm" "$results/out")
    awk -v l="$lat" -v j=$((j2 - j1)) -v hz="$(getconf CLK_TCK)" -v t="$tps" -v s="$cseconds" \
        'BEGIN { printf "%s %.2f\n", l, j * 1e6 / hz / (t * s) }' > "$results/last"
}

echo
echo "cost per call, one client, random keys; minus the same statement without the call (the token's"
echo "lookup alone), medians of $crounds interleaved rounds: by latency, and by its backend's CPU per call"
printf '%-10s %-7s %12s %12s %10s %s\n' keys call "latency us" "CPU us" "hit rate" "codes"
for keys in 10000 100000 1000000; do
    declare -A dlat=() dcpu=() h=() m=() o=() v=()
    for r in $(seq "$crounds"); do
        percall lookup "$keys"
        read -r blat bcpu < "$results/last"
        for fn in verify check; do
            h1=$(stat cache_hits) m1=$(stat cache_misses) o1=$(stat overloaded_total) v1=$(stat valid_total)
            percall "$fn" "$keys"
            read -r lat cpu < "$results/last"
            h[$fn]=$(( ${h[$fn]:-0} + $(stat cache_hits) - h1 ))
            m[$fn]=$(( ${m[$fn]:-0} + $(stat cache_misses) - m1 ))
            o[$fn]=$(( ${o[$fn]:-0} + $(stat overloaded_total) - o1 ))
            v[$fn]=$(( ${v[$fn]:-0} + $(stat valid_total) - v1 ))
            dlat[$fn]+="$(awk -v a="$lat" -v b="$blat" 'BEGIN { printf "%.2f", a - b }') "
            dcpu[$fn]+="$(awk -v a="$cpu" -v b="$bcpu" 'BEGIN { printf "%.2f", a - b }') "
        done
    done
    for fn in verify check; do
        codes=-
        [ "$fn" = check ] && codes=$(awk -v o="${o[$fn]}" -v v="${v[$fn]}" \
            'BEGIN { printf "%.0f%% OVERLOADED", v ? 100 * o / v : 0 }')
        # shellcheck disable=SC2086
        awk -v k="$keys" -v f="$fn" -v l="$(bench_median ${dlat[$fn]})" -v c="$(bench_median ${dcpu[$fn]})" \
            -v h="${h[$fn]}" -v m="${m[$fn]}" -v codes="$codes" \
            'BEGIN { printf "%-10s %-7s %12.2f %12.2f %9.1f%% %s\n", k, f, l, c, 100 * h / (h + m), codes }'
    done
    unset dlat dcpu h m o v
done

# ---- 3. admissions under load ----
shmem_used() {
    local cols
    cols=$(psql -At -c "SELECT string_agg(column_name, ', ' ORDER BY ordinal_position)
                          FROM information_schema.columns
                         WHERE table_schema = 'apikey' AND table_name = 'stats'
                           AND column_name IN ('shared_memory_used', 'shared_memory_budget',
                                               'key_buckets', 'address_buckets', 'named_buckets',
                                               'concurrency_slots', 'quota_counters')")
    if [ -n "$cols" ]; then
        psql -At -F ', ' -c "SELECT $cols FROM apikey.stats" |
            awk -v c="$cols" 'BEGIN { split(c, n, ", ") } { split($0, v, ", "); for (i = 1; i in n; i++) printf "%s%s %s", (i > 1 ? ", " : ""), n[i], v[i]; print "" }'
    else
        # apikey's tables are allocated whole at start: the server's
        # shared memory does not move; what fills is the bucket table
        psql -At -c "SELECT 'server shared memory ' || current_setting('shared_memory_size') ||
                            ' (fixed at start), buckets in use ' || buckets_in_use || ' of ' || buckets_capacity
                       FROM apikey.stats"
    fi
}

cat > "$work/storm.sql" <<'EOF'
\set i random(1, :keys)
SELECT apikey.check(t.token) FROM bench.tokens AS t WHERE t.id = :i;
EOF
# one request per 10 s: each admitted request holds a bucket that takes 10 s
# to refill
psql -c "UPDATE apikey.tiers SET rate_limits = '[{\"name\": \"ten\", \"limit\": 1, \"period\": \"10 s\"}]'
          WHERE name = 'scale'" >/dev/null
echo
echo "admissions, check() at $clients clients over random keys, a limit of 1 per 10 s (${seconds}s after ${warm}s):"
for keys in 200000 1000000; do
    rm -f "$results"/log.*
    "$bindir/pgbench" -n -M prepared -c "$clients" -j 2 -T $((warm + seconds)) -D keys="$keys" \
        -f "$work/storm.sql" -l --sampling-rate=0.2 --log-prefix="$results/log" \
        > "$results/out" 2>&1 &
    pid=$!
    sleep "$warm"
    read -r v1 r1 q1 o1 < <(psql -At -F ' ' -c "SELECT valid_total, rate_limited_total, quota_exceeded_total, overloaded_total FROM apikey.stats")
    sleep "$seconds"
    read -r v2 r2 q2 o2 < <(psql -At -F ' ' -c "SELECT valid_total, rate_limited_total, quota_exceeded_total, overloaded_total FROM apikey.stats")
    wait "$pid" || { cat "$results/out" >&2; exit 1; }
    from=$(( $(bench_log_start "$results"/log.*) + warm ))
    awk -v k="$keys" -v s="$seconds" -v v=$((v2 - v1)) -v r=$((r2 - r1)) -v q=$((q2 - q1)) -v o=$((o2 - o1)) \
        -v p50="$(bench_latency_quantile 0.50 "$from" "$results"/log.*)" \
        -v p99="$(bench_latency_quantile 0.99 "$from" "$results"/log.*)" 'BEGIN {
        a = v - r - q - o
        printf "%8d keys: %7.0f checks/s: admitted %7.0f/s, RATE_LIMITED %6.0f/s, QUOTA_EXCEEDED %4.0f/s, OVERLOADED %7.0f/s (%.0f%%); p50 %s ms, p99 %s ms\n",
            k, v / s, a / s, r / s, q / s, o / s, v ? 100 * o / v : 0, p50, p99 }'
    echo "          memory: $(shmem_used)"
done
echo "log lines about dropped usage or full tables:"
grep -Ei "full|dropped" "$work/server.log" | sed 's/^.*\(WARNING\|LOG\): *//' | sort | uniq -c | sort -rn | head -5 || true

# ---- 2b. instructions per call (callgrind, single-user backend) ----
[ "$callgrind" = 1 ] || exit 0
# the keys each callgrind run calls the function on: a warm-up (every key
# of 10,000; else 10,000 drawn at random, as a cache in steady state holds
# them), then the sample, drawn at random
psql >/dev/null <<SQL
UPDATE apikey.tiers SET rate_limits = '[{"name": "second", "limit": 1000000000, "period": 1}]'
 WHERE name = 'scale';
CREATE TABLE bench.draws AS
SELECT k.keys, d.what,
       CASE WHEN k.keys = 10000 AND d.what = 'warm' THEN d.g
            ELSE (random() * (k.keys - 1))::int + 1 END AS id
  FROM unnest('{10000,100000,1000000}'::int[]) AS k(keys),
       LATERAL (SELECT 'warm' AS what, g FROM generate_series(1, 10000) AS g
                UNION ALL SELECT 'sample', g FROM generate_series(1, $sample) AS g
                UNION ALL SELECT 'push', g FROM generate_series(1, 40000) AS g
                 WHERE k.keys > 10000) AS d;
VACUUM ANALYZE bench.draws;
SQL
ak_cluster_stop "$work"

# instructions inside FN for the statements in $work/run.sql
count_in() {
    local fn=$1
    chown postgres: "$work/run.sql"
    rm -f "$work/cg.out"
    ak_as_pg env TMPDIR="$work" valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
        "$bindir/postgres" --single -D "$work/data" -c shared_preload_libraries=apikey \
        postgres < "$work/run.sql" > "$work/cg.log" 2>&1
    callgrind_annotate --inclusive=yes --threshold=100 "$work/cg.out" 2>/dev/null |
        awk -v fn=":$fn(_[0-9]+_[0-9]+)? " '$0 ~ fn && !found { gsub(",", "", $1); print $1; found = 1 }' |
        grep . || { grep -v "^==" "$work/cg.log" | tail -5 >&2; echo 0; }
}

# The warm-up uses other functions than the one counted, so that the
# count is the sample's alone: check() warms for verify() (the cache, the
# buckets), verify() and consume() for check().
echo
echo "instructions per call (callgrind; mean over $sample random keys, after a warm-up of 10,000):"
printf '%-10s %-7s %12s\n' keys call instructions
for keys in 10000 100000 1000000; do
    for fn in verify check; do
        from="FROM bench.draws AS d JOIN bench.tokens AS t USING (id) WHERE d.keys = $keys AND d.what"
        if [ "$fn" = verify ]; then
            warmup="SELECT count(apikey.check(t.token)) $from = 'warm';"
        else
            warmup="SELECT count(apikey.verify(t.token)), count(apikey.consume(t.key_id)) $from = 'warm';"
        fi
        if [ "$keys" = 10000 ]; then
            printf '%s\n' "$warmup" "SELECT count(apikey.$fn(t.token)) $from = 'sample';" > "$work/run.sql"
        else
            # the shared key cache warm, the backend's own cold: the
            # sample's keys met once, then 50,000 others push them out of
            # the backend's cache
            printf '%s\n' "${warmup/"= 'warm'"/"= 'sample'"}" "$warmup" "${warmup/"= 'warm'"/"= 'push'"}" \
                "SELECT count(apikey.$fn(t.token)) $from = 'sample';" > "$work/run.sql"
        fi
        printf '%-10s %-7s %12d\n' "$keys" "$fn" $(( $(count_in "apikey_$fn") / sample ))
    done
done
