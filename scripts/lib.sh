# shellcheck shell=bash
# Shared by scripts/demo.sh, scripts/test.sh, scripts/test-matrix.sh and
# bench/*.sh: install what apikey needs on Debian, pick the PostgreSQL to
# build against, build and install it, and run a throwaway cluster as the
# postgres OS user (initdb and postgres refuse to run as root).
#
# Source it; it sets AK_PG_MAJOR (see below) and defines functions.
#
# Which PostgreSQL, first match wins:
#   PG_CONFIG=/path/to/pg_config     that one (its major must match
#                                    AK_PG_MAJOR if both are given)
#   PATH=/some/bin:$PATH             a pg_config found on PATH that is not
#                                    Debian's /usr/bin/pg_config wrapper (a
#                                    private copy), if its major matches
#                                    AK_PG_MAJOR or AK_PG_MAJOR is unset
#   AK_PG_MAJOR=17                   /usr/lib/postgresql/17/bin/pg_config
#   nothing                          the distribution's own major: 15 on
#                                    bookworm, 17 on trixie, 18 on sid
# Debian's /usr/bin/pg_config is never used as found: it answers for the
# highest server-dev package installed, whatever the server.
# ak_use_pg (called by ak_install_deps) then exports PG_CONFIG and puts its
# bindir first on PATH, so that make, psql, pg_prove and prove agree.

# Packages some tests use when they can have them; a test that needs one
# is skipped, saying why, when it is missing (pgbouncer: test/t/013_pgbouncer.pl).
AK_OPTIONAL_PACKAGES="pgbouncer"

ak_log() { printf '==> %s\n' "$*" >&2; }
ak_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The PostgreSQL major of the distribution this runs on.
ak_distribution_major() {
    local codename
    codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
    case $codename in
    bookworm) echo 15 ;;
    trixie) echo 17 ;;
    forky | sid) echo 18 ;;
    *) echo 15 ;;
    esac
}

# Where the report's browser test finds playwright-core (ak_install_browser).
AK_BROWSER_DIR=${AK_BROWSER_DIR:-/var/cache/apikey-test/browser}
AK_PLAYWRIGHT=playwright-core@1.64.1

# Installs what the report's browser test (test/t/017_report.pl) needs:
# Debian's Chromium, and playwright-core to drive it, with npm into
# $AK_BROWSER_DIR, outside the tree (playwright downloads no browser of its
# own).  If either cannot be installed, the test skips and says why; the
# other suites do not need them.
ak_install_browser() {
    if ! dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q "ok installed"; then
        if [ "$(id -u)" = 0 ]; then
            ak_log "installing: chromium"
            { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 ||
                ak_log "could not install chromium: the report's browser test will be skipped"
        else
            ak_log "chromium is missing (run as root to install it): the browser test will be skipped"
        fi
    fi
    [ -f "$AK_BROWSER_DIR/node_modules/playwright-core/package.json" ] && return 0
    if ! command -v npm >/dev/null; then
        ak_log "npm is missing: the report's browser test will be skipped"
        return 0
    fi
    ak_log "installing $AK_PLAYWRIGHT into $AK_BROWSER_DIR"
    mkdir -p "$AK_BROWSER_DIR" && chmod 755 "$AK_BROWSER_DIR" &&
        npm install --prefix "$AK_BROWSER_DIR" --no-save --no-audit --no-fund --silent \
            "$AK_PLAYWRIGHT" >/dev/null 2>&1 ||
        ak_log "could not install $AK_PLAYWRIGHT: the report's browser test will be skipped"
}

# Installs the optional packages that are missing, as root; one that cannot
# be installed is reported, not fatal.
ak_install_optional() {
    local p
    [ "$(id -u)" = 0 ] || return 0
    for p in $AK_OPTIONAL_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" && continue
        ak_log "installing $p"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 &&
              DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null 2>&1; } ||
            ak_log "could not install $p: the tests that need it will be skipped"
    done
}

# The major version of the pg_config $1 ("15", "17", ...).
ak_pg_config_major() {
    [ -n "$1" ] || return 0
    "$1" --version 2>/dev/null | sed -n 's/^PostgreSQL \([0-9]*\).*/\1/p'
}

# An explicit PG_CONFIG, or a private pg_config found on PATH whose major
# is AK_PG_MAJOR if that was given (printed; nothing if neither).
ak_pg_config_override() {
    local found
    if [ -n "${PG_CONFIG:-}" ]; then
        echo "$PG_CONFIG"
        return
    fi
    found=$(command -v pg_config 2>/dev/null) || return 0
    [ "$(readlink -f "$found")" != /usr/bin/pg_config ] || return 0
    if [ -z "$AK_PG_MAJOR_GIVEN" ] || [ "$(ak_pg_config_major "$found")" = "$AK_PG_MAJOR_GIVEN" ]; then
        echo "$found"
    fi
}

# The pg_config to use (printed), by the rules above.
ak_pg_config() {
    local pgc
    pgc=$(ak_pg_config_override)
    echo "${pgc:-/usr/lib/postgresql/$AK_PG_MAJOR/bin/pg_config}"
}

# AK_PG_MAJOR: given, or the major of the override, or the distribution's.
AK_PG_MAJOR_GIVEN=${AK_PG_MAJOR:-}
if [ -z "$AK_PG_MAJOR_GIVEN" ]; then
    AK_PG_MAJOR=$(ak_pg_config_major "$(ak_pg_config_override)")
    AK_PG_MAJOR=${AK_PG_MAJOR:-$(ak_distribution_major)}
fi

# What the build and every suite need, for AK_PG_MAJOR.  No
# postgresql-contrib: it is a virtual package for the distribution's
# default server (it would install a second server on trixie and sid), and
# Debian ships contrib inside postgresql-NN anyway.
# libssl-dev and libkrb5-dev: the server's libpq/libpq-be.h, which apikey
# reads the TLS client certificate from, includes OpenSSL's and GSSAPI's
# headers; apikey links OpenSSL's libcrypto, as the server does.  openssl:
# the certificate tests make their own CA and certificates.  libio-pty-perl:
# pg_apikey top's test drives it on a terminal.  python3-psycopg2: the
# example of an application outside PostgREST (doc/apps.md) runs in a test.
ak_packages() {
    echo "make gcc libc6-dev binutils python3 libsodium-dev libssl-dev libkrb5-dev openssl \
postgresql-$AK_PG_MAJOR postgresql-server-dev-$AK_PG_MAJOR postgresql-$AK_PG_MAJOR-pgtap \
libtap-parser-sourcehandler-pgtap-perl libipc-run-perl libio-pty-perl python3-psycopg2"
}

# Runs a command with its output in LOG, printing a line every 15 s while
# it runs (no long silence) and LOG's end if it fails.
# ak_run_logged LABEL LOG COMMAND...
ak_run_logged() {
    local label=$1 log=$2 pid status start=$SECONDS next=15
    shift 2
    "$@" >"$log" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        sleep 1
        if [ $((SECONDS - start)) -ge $next ]; then
            ak_log "... $label ($((SECONDS - start)) s)"
            next=$((next + 15))
        fi
    done
    wait "$pid"
    status=$?
    if [ "$status" != 0 ]; then
        printf '%s failed (exit %d); the end of %s:\n' "$label" "$status" "$log" >&2
        tail -n 40 "$log" >&2
    fi
    return "$status"
}

# Installs those of the Debian packages $@ that are missing; nothing that
# is installed is installed again, and a failed apt-get update is an error.
ak_apt_install() {
    local missing=() p log
    for p; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
            missing+=("$p")
    done
    [ ${#missing[@]} != 0 ] || return 0
    [ "$(id -u)" = 0 ] || ak_die "missing packages: ${missing[*]} (run as root to install them)"
    log=$(mktemp /tmp/apikey-apt.XXXXXX)
    export DEBIAN_FRONTEND=noninteractive
    if [ -z "${AK_APT_UPDATED:-}" ]; then
        ak_log "apt-get update"
        ak_run_logged "apt-get update" "$log" apt-get update --error-on=any ||
            ak_die "apt-get update failed: the package lists are not current"
        AK_APT_UPDATED=1
    fi
    ak_log "installing: ${missing[*]}"
    ak_run_logged "installing packages" "$log" \
        apt-get install -y --no-install-recommends "${missing[@]}" ||
        ak_die "could not install: ${missing[*]}"
    rm -f "$log"
}

# Installs what is missing for AK_PG_MAJOR, then ak_use_pg.
ak_install_deps() {
    local packages
    read -ra packages <<<"$(ak_packages)"
    ak_apt_install "${packages[@]}"
    ak_use_pg
}

# Exports PG_CONFIG and puts its bindir first on PATH.
ak_use_pg() {
    local pgc
    pgc=$(ak_pg_config)
    [ -x "$pgc" ] || ak_die "no pg_config at $pgc (PostgreSQL $AK_PG_MAJOR: set AK_PG_MAJOR, PG_CONFIG or PATH)"
    if [ "$(ak_pg_config_major "$pgc")" != "$AK_PG_MAJOR" ]; then
        ak_die "$pgc is PostgreSQL $(ak_pg_config_major "$pgc"), not AK_PG_MAJOR=$AK_PG_MAJOR"
    fi
    export PG_CONFIG=$pgc AK_PG_MAJOR
    PATH=$("$pgc" --bindir):$PATH
    export PATH
}

ak_bindir() { "$(ak_pg_config)" --bindir; }

# Builds and installs the extension from the source tree $1.
ak_build_install() {
    local log
    ak_log "building and installing apikey for PostgreSQL $AK_PG_MAJOR ($(ak_pg_config))"
    log=$(mktemp /tmp/apikey-build.XXXXXX)
    ak_run_logged "make" "$log" make -C "$1" -j"$(nproc)" PG_CONFIG="$(ak_pg_config)" &&
        ak_run_logged "make install" "$log" make -C "$1" install PG_CONFIG="$(ak_pg_config)"
    local status=$?
    rm -f "$log"
    return $status
}

# Reads test suites' output and prints, as they come, the lines that tell
# how far they are: each pg_regress test, each TAP file and its outcome,
# every failed assertion with its diagnostics.
ak_progress() {
    awk '
    function out(s) { print "    " s; fflush() }
    # pg_regress up to 15 ("test NAME ... ok 33 ms"), from 16 on
    # ("ok 1 - NAME 33 ms"; a TAP assertion has no time)
    /^(test|     ) *[a-z_0-9]+ +\.\.\. / || /^(not )?ok [0-9]+ +[-+] .* [0-9]+ ms$/ { out($0); next }
    /^# .*tests? (passed|failed)/ || /^ *[0-9]+ of [0-9]+ tests failed/ || /^ *All [0-9]+ tests passed/ { out($0); next }
    # prove: a file starts, its plan, its outcome
    /^test\/[^ ]+\.(pl|sql) \.+ *$/ { file = $1; next }
    /^1\.\.[0-9]+$/ && file != "" { plan = substr($0, 4); next }
    /^(ok|skipped.*|Failed [0-9]+\/[0-9]+ subtests|Dubious.*)$/ && file != "" {
        out(sprintf("%-42s %s%s", file, $0, ($0 == "ok" && plan != "") ? " (" plan ")" : ""))
        file = ""; plan = ""; next
    }
    /^ *not ok [0-9]+/ { out($0); diag = 1; next }
    /^ *# / && diag { out($0); next }
    { diag = 0 }
    /^(All tests successful\.|Result: |Files=)/ { out($0) }
    '
}

# Runs a command as the postgres OS user (or as ourselves if we are not root).
ak_as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# ak_cluster_start DIR PORT [conf lines...]
# Creates and starts a cluster in DIR (created and owned by postgres),
# listening on 127.0.0.1 and a unix socket in DIR only.  AK_PORT_VAR names
# the variable that chooses PORT, for the error if the port is taken;
# AK_INITDB_LOCALE (default C) is the cluster's locale, and AK_INITDB_ICU,
# if set, the ICU locale of its default collation (e.g. en-US).
ak_cluster_start() {
    local dir=$1 port=$2 bin icu=()
    shift 2
    bin=$(ak_bindir)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    [ -z "${AK_INITDB_ICU:-}" ] || icu=(--locale-provider=icu --icu-locale="$AK_INITDB_ICU")
    ak_as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 \
        --locale="${AK_INITDB_LOCALE:-C}" "${icu[@]}" >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; ak_die "initdb failed"; }
    {
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $port"
        echo "unix_socket_directories = '$dir'"
        echo "shared_preload_libraries = 'apikey'"
        echo "max_connections = 120"
        echo "fsync = off"
        echo "synchronous_commit = off"
        echo "full_page_writes = off"
        for line in "$@"; do echo "$line"; done
    } | ak_as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
    if ! ak_as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null; then
        cat "$dir/server.log" >&2
        if grep -q -e 'could not bind' -e 'already in use' "$dir/server.log"; then
            ak_die "the server did not start: port $port is taken (choose another with ${AK_PORT_VAR:-its port variable}=N)"
        fi
        ak_die "the server did not start (port $port, set by ${AK_PORT_VAR:-its port variable})"
    fi
}

ak_cluster_stop() {
    local dir=$1
    [ -d "$dir/data" ] || return 0
    ak_as_pg "$(ak_bindir)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

# Makes a directory the postgres user can write, in $TMPDIR (default /tmp).
ak_pg_workdir() {
    local dir
    dir=$(mktemp -d "${TMPDIR:-/tmp}/apikey.XXXXXX")
    chmod 755 "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    echo "$dir"
}
