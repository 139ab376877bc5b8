#!/usr/bin/env bash
# Runs every apikey test on a fresh Debian machine: installs what is
# missing, builds and installs the extension, then runs each suite and
# prints a line per test as it goes, one line per suite at the end, and
# "N passed, N failed".  A failed test's output follows it: the regression
# diffs, or the end of the failed TAP test's log.
#
# initdb and postgres refuse to run as root, and CI clones into a mode-0700
# directory: as root, the suites run as the postgres OS user, in a copy of
# the tree that user can write.
#
# Usage: sudo bash scripts/test.sh [suite...]
#   suites, all by default, in this order:
#     layers        make layers: the code's layering
#     regress, isolation, pgtap, tap
#                   make check-SUITE: on temporary instances, C locale
#     locale        regress, isolation and pgtap again, on C.UTF-8 instances
#     installcheck  make installcheck-SUITE for regress, isolation and
#                   pgtap, twice in a row, against one running server whose
#                   default collation is ICU's en-US, as many real ones
#     dist          META.json against the PGXN spec (scripts/check-meta.py,
#                   and its self-test); make dist, and the tarball builds
#                   (in a git checkout)
#   AK_TEST_PORT    the port number of the temporary instances and of the
#                   installcheck server (unix sockets only, each in a
#                   private directory); default 54320
#   AK_PG_MAJOR, PG_CONFIG, PATH: which PostgreSQL (scripts/lib.sh)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$here/scripts/lib.sh"

all_suites="layers regress isolation pgtap tap locale installcheck dist"
suites=${*:-$all_suites}
for suite in $suites; do
    case " $all_suites " in
    *" $suite "*) ;;
    *) ak_die "unknown suite $suite (suites: $all_suites)" ;;
    esac
done
port=${AK_TEST_PORT:-54320}
start=$SECONDS
ak_install_deps
case " $suites " in *" tap "*) ak_install_browser; ak_install_optional ;; esac
deps_seconds=$((SECONDS - start))
start=$SECONDS
ak_build_install "$here" || ak_die "build failed"
build_seconds=$((SECONDS - start))

work=$(ak_pg_workdir)
tree=$work/tree
keep_work=0
server=
cleanup() {
    [ -z "$server" ] || ak_cluster_stop "$server"
    [ "$keep_work" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT

mkdir "$tree"
tar -C "$here" --exclude=./.git -cf - . | tar -C "$tree" -xf - || ak_die "could not copy the tree"
[ "$(id -u)" = 0 ] && chown -R postgres: "$tree"

# make in the copy, as the postgres user, with this PostgreSQL; PGHOST and
# PGPORT name the installcheck server, if any
run_make() {
    ak_as_pg env PATH="$PATH" AK_BROWSER_DIR="$AK_BROWSER_DIR" \
        ${PGHOST:+PGHOST=$PGHOST} ${PGPORT:+PGPORT=$PGPORT} \
        make -C "$tree" --no-print-directory PG_CONFIG="$PG_CONFIG" TEMP_PORT="$port" "$@"
}

# Prints what tells why a suite failed: regression diffs, the end of each
# failed TAP file's log, a hint if the port was taken.
show_failure() {
    local suite=$1 log=$2 f name
    case $suite in
    regress* | isolation*)
        # moved aside, so that a later suite's failure shows its own only
        for f in "$tree/regression.diffs" "$tree/output_iso/regression.diffs"; do
            [ -s "$f" ] || continue
            mv "$f" "${log%.log}.diffs"
            echo "--- ${log%.log}.diffs"
            cat "${log%.log}.diffs"
        done
        ;;
    tap)
        sed -n 's/^\(test\/t\/[^ ]*\.pl\) *(Wstat.*/\1/p' "$log" | while read -r f; do
            name=$(basename "$f" .pl)
            echo "--- the end of $tree/tmp_check/log/regress_log_$name"
            tail -n 60 "$tree/tmp_check/log/regress_log_$name" 2>/dev/null
        done
        ;;
    esac
    if grep -q -e 'apparently in use' -e 'could not bind' -e 'already in use' "$log"; then
        echo "port $port is taken: choose another with AK_TEST_PORT=N"
    fi
}

# The dist suite: META.json, then make dist in the checkout (as root: it
# writes apikey-VERSION.tar.gz there, which git ignores) and a build of
# the tarball, in the postgres user's copy.  One "ok"/"not ok" line each.
dist_suite() {
    local tarball
    python3 "$here/scripts/check-meta.py" --self-test
    python3 "$here/scripts/check-meta.py" --tree "$here" "$here/META.json" &&
        echo "ok - META.json follows the PGXN Meta Spec and the tree" ||
        echo "not ok - META.json follows the PGXN Meta Spec and the tree"
    if ! git -C "$here" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        echo "make dist: skipped, not a git checkout"
        return 0
    fi
    tarball=$(make -C "$here" --no-print-directory -s dist | tail -n 1)
    if [ ! -f "$here/$tarball" ]; then
        echo "not ok - make dist makes the release tarball"
        return 1
    fi
    echo "ok - make dist makes $tarball"
    mkdir "$work/dist" && tar -xzf "$here/$tarball" -C "$work/dist" && rm -f "$here/$tarball"
    chown -R postgres: "$work/dist" 2>/dev/null
    # without LLVM bitcode: the build of the tree has compiled it already
    ak_as_pg make -C "$work/dist/${tarball%.tar.gz}" -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG" \
        with_llvm=no >/dev/null &&
        echo "ok - the tarball builds" || echo "not ok - the tarball builds"
}

passed=0
failed=0
skipped=0
report=()

# TAP's skips ("ok 5 # skip why", a whole file's "1..0 # SKIP why") are
# counted as skipped, not passed.
skip_re='^\s*ok [0-9]+ # skip|^\s*1\.\.0 # skip'

# tally NAME STATUS LOG PASS_REGEX FAIL_REGEX SECONDS
tally() {
    local name=$1 status=$2 log=$3 p=0 f=1 s=0
    # a log that is missing (its directory removed under us) is a failure
    if [ -f "$log" ]; then
        s=$(grep -Eci "$skip_re" "$log")
        p=$(grep -Evi "$skip_re" "$log" | grep -Ec "$4")
        f=$(grep -Ec "$5" "$log")
    fi
    # a suite that failed without reporting a failed test still failed
    if [ "$status" != 0 ] && [ "$f" = 0 ]; then f=1; fi
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
    report+=("$(printf '%-24s %4d passed, %d failed %5d s%s' "$name" "$p" "$f" "$6" \
        "$([ "$s" = 0 ] || echo ", $s skipped")")")
    [ "$f" = 0 ] || keep_work=1
}

# pg_regress and pg_isolation_regress print "test NAME ... ok" up to
# PostgreSQL 15 and TAP lines ("ok 1 - NAME") from 16 on: both are counted.
# pgTAP and Perl TAP assertions are counted one by one (verbose output).
REGRESS_OK='\.\.\. ok|^ok [0-9]+'
REGRESS_FAILED='\.\.\. FAILED|^not ok [0-9]+'
TAP_OK='^\s*ok [0-9]+'
# a test script that dies prints no "not ok" for what it did not run:
# prove's summary says its plan is missing or wrong, which counts as one
TAP_FAILED='^\s*not ok [0-9]+|^\s*Parse errors: (No plan found|Bad plan)'

# run_suite NAME LOG MAKE_ARGS...: one make run, shown as it goes, tallied
run_suite() {
    local name=$1 log=$2 status ok bad start=$SECONDS
    shift 2
    case $name in
    pgtap* | tap*) ok=$TAP_OK bad=$TAP_FAILED ;;
    *) ok=$REGRESS_OK bad=$REGRESS_FAILED ;;
    esac
    ak_log "$name: make $*"
    run_make "$@" PGTAP_PROVE_FLAGS=-v PROVE_FLAGS=-v 2>&1 | tee "$log" | ak_progress
    status=${PIPESTATUS[0]}
    [ "$status" = 0 ] || show_failure "$name" "$log"
    grep -Ei "$skip_re" "$log"     # the skips, with why
    tally "$name" "$status" "$log" "$ok" "$bad" $((SECONDS - start))
}

for suite in $suites; do
    case $suite in
    layers)
        ak_log "layers: make layers"
        start=$SECONDS
        run_make layers >"$work/layers.log" 2>&1
        status=$?
        sed -n '/^no cycle\|points up\|^cycle among/p' "$work/layers.log"
        [ "$status" = 0 ] || tail -n 40 "$work/layers.log"
        tally layers "$status" "$work/layers.log" '^no cycle, nothing points up$' \
            '^(call|include): .* points up$|^cycle among' $((SECONDS - start))
        ;;
    regress | isolation | pgtap | tap)
        run_suite "$suite" "$work/$suite.log" "check-$suite"
        ;;
    locale)
        for s in regress isolation pgtap; do
            run_suite "$s/C.UTF-8" "$work/$s-utf8.log" "check-$s" TEST_LOCALE=C.UTF-8
        done
        ;;
    installcheck)
        server=$work/server
        ak_log "installcheck: a server on port $port (unix socket in $server), ICU en-US"
        AK_PORT_VAR=AK_TEST_PORT AK_INITDB_LOCALE=C.UTF-8 AK_INITDB_ICU=en-US \
            ak_cluster_start "$server" "$port" "listen_addresses = ''"
        # TEST_LOCALE: pg_regress's databases take the server's default
        # collation instead of C
        for round in 1 2; do
            for s in regress isolation pgtap; do
                PGHOST=$server PGPORT=$port run_suite "$s/installcheck#$round" \
                    "$work/$s-ic$round.log" "installcheck-$s" TEST_LOCALE=C.UTF-8
            done
        done
        ak_cluster_stop "$server"
        server=
        ;;
    dist)
        ak_log "dist: scripts/check-meta.py, make dist"
        start=$SECONDS
        dist_suite >"$work/dist.log" 2>&1
        status=$?
        grep -v -e '^ok - caught' "$work/dist.log" | sed 's/^/    /'
        tally dist "$status" "$work/dist.log" '^ok ' '^not ok ' $((SECONDS - start))
        ;;
    esac
done

echo
printf '%-24s %5d s\n' "packages" "$deps_seconds" "build" "$build_seconds"
printf '%s\n' "${report[@]}"
[ "$keep_work" = 1 ] && echo "logs kept in $work"
if [ "$skipped" = 0 ]; then
    echo "$passed passed, $failed failed"
else
    echo "$passed passed, $failed failed, $skipped skipped"
fi
[ "$failed" = 0 ]
