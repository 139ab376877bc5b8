#!/usr/bin/env bash
# Runs every apikey test on a fresh Debian machine: installs what is
# missing, builds and installs the extension, then runs "make check-SUITE"
# for each suite -- pg_regress, isolation, pgTAP and TAP, on temporary
# instances -- and prints one line per suite and "N passed, N failed".
#
# initdb and postgres refuse to run as root, and CI clones into a mode-0700
# directory: as root, the suites run as the postgres OS user, in a copy of
# the tree that user can write.
#
# Usage: sudo bash scripts/test.sh [suite...]
#        suites: layers (make layers: the code's layering), regress,
#        isolation, pgtap, tap; all by default
#        AK_TEST_PORT: the port number of the temporary instances (unix
#        sockets only, each in a private directory)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$here/scripts/lib.sh"

suites=${*:-layers regress isolation pgtap tap}
for suite in $suites; do
    case $suite in
    layers | regress | isolation | pgtap | tap) ;;
    *) ak_die "unknown suite $suite (suites: layers regress isolation pgtap tap)" ;;
    esac
done
ak_install_deps || exit 1
ak_install_optional
ak_build_install "$here" || ak_die "build failed"

work=$(ak_pg_workdir)
tree=$work/tree
keep_work=0
cleanup() { [ "$keep_work" = 1 ] || rm -rf "$work"; }
trap cleanup EXIT

mkdir "$tree"
tar -C "$here" --exclude=./.git -cf - . | tar -C "$tree" -xf - || ak_die "could not copy the tree"
[ "$(id -u)" = 0 ] && chown -R postgres: "$tree"

# make in the copy, as the postgres user, with this PostgreSQL
run_make() {
    ak_as_pg env PATH="$PATH" make -C "$tree" --no-print-directory \
        PG_CONFIG="$(command -v pg_config)" ${AK_TEST_PORT:+TEMP_PORT=$AK_TEST_PORT} "$@"
}

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

# pg_regress and pg_isolation_regress print "test NAME ... ok" up to
# PostgreSQL 15 and TAP lines ("ok 1 - NAME") from 16 on: both are counted.
# pgTAP and Perl TAP assertions are counted one by one (verbose output).
for suite in $suites; do
    log=$work/$suite.log
    case $suite in
    layers)
        ak_log "make layers"
        run_make layers >"$log" 2>&1
        status=$?
        cat "$log"
        tally "$suite" "$status" "$log" '^no cycle, nothing points up$' '^(call|include): .* points up$|^cycle among'
        continue
        ;;
    esac
    ak_log "make check-$suite"
    case $suite in
    regress | isolation)
        run_make "check-$suite" >"$log" 2>&1
        status=$?
        cat "$log"
        if [ "$status" != 0 ]; then
            diffs=$tree/regression.diffs
            [ "$suite" = isolation ] && diffs=$tree/output_iso/regression.diffs
            cat "$diffs" 2>/dev/null
        fi
        tally "$suite" "$status" "$log" '\.\.\. ok|^ok [0-9]+' '\.\.\. FAILED|^not ok [0-9]+'
        ;;
    pgtap | tap)
        run_make "check-$suite" PGTAP_PROVE_FLAGS=-v PROVE_FLAGS=-v >"$log" 2>&1
        status=$?
        # the failures, with their diagnostics
        grep -Ev '^\s*ok ' "$log"
        tally "$suite" "$status" "$log" '^\s*ok [0-9]+' '^\s*not ok [0-9]+'
        ;;
    esac
done

echo
printf '%s\n' "${report[@]}"
[ "$keep_work" = 1 ] && echo "logs kept in $work"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
