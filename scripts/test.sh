#!/usr/bin/env bash
# Runs every apikey test on a fresh Debian machine:
#   installs what is missing, builds and installs the extension, starts a
#   throwaway cluster (shared_preload_libraries = 'apikey') as the postgres
#   OS user, runs the pg_regress, isolation, pgTAP and TAP (restart, crash,
#   standby, logs) suites, stops the cluster and prints "N passed, N failed".
#
# Usage: sudo bash scripts/test.sh [suite...]   (suites: regress isolation pgtap tap)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$here/scripts/lib.sh"

suites=${*:-regress isolation pgtap tap}
ak_install_deps || exit 1
ak_build_install "$here" || ak_die "build failed"

bindir=$(ak_bindir)
pgxs=$(dirname "$(dirname "$(dirname "$(pg_config --pgxs)")")")
work=$(ak_pg_workdir)
port=${AK_TEST_PORT:-54329}
cluster=$work/cluster
keep_work=0
cleanup() {
    ak_cluster_stop "$cluster"
    [ "$keep_work" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT

# The suites read from a copy the postgres user can read (CI clones into a
# mode-0700 directory).
cp -r "$here/sql" "$here/expected" "$here/test" "$work/"
chown -R postgres: "$work" 2>/dev/null || true

ak_log "starting a throwaway cluster in $cluster"
mapfile -t conf < <(grep -v '^\s*#' "$here/test/apikey.conf" | grep -v '^\s*$')
ak_cluster_start "$cluster" "$port" "${conf[@]}"
export PGHOST=$cluster PGPORT=$port PGUSER=postgres

passed=0
failed=0
report=()

# tally NAME STATUS LOG PASS_REGEX FAIL_REGEX
tally() {
    local name=$1 status=$2 log=$3 p f
    p=$(grep -Ec "$4" "$log")
    f=$(grep -Ec "$5" "$log")
    # a suite that failed without reporting a failed test still failed
    if [ "$status" != 0 ] && [ "$f" = 0 ]; then f=1; fi
    passed=$((passed + p))
    failed=$((failed + f))
    report+=("$(printf '%-10s %4d passed, %d failed' "$name" "$p" "$f")")
    [ "$f" = 0 ] || keep_work=1
}

for suite in $suites; do
    log=$work/$suite.log
    case $suite in
    regress)
        ak_log "pg_regress: $(make -s -C "$here" print-REGRESS)"
        (cd "$work" && "$pgxs/src/test/regress/pg_regress" --bindir="$bindir" \
            --inputdir=. --outputdir="$work/regress" --dbname=apikey_regress \
            --load-extension=apikey $(make -s -C "$here" print-REGRESS)) >"$log" 2>&1
        status=$?
        cat "$log"
        [ "$status" = 0 ] || cat "$work/regress/regression.diffs" 2>/dev/null
        tally regress "$status" "$log" '\.\.\. ok' '\.\.\. FAILED'
        ;;
    isolation)
        ak_log "isolation: $(make -s -C "$here" print-ISOLATION)"
        (cd "$work" && "$pgxs/src/test/isolation/pg_isolation_regress" --bindir="$bindir" \
            --inputdir=test/isolation --outputdir="$work/isolation" \
            --dbname=apikey_isolation --load-extension=apikey \
            $(make -s -C "$here" print-ISOLATION)) >"$log" 2>&1
        status=$?
        cat "$log"
        [ "$status" = 0 ] || cat "$work/isolation/regression.diffs" 2>/dev/null
        tally isolation "$status" "$log" '\.\.\. ok' '\.\.\. FAILED'
        ;;
    pgtap)
        ak_log "pgTAP: test/pgtap/*.sql"
        "$bindir/psql" -X -q -d postgres -c "CREATE DATABASE apikey_tap" >/dev/null
        "$bindir/psql" -X -q -d apikey_tap \
            -c "CREATE EXTENSION pgtap; CREATE EXTENSION apikey;" >/dev/null
        pg_prove -v -d apikey_tap "$work"/test/pgtap/*.sql >"$log" 2>&1
        status=$?
        grep -Ev '^\s*ok ' "$log"
        tally pgtap "$status" "$log" '^\s*ok [0-9]+' '^\s*not ok [0-9]+'
        ;;
    tap)
        ak_log "TAP: test/t/*.pl"
        (cd "$work/test" && ak_as_pg env PATH="$bindir:$PATH" \
            PG_REGRESS="$pgxs/src/test/regress/pg_regress" TESTDIR="$work/test" \
            AK_SOURCE_DIR="$work" \
            prove -v -I "$pgxs/src/test/perl" t/*.pl) >"$log" 2>&1
        status=$?
        grep -Ev '^\s*ok ' "$log"
        tally tap "$status" "$log" '^\s*ok [0-9]+' '^\s*not ok [0-9]+'
        ;;
    *) ak_die "unknown suite $suite" ;;
    esac
done

echo
printf '%s\n' "${report[@]}"
[ "$keep_work" = 1 ] && echo "logs kept in $work"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
