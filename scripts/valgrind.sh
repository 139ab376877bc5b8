#!/usr/bin/env bash
# Runs the regression suite with every server process under Valgrind's
# memcheck (doc/security.md, "Verification beyond tests").
#
# pg_regress starts its temporary instance through a bin directory whose
# "postgres" runs the real one under valgrind; the other programs are the
# real ones.  PostgreSQL is not built with USE_VALGRIND, so memcheck sees
# memory contexts as whole blocks: what it checks is apikey's reads of
# uninitialized memory and its accesses outside what malloc and shared
# memory gave out.  The suppressions are PostgreSQL's (src/tools/
# valgrind.supp of the server's version, under the PostgreSQL License;
# not part of this repository): name the file in VALGRIND_SUPP.  Every
# process writes its own log; the run fails on any error that happened in
# apikey's code, and prints the count of the others.
#
# Usage: sudo VALGRIND_SUPP=/path/to/valgrind.supp bash scripts/valgrind.sh
#        AK_TEST_PORT: the port of the temporary instance
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$here/scripts/lib.sh"

command -v valgrind >/dev/null || ak_die "valgrind is needed (apt-get install valgrind)"
ak_install_deps || exit 1
ak_build_install "$here" || ak_die "build failed"

# a directory name of its own, out of the way of other runs' clean-up
work=$(mktemp -d /tmp/apikey-valgrind.XXXXXX) || ak_die "mktemp failed"
chmod 755 "$work"
tree=$work/tree
logs=$work/valgrind
wrap=$work/bin
trap 'rm -rf "$work"' EXIT
mkdir -p "$tree" "$logs" "$wrap"
tar -C "$here" --exclude=./.git -cf - . | tar -C "$tree" -xf - || ak_die "could not copy the tree"

bindir=$(pg_config --bindir)
for p in "$bindir"/*; do ln -s "$p" "$wrap/$(basename "$p")"; done
rm "$wrap/postgres"
supp=()
if [ -n "${VALGRIND_SUPP:-}" ]; then
    [ -r "$VALGRIND_SUPP" ] || ak_die "cannot read $VALGRIND_SUPP"
    cp "$VALGRIND_SUPP" "$work/postgresql.supp"
    supp=(--suppressions="$work/postgresql.supp")
else
    ak_log "no VALGRIND_SUPP: PostgreSQL's own reports will be many (they are not counted)"
fi
cat >"$wrap/postgres" <<SH
#!/bin/sh
exec valgrind --quiet --tool=memcheck --trace-children=no --track-origins=yes \\
    --read-var-info=yes --num-callers=40 --error-limit=no ${supp[*]} \\
    --log-file=$logs/%p.log "$bindir/postgres" "\$@"
SH
chmod 755 "$wrap/postgres"
[ "$(id -u)" = 0 ] && chown -R postgres: "$work"

regress=$(make -C "$tree" -s --no-print-directory PG_CONFIG="$(command -v pg_config)" \
    -f Makefile -f - print-regress <<<'print-regress: ; @echo $(REGRESS)')
ak_log "pg_regress under valgrind: $regress"
start=$(date +%s)
ak_as_pg env PATH="$PATH" PGCTLTIMEOUT=600 sh -c "cd '$tree' && '$(pg_config --pkglibdir)/pgxs/src/test/regress/pg_regress' \
    --bindir='$wrap' --inputdir=test --load-extension=apikey --encoding=UTF8 --no-locale \
    --temp-instance=./tmp_valgrind --temp-config=test/apikey.conf \
    ${AK_TEST_PORT:+--port=$AK_TEST_PORT} $regress" >"$work/regress.log" 2>&1
rc=$?
grep -E '\.\.\. (ok|FAILED)|^(not )?ok [0-9]+|tests passed|failed' "$work/regress.log"
[ "$rc" = 0 ] || cat "$tree/regression.diffs"
echo "regression suite under valgrind: $(( $(date +%s) - start )) s"

# errors whose stack passes through apikey.so, and the others
apikey_errors=0
other_errors=0
for log in "$logs"/*.log; do
    # an error is a block from its heading to a line "==PID== "; it is
    # apikey's when, in the stack of where it happened (the first stack of
    # the block), the innermost frame of either program is apikey's: a
    # function ak_* or apikey_*, or apikey.so -- not postgres, not libc
    read -r total mine < <(awk '
        /^==[0-9]+== [A-Z]/ && !inblock { inblock = 1; total++; decided = 0 }
        inblock && !decided && /^==[0-9]+== +(at|by) / {
            if ($0 ~ /(apikey\.so| ak_[a-z0-9_]+ \(| apikey_[a-z0-9_]+ \()/) { mine++; decided = 1 }
            else if ($0 ~ /\(in [^)]*\/bin\/postgres\)/) decided = 1
        }
        inblock && /^==[0-9]+== +(Address|Uninitialised value|Block was)/ { decided = 1 }
        /^==[0-9]+== *$/ { inblock = 0 }
        END { print total + 0, mine + 0 }' "$log")
    apikey_errors=$((apikey_errors + mine))
    other_errors=$((other_errors + total - mine))
    [ "$mine" = 0 ] || { echo "== $log"; cat "$log"; }
done
echo "processes checked: $(ls "$logs" | wc -l)"
echo "errors in apikey: $apikey_errors; elsewhere in PostgreSQL: $other_errors"
# Under valgrind a statement takes seconds: outputs that count the seconds
# until a bucket refills (check, postgrest) may differ; those differences
# are shown, but only memcheck's findings in apikey fail the run.
[ "$rc" = 0 ] || echo "pg_regress reported differences (see above): timing, under valgrind"
[ "$apikey_errors" = 0 ]
