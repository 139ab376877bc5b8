#!/usr/bin/env bash
# Runs apikey's tests on other PostgreSQL majors, each in a throwaway
# Debian chroot of the release that ships it, made with debootstrap
# --variant=minbase:
#
#   15  bookworm    (the host's own, usually: scripts/test.sh runs it)
#   17  trixie
#   18  sid
#
# PostgreSQL 16 ships with no Debian release: it is built against, not
# tested (doc/versions.md).  In each chroot, in this order:
#   package  scripts/test-package.sh: the Debian packages built, installed,
#            tested with installcheck (autopkgtest style) and purged, on
#            the fresh chroot
#   suites   scripts/test.sh: its packages, the build and every suite, with
#            its progress lines and failure output
# The chroots are made one after the other in the background (debootstraps
# side by side only slow each other down), while the steps run, one major
# at a time, in those that are ready.  Ends with a line per major, the time of each step, and
# "N passed, N failed" summed over all of them.
#
# Usage: sudo bash scripts/test-matrix.sh [MAJOR[:STEP,...]...]
#   default: 17 18 (both steps); e.g. 15:package 17 18:suites
#   AK_MATRIX_DIR     where the chroots go, about 2.5 GB each
#                     (default /var/tmp/apikey-matrix)
#   AK_MATRIX_KEEP=1  keep the chroots, and use a kept one again next time
#                     (no debootstrap)
#   AK_MATRIX_MIRROR  the Debian mirror (default: the host's)
#   AK_TEST_PORT      as for scripts/test.sh
#   AK_MATRIX_SUITES  the suites of scripts/test.sh to run (default: all)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$here/scripts/lib.sh"

specs=${*:-17 18}
read -ra suites <<<"${AK_MATRIX_SUITES:-}"
majors=
for spec in $specs; do
    case " $majors " in
    *" ${spec%%:*} "*) ak_die "PostgreSQL ${spec%%:*} is named twice: one MAJOR:STEP,STEP each" ;;
    esac
    majors="$majors ${spec%%:*}"
done

# The steps of MAJOR:STEPS ($1), one per line.
steps_of() {
    case $1 in
    *:*) echo "${1#*:}" | tr ',' '\n' ;;
    *) printf 'package\nsuites\n' ;;
    esac
}
for spec in $specs; do
    for step in $(steps_of "$spec"); do
        case $step in
        package | suites) ;;
        *) ak_die "unknown step $step in $spec (steps: package, suites)" ;;
        esac
    done
done
base=${AK_MATRIX_DIR:-/var/tmp/apikey-matrix}
keep=${AK_MATRIX_KEEP:-0}

[ "$(id -u)" = 0 ] || ak_die "run as root: debootstrap and chroot need it"

# The Debian release that ships PostgreSQL $1.
release_of() {
    case $1 in
    15) echo bookworm ;;
    17) echo trixie ;;
    18) echo sid ;;
    16) ak_die "no Debian release ships PostgreSQL 16: it is compiled against, not tested (doc/versions.md)" ;;
    *) ak_die "PostgreSQL $1: apikey supports 15 to 18 (majors: 15 17 18)" ;;
    esac
}

# The host's Debian mirror, from its apt sources.
host_mirror() {
    local uri
    uri=$(sed -n 's/^URIs: *\(http[^ ]*\/debian\/\?\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
    [ -n "$uri" ] || uri=$(sed -n 's/^deb \(\[[^]]*\] \)\?\(http[^ ]*\/debian\/\?\) .*/\2/p' /etc/apt/sources.list 2>/dev/null | head -n 1)
    echo "${uri:-http://deb.debian.org/debian}"
}
mirror=${AK_MATRIX_MIRROR:-$(host_mirror)}

for major in $majors; do release_of "$major" >/dev/null; done
ak_apt_install debootstrap

mkdir -p "$base" || ak_die "cannot make $base (AK_MATRIX_DIR)"
free_kb=$(df -Pk "$base" | awk 'NR == 2 { print $4 }')
need_kb=$((2500000 * $(echo "$majors" | wc -w)))
[ "$free_kb" -ge "$need_kb" ] ||
    ak_die "$base has $((free_kb / 1024)) MB free, and each chroot needs about 2.5 GB: choose another place with AK_MATRIX_DIR"

chroot_of() { echo "$base/pg$1-$(release_of "$1")"; }

# The processes running inside chroot $1 (the servers of an interrupted
# run), by id.
chroot_pids() {
    local p root
    for p in /proc/[0-9]*; do
        root=$(readlink "$p/root" 2>/dev/null) || continue
        [ "$root" = "$1" ] && echo "${p#/proc/}"
    done
}

unmount_chroot() {
    local dir=$1 pid
    for pid in $(chroot_pids "$dir"); do
        kill -9 "$pid" 2>/dev/null
    done
    for m in dev/pts dev/shm proc; do
        mountpoint -q "$dir/$m" && umount -l "$dir/$m"
    done
}

# Ends process $1 and its descendants (a preparation still running).
kill_tree() {
    local child
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do kill_tree "$child"; done
    kill "$1" 2>/dev/null
}

pids=()
cleanup() {
    local major dir pid
    for pid in "${pids[@]}"; do
        kill -0 "$pid" 2>/dev/null && kill_tree "$pid"
    done
    for major in $majors; do
        dir=$(chroot_of "$major")
        [ -d "$dir" ] || continue
        unmount_chroot "$dir"
        if [ "$keep" != 1 ] && ! grep -q " $dir/" /proc/mounts; then
            rm -rf "$dir" "$dir".*
        fi
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- making a chroot: debootstrap, then what apt and PostgreSQL's
# packages need to install quietly in it ----

configure_chroot() {
    local dir=$1 release=$2
    # no service starts, no cluster is made when packages are installed
    printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
    chmod 755 "$dir/usr/sbin/policy-rc.d"
    mkdir -p "$dir/etc/postgresql-common/createcluster.d"
    echo "create_main_cluster = false" >"$dir/etc/postgresql-common/createcluster.d/apikey-matrix.conf"
    # sid's Release file may be older than its Valid-Until
    [ "$release" != sid ] ||
        echo 'Acquire::Check-Valid-Until "false";' >"$dir/etc/apt/apt.conf.d/99apikey-matrix"
}

mount_chroot() {
    local dir=$1
    mkdir -p "$dir/proc" "$dir/dev/shm" "$dir/dev/pts"
    mountpoint -q "$dir/proc" || mount -t proc proc "$dir/proc" || return 1
    mountpoint -q "$dir/dev/shm" || mount -t tmpfs -o mode=1777 tmpfs "$dir/dev/shm"
    # terminals of its own, for the tests that drive pg_apikey top in one:
    # the chroot's /dev/ptmx opens the devpts instance beside it
    mountpoint -q "$dir/dev/pts" ||
        mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$dir/dev/pts"
}

# Copies the source tree (tracked and new files, no build products) to
# the chroot's /build/apikey.
copy_tree() {
    local dest=$1/build/apikey
    rm -rf "$dest"
    mkdir -p "$dest"
    if [ -e "$here/.git" ]; then
        git -C "$here" ls-files -z -co --exclude-standard |
            tar -C "$here" --null --ignore-failed-read -T - -cf - 2>/dev/null
    else
        tar -C "$here" --exclude='*.o' --exclude='*.so' --exclude='*.bc' -cf - .
    fi | tar -C "$dest" -xf -
}

# Runs a command inside chroot $1 with a clean environment.
in_chroot() {
    local dir=$1
    shift
    chroot "$dir" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        ${CI:+CI=$CI} "$@"
}

# timed NAME COMMAND...: runs COMMAND, appends "NAME SECONDS" to $times
timed() {
    local name=$1 start=$SECONDS status
    shift
    "$@"
    status=$?
    echo "$name $((SECONDS - start))" >>"$times"
    return $status
}

# prepare MAJOR: the chroot, with the tree in /build/apikey; "ok" or
# "failed" in DIR.status
prepare() {
    local major=$1 release dir times log
    release=$(release_of "$major")
    dir=$(chroot_of "$major")
    times=$dir.times log=$dir.log
    : >"$times"
    if [ "$keep" = 1 ] && [ -e "$dir/.apikey-ready" ]; then
        ak_log "$major: using the kept chroot $dir"
    else
        rm -rf "$dir"
        ak_log "$major: debootstrap $release"
        timed debootstrap ak_run_logged "$major: debootstrap" "$log" \
            debootstrap --variant=minbase "$release" "$dir" "$mirror" || { echo failed >"$dir.status"; return 1; }
        configure_chroot "$dir" "$release"
        touch "$dir/.apikey-ready"
    fi
    mount_chroot "$dir" || { echo failed >"$dir.status"; return 1; }
    copy_tree "$dir"
    ak_log "$major: chroot ready"
    echo ok >"$dir.status"
}

# run_step MAJOR STEP: one step in the chroot of MAJOR, shown as it runs;
# adds its counts to passed and failed
run_step() {
    local major=$1 step=$2 dir line p f script
    dir=$(chroot_of "$major")
    case $step in
    package) script=(scripts/test-package.sh) ;;
    suites) script=(scripts/test.sh "${suites[@]}") ;;
    esac
    ak_log "$major: $step: ${script[*]}"
    timed "$step" in_chroot "$dir" AK_PG_MAJOR="$major" AK_TEST_PORT="${AK_TEST_PORT:-54320}" \
        bash -c 'cd /build/apikey && exec bash "$@"' - "${script[@]}" 2>&1 | tee "$dir.$step.log"
    # "N passed, N failed" (and perhaps ", N skipped")
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$dir.$step.log" | tail -n 1)
    p=0 f=1
    if [ -n "$line" ]; then
        p=${line%% passed*}
        f=${line#*passed, }
        f=${f%% failed*}
    fi
    passed=$((passed + p))
    failed=$((failed + f))
}

# ---- the run ----

# wait_ready MAJOR: until its chroot is made (or could not be)
wait_ready() {
    local status start=$SECONDS next=15
    status=$(chroot_of "$1").status
    until [ -e "$status" ]; do
        sleep 1
        if [ $((SECONDS - start)) -ge $next ]; then
            ak_log "... waiting for the chroot of $1 ($((SECONDS - start)) s)"
            next=$((next + 15))
        fi
    done
}

ak_log "matrix: $specs, chroots in $base, mirror $mirror"
for major in $majors; do
    rm -f "$(chroot_of "$major").status"
done
for major in $majors; do
    prepare "$major" || true
done &
pids+=($!)

total_passed=0
total_failed=0
summary=()
for spec in $specs; do
    major=${spec%%:*}
    dir=$(chroot_of "$major")
    wait_ready "$major"
    times=$dir.times
    passed=0 failed=0
    if [ "$(cat "$dir.status" 2>/dev/null)" = ok ]; then
        for step in $(steps_of "$spec"); do
            run_step "$major" "$step"
        done
    else
        ak_log "$major: the chroot could not be made (see above)"
        failed=1
    fi
    steps=$(awk '{ printf "%s%s %d s", sep, $1, $2; sep = ", " }' "$times" 2>/dev/null)
    summary+=("$(printf 'PostgreSQL %s (%s, %s): %d passed, %d failed  [%s]' \
        "$major" "$(release_of "$major")" "$(steps_of "$spec" | paste -sd+)" "$passed" "$failed" "$steps")")
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    if [ "$keep" != 1 ]; then
        unmount_chroot "$dir"
        grep -q " $dir/" /proc/mounts || rm -rf "$dir" "$dir".*
    fi
done

echo
printf '%s\n' "${summary[@]}"
echo "matrix: $total_passed passed, $total_failed failed"
[ "$total_failed" = 0 ]
