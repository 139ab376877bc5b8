#!/usr/bin/env bash
# The Debian packages, end to end, on a throwaway Debian machine (the
# matrix's chroots: scripts/test-matrix.sh 15:package):
#
#   1. apt-get build-dep, then dpkg-buildpackage -us -uc -b in a copy of the
#      tree: postgresql-NN-apikey for each installed server version, and
#      pg-apikey;
#   2. apt-get install of the built packages;
#   3. pg_apikey is on PATH (the pg_wrapper link) and man finds its page;
#   4. debian/tests/installcheck, as autopkgtest runs it: every suite of
#      make installcheck against the installed files (pg_buildext
#      installcheck, on a pg_virtualenv cluster that preloads apikey);
#   5. apt-get purge leaves nothing of apikey behind.
#
# It installs packages system-wide: never run it on a machine whose
# PostgreSQL others use.  Ends with "N passed, N failed".
#
# Usage: sudo bash scripts/test-package.sh
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$here/scripts/lib.sh"

[ "$(id -u)" = 0 ] || ak_die "run as root: it builds and installs Debian packages"
for so in /usr/lib/postgresql/*/lib/apikey.so; do
    [ -e "$so" ] || continue
    dpkg -S "$so" >/dev/null 2>&1 ||
        ak_die "$so was installed by make install, not by a package: the package test needs a machine without it"
done

passed=0
failed=0
# check DESCRIPTION COMMAND...: one test of this script
check() {
    local what=$1
    shift
    if "$@"; then
        echo "ok - $what"
        passed=$((passed + 1))
    else
        echo "not ok - $what"
        failed=$((failed + 1))
    fi
}
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ]
    exit
}

work=$(mktemp -d /tmp/apikey-package.XXXXXX)
trap 'rm -rf "$work"' EXIT
version=$(sed -n 's/^apikey (\([^)]*\)).*/\1/p' "$here/debian/changelog" | head -n 1)
src=$work/apikey-$version
mkdir "$src"
if [ -e "$here/.git" ]; then
    git -C "$here" ls-files -z -co --exclude-standard |
        tar -C "$here" --null --ignore-failed-read -T - -cf - 2>/dev/null
else
    tar -C "$here" --exclude='*.o' --exclude='*.so' --exclude='*.bc' -cf - .
fi | tar -C "$src" -xf -

# ---- 1. build ----
ak_apt_install dpkg-dev
ak_log "apt-get build-dep (debian/control's Build-Depends)"
export DEBIAN_FRONTEND=noninteractive
ak_run_logged "apt-get build-dep" "$work/build-dep.log" \
    apt-get build-dep -y --no-install-recommends "$src/" ||
    ak_die "could not install the build dependencies"
ak_log "dpkg-buildpackage -us -uc -b"
check "dpkg-buildpackage -us -uc -b builds" \
    ak_run_logged "dpkg-buildpackage" "$work/build.log" \
    sh -c "cd '$src' && dpkg-buildpackage -us -uc -b"

majors=$(cd "$src" && PG_SUPPORTED_VERSIONS=installed pg_buildext supported-versions)
debs=("$work"/pg-apikey_"${version}"_all.deb)
for major in $majors; do
    debs+=("$work/postgresql-$major-apikey_${version}_$(dpkg --print-architecture).deb")
done
check "a package for each installed server version ($majors) and pg-apikey" \
    ls "${debs[@]}"
[ "$failed" = 0 ] || finish

# ---- 2. install ----
ak_log "installing ${debs[*]##*/}"
check "apt-get install of the built packages" \
    ak_run_logged "apt-get install" "$work/install.log" \
    apt-get install -y --no-install-recommends "${debs[@]}"
[ "$failed" = 0 ] || finish

# ---- 3. pg_apikey and its manual page ----
ak_apt_install man-db
check "pg_apikey on PATH is /usr/bin/pg_apikey, the pg_wrapper link" \
    test "$(command -v pg_apikey)" = /usr/bin/pg_apikey -a \
    "$(readlink -f /usr/bin/pg_apikey)" = /usr/share/postgresql-common/pg_wrapper
check "pg_apikey --version runs the packaged tool" \
    sh -c "pg_apikey --version 2>/dev/null | grep -qx 'pg_apikey (apikey) $version'"
check "man finds pg_apikey(1)" \
    sh -c 'man -w pg_apikey | grep -qx /usr/share/man/man1/pg_apikey.1.gz'
for major in $majors; do
    check "postgresql-$major-apikey has the library, the control file and the install script" \
        sh -c "dpkg -L postgresql-$major-apikey | grep -c -e '/lib/apikey.so\$' -e '/extension/apikey.control\$' -e '/extension/apikey--$version.sql\$' | grep -qx 3"
done

# ---- 4. autopkgtest: installcheck against the installed files ----
read -ra test_deps <<<"$(sed -n '/^Depends:/,/^[A-Z]/p' "$src/debian/tests/control" |
    sed -n 's/^ \([a-z0-9][a-z0-9.+-]*\),$/\1/p' | tr '\n' ' ')"
ak_apt_install "${test_deps[@]}"
ak_log "debian/tests/installcheck (pg_buildext installcheck)"
# verbose TAP output, one line per assertion, to count them (pg_buildext
# passes -m's words to make)
(cd "$src" && debian/tests/installcheck -m "PGTAP_PROVE_FLAGS=-v PROVE_FLAGS=-v") 2>&1 |
    tee "$work/installcheck.log" | ak_progress
status=${PIPESTATUS[0]}
ok=$(grep -Ec '\.\.\. ok|^\s*ok [0-9]+' "$work/installcheck.log")
bad=$(grep -Ec '\.\.\. FAILED|^\s*not ok [0-9]+' "$work/installcheck.log")
if [ "$status" != 0 ]; then
    sed -n '/^\*\*\*\* .*regression.diffs \*\*\*\*$/,$p' "$work/installcheck.log"
    [ "$bad" != 0 ] || bad=1
fi
echo "installcheck: $ok passed, $bad failed"
passed=$((passed + ok))
failed=$((failed + bad))

# ---- 5. purge ----
purge=(pg-apikey)
for major in $majors; do purge+=("postgresql-$major-apikey"); done
check "apt-get purge of the packages" \
    ak_run_logged "apt-get purge" "$work/purge.log" apt-get purge -y "${purge[@]}"
check "nothing of apikey is left" \
    sh -c '! ls /usr/bin/pg_apikey /usr/share/man/man1/pg_apikey.1.gz /usr/lib/postgresql/*/lib/apikey.so /usr/lib/postgresql/*/bin/pg_apikey /usr/share/postgresql/*/extension/apikey* 2>/dev/null | grep -q .'

finish
