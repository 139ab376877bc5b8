# Shared by scripts/demo.sh, scripts/test.sh and bench/run.sh: install what
# apikey needs on Debian, build and install it, and run a throwaway cluster
# as the postgres OS user (initdb and postgres refuse to run as root).
#
# Source it; it defines functions and sets nothing else.

AK_PG_MAJOR=${AK_PG_MAJOR:-15}
AK_PACKAGES="make gcc postgresql-$AK_PG_MAJOR postgresql-server-dev-$AK_PG_MAJOR \
libsodium-dev postgresql-$AK_PG_MAJOR-pgtap libtap-parser-sourcehandler-pgtap-perl \
libipc-run-perl postgresql-contrib python3"

# Packages some tests use when they can have them; a test that needs one
# is skipped, saying why, when it is missing (pgbouncer: test/t/012_pgbouncer.pl).
AK_OPTIONAL_PACKAGES="pgbouncer"

ak_log() { printf '==> %s\n' "$*" >&2; }
ak_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs the Debian packages that are missing (apt-get update only if needed).
ak_install_deps() {
    local missing="" p
    for p in $AK_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
            || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    [ "$(id -u)" = 0 ] || ak_die "missing packages:$missing (run as root to install them)"
    ak_log "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq $missing >/dev/null
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

ak_bindir() { pg_config --bindir; }

# Builds and installs the extension from the source tree $1.
ak_build_install() {
    ak_log "building and installing apikey"
    make -C "$1" -s -j"$(nproc)" >/dev/null
    make -C "$1" -s install >/dev/null
}

# Runs a command as the postgres OS user (or as ourselves if we are not root).
ak_as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# ak_cluster_start DIR PORT [conf lines...]
# Creates and starts a cluster in DIR (created and owned by postgres),
# listening on 127.0.0.1 and a unix socket in DIR only.
ak_cluster_start() {
    local dir=$1 port=$2 bin
    shift 2
    bin=$(ak_bindir)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    ak_as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 \
        --locale=C >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; ak_die "initdb failed"; }
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
    ak_as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
        || { cat "$dir/server.log" >&2; ak_die "the server did not start"; }
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
