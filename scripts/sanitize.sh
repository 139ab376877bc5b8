#!/usr/bin/env bash
# Runs the regression and isolation suites against an apikey built with
# AddressSanitizer and UndefinedBehaviorSanitizer (doc/security.md,
# "Verification beyond tests").
#
# PostgreSQL itself is not instrumented: apikey.so is, and the sanitizers'
# runtime is preloaded (LD_PRELOAD) into every process of the temporary
# instances, so that each backend checks apikey's memory accesses and
# arithmetic.  Leak detection is off (PostgreSQL frees by memory context,
# and exits without freeing).  Any report fails the run; the reports are
# printed.  The plain build is installed again at the end.
#
# Where AddressSanitizer's runtime cannot run in postgres (probed first),
# the run is UndefinedBehaviorSanitizer's alone, and says so.
#
# Usage: sudo bash scripts/sanitize.sh [regress] [isolation]
#        AK_TEST_PORT: the port of the temporary instances
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$here/scripts/lib.sh"

suites=${*:-regress isolation}
ak_install_deps || exit 1
asan_rt=$(gcc -print-file-name=libasan.so)
ubsan_rt=$(gcc -print-file-name=libubsan.so)
[ -f "$ubsan_rt" ] || ak_die "gcc's libubsan is needed"

# AddressSanitizer's runtime, preloaded into an uninstrumented postgres,
# can hang it at start (seen with glibc 2.36 and gcc 12: postgres -V blocks
# in bindtextdomain).  Probe first; without it, run UndefinedBehaviorSanitizer
# alone and say so (valgrind.sh covers memory errors in the server).
sanitizers=undefined
preload=$ubsan_rt
if [ -f "$asan_rt" ] && timeout 20 env LD_PRELOAD="$asan_rt" ASAN_OPTIONS=detect_leaks=0 \
    "$(pg_config --bindir)/postgres" -V >/dev/null 2>&1; then
    sanitizers=address,undefined
    preload="$asan_rt $ubsan_rt"
else
    ak_log "AddressSanitizer's runtime hangs or fails in postgres here: UndefinedBehaviorSanitizer only"
fi

# a directory name of its own, out of the way of other runs' clean-up
work=$(mktemp -d /tmp/apikey-sanitize.XXXXXX) || ak_die "mktemp failed"
chmod 755 "$work"
tree=$work/tree
reports=$work/reports
mkdir -p "$tree" "$reports"
trap 'rm -rf "$work"; ak_build_install "$here"' EXIT
tar -C "$here" --exclude=./.git -cf - . | tar -C "$tree" -xf - || ak_die "could not copy the tree"

sanflags="-fsanitize=$sanitizers -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
ak_log "building apikey with -fsanitize=$sanitizers"
make -C "$tree" -s clean >/dev/null
make -C "$tree" -s -j"$(nproc)" COPT="$sanflags" LDFLAGS_SL="-fsanitize=$sanitizers" >/dev/null \
    || ak_die "the sanitized build failed"
make -C "$tree" -s install >/dev/null || ak_die "could not install the sanitized build"
[ "$(id -u)" = 0 ] && chown -R postgres: "$work"

# every process of the instances (and the tools) runs with the runtimes
export LD_PRELOAD="$preload"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:log_path=$reports/asan:detect_odr_violation=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan"

status=0
for suite in $suites; do
    ak_log "make check-$suite (sanitized)"
    ak_as_pg env PATH="$PATH" LD_PRELOAD="$LD_PRELOAD" ASAN_OPTIONS="$ASAN_OPTIONS" \
        UBSAN_OPTIONS="$UBSAN_OPTIONS" make -C "$tree" --no-print-directory \
        PG_CONFIG="$(command -v pg_config)" ${AK_TEST_PORT:+TEMP_PORT=$AK_TEST_PORT} \
        "check-$suite" >"$work/$suite.log" 2>&1
    rc=$?
    grep -E '\.\.\. (ok|FAILED)|^(not )?ok [0-9]+' "$work/$suite.log"
    [ "$rc" = 0 ] || { echo "check-$suite failed"; status=1; }
done
unset LD_PRELOAD

if ls "$reports"/* >/dev/null 2>&1; then
    echo "sanitizer reports:"
    cat "$reports"/*
    status=1
else
    echo "no sanitizer report"
fi
[ "$status" = 0 ] && echo "sanitized run ($sanitizers) passed" || echo "sanitized run ($sanitizers) FAILED"
exit "$status"
