#!/usr/bin/env bash
# The pgTAP suite's runner, with pg_regress's options:
#
#   run.sh --bindir=DIR --dbname=NAME [--locale=LOCALE] [--temp-instance=DIR
#          --temp-config=FILE [--port=N]] [pg_prove options] FILE...
#
# Makes database NAME afresh (dropped first, so that a rerun starts clean)
# with the extensions pgtap and apikey, and runs pg_prove on the FILEs, each
# in a transaction it rolls back.  PGHOST and PGPORT name the server, unless
# --temp-instance: then, as pg_regress does, it makes an instance in DIR
# (initdb with LOCALE, FILE added to postgresql.conf, a unix socket in a
# private directory and no TCP) and stops it whatever the outcome; DIR is
# removed unless the suite failed.  The database and the instance have
# the libc locale LOCALE, C by default, whatever the server's default
# collation.
set -u

bindir='' dbname='' temp='' conf='' port=5432 locale=C
prove_args=()
for arg; do
	case $arg in
	--bindir=*) bindir=${arg#*=} ;;
	--dbname=*) dbname=${arg#*=} ;;
	--temp-instance=*) temp=${arg#*=} ;;
	--temp-config=*) conf=${arg#*=} ;;
	--port=*) port=${arg#*=} ;;
	--locale=*) locale=${arg#*=} ;;
	*) prove_args+=("$arg") ;;
	esac
done
if [ -z "$bindir" ] || [ -z "$dbname" ] || { [ -n "$temp" ] && [ -z "$conf" ]; }; then
	echo "usage: run.sh --bindir=DIR --dbname=NAME [--locale=LOCALE] [--temp-instance=DIR --temp-config=FILE [--port=N]] [pg_prove options] FILE..." >&2
	exit 2
fi
psql=("$bindir/psql" -X -q -v ON_ERROR_STOP=1)

# Makes the database and runs the files.
run_suite() {
	"${psql[@]}" -d postgres -c 'SET client_min_messages = warning' \
		-c "DROP DATABASE IF EXISTS \"$dbname\"" \
		-c "CREATE DATABASE \"$dbname\" TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER 'libc' LOCALE '$locale'" &&
		"${psql[@]}" -d "$dbname" -c 'CREATE EXTENSION pgtap' -c 'CREATE EXTENSION apikey' &&
		pg_prove --psql-bin "$bindir/psql" -d "$dbname" "${prove_args[@]}"
}

echo "+++ pgtap install-check +++"
if [ -z "$temp" ]; then
	run_suite
	exit
fi

rm -rf "$temp"
mkdir -p "$temp"
if ! "$bindir/initdb" -D "$temp/data" --locale="$locale" -E UTF8 --no-sync -A trust \
	>"$temp/initdb.log" 2>&1; then
	echo "initdb failed; see $temp/initdb.log" >&2
	exit 2
fi
sockdir=$(mktemp -d /tmp/apikey_pgtap.XXXXXX)
{
	cat "$conf"
	echo "listen_addresses = ''"
	echo "unix_socket_directories = '$sockdir'"
	echo "port = $port"
} >>"$temp/data/postgresql.conf"

stop() {
	"$bindir/pg_ctl" -D "$temp/data" -m fast -w stop >/dev/null 2>&1
	rm -rf "$sockdir"
}
trap stop EXIT
if ! "$bindir/pg_ctl" -D "$temp/data" -l "$temp/postmaster.log" -w start >/dev/null; then
	echo "the temporary instance did not start; see $temp/postmaster.log" >&2
	exit 2
fi

# as pg_regress does: nothing in the environment picks another server,
# database or user
unset PGDATABASE PGUSER PGHOSTADDR PGSERVICE PGOPTIONS
export PGHOST=$sockdir PGPORT=$port
run_suite
status=$?
stop
trap - EXIT
# as pg_regress does: the instance is kept only for a failure's logs
[ "$status" != 0 ] || rm -rf "$temp"
exit "$status"
