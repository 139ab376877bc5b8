#!/usr/bin/env bash
# Writes a description of apikey's installed catalog to OUT: what pg_dump
# -s --binary-upgrade writes for a database holding only the extension
# (every member object, with its grants; OIDs and pg_dump's random
# \restrict key left out), then the privileges of every member, from the
# catalogs.  Two snapshots that are equal describe the same extension.
#
# Usage: bash scripts/schema-snapshot.sh OUT [SQL...]
#   SQL: statements that create the extension, default "CREATE EXTENSION
#   apikey" (e.g. "CREATE EXTENSION apikey VERSION '0.1.0'" "ALTER EXTENSION
#   apikey UPDATE" to describe an upgraded one).  A cluster is made for the
#   run, with the pg_config on PATH (AK_SNAPSHOT_PORT, default 54389).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$here/scripts/lib.sh"

out=$(realpath -m "$1")
shift
[ $# -gt 0 ] || set -- "CREATE EXTENSION apikey"
port=${AK_SNAPSHOT_PORT:-54389}
AK_PORT_VAR=AK_SNAPSHOT_PORT    # named by the error if the port is taken
work=$(ak_pg_workdir)
trap 'ak_cluster_stop "$work"; rm -rf "$work"' EXIT
ak_cluster_start "$work" "$port" >/dev/null
bin=$(ak_bindir)
psql() { ak_as_pg "$bin/psql" -X -q -h "$work" -p "$port" -v ON_ERROR_STOP=1 "$@"; }

psql -d postgres -c "CREATE DATABASE snapshot"
for sql in "$@"; do
    psql -d snapshot -c "$sql"
done

{
    # OIDs differ between clusters; the foreign keys of keys on itself make
    # pg_dump warn about circular constraints, which concerns data only
    ak_as_pg "$bin/pg_dump" -h "$work" -p "$port" -s --binary-upgrade snapshot 2>/dev/null |
        grep -v -e 'binary_upgrade_set_next_' -e '^\\\(un\)\?restrict ' -e '^-- Dumped' |
        sed -E -e "s/WHERE oid = '[0-9]+'/WHERE oid = '<oid>'/" \
               -e "s/'apikey', false, '([^']*)', '\{[0-9,]*\}'/'apikey', false, '\1', '{<oids>}'/"
    echo "-- privileges of the members"
    psql -d snapshot -A -F ' | ' -f - <"$here/scripts/schema-privileges.sql"
} >"$out"
echo "wrote $out ($(wc -l <"$out") lines)"
