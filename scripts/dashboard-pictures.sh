#!/usr/bin/env bash
# Draws the pictures of doc/dashboards.md from the sample database of the
# tests (test/dashboards/sample.sql), in headless Chromium:
#   doc/dashboards-report.png   the top of a report (pg_apikey report --html)
#   doc/dashboards-top.png      a frame of pg_apikey top, 100 columns wide
# Key prefixes and counts differ from run to run.
#
# Usage: sudo bash scripts/dashboard-pictures.sh
#        AK_TEST_PORT: the port of the throwaway cluster (default 55432)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$here/scripts/lib.sh"

ak_install_deps
ak_install_browser
ak_build_install "$here"
[ -d "$AK_BROWSER_DIR/node_modules/playwright-core" ] || ak_die "playwright-core is missing"

work=$(ak_pg_workdir)
port=${AK_TEST_PORT:-55432}
trap 'ak_cluster_stop "$work/pg"; rm -rf "$work"' EXIT
ak_cluster_start "$work/pg" "$port" "apikey.denied_audit_window = '1s'" "apikey.flush_interval = '200ms'"

export PGHOST=$work/pg PGPORT=$port PGDATABASE=postgres PGUSER=postgres
bin=$(ak_bindir)
"$bin/psql" -Xq -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION apikey' -o /dev/null \
    -f "$here/test/dashboards/sample.sql"
# until the worker has written the live part of the sample
for _ in $(seq 100); do
    [ "$("$bin/psql" -XAtq -c "SELECT count(*) FROM apikey.audit_log
          WHERE at > now() - interval '1 minute'")" -ge 18 ] && break
    sleep 0.2
done

"$bin/pg_apikey" report --html "$work/report.html"

# some traffic while top takes its two samples, for rates that are not 0
traffic() {
    for _ in $(seq 40); do
        "$bin/psql" -Xq -o /dev/null -c "SELECT apikey.check(token, client_ip => '203.0.113.9')
            FROM sample_tokens, generate_series(1, 8) WHERE what <> 'legacy'" -c "SELECT pg_sleep(0.05)"
    done
}
traffic &
sleep 0.5
COLUMNS=100 LINES=58 "$bin/pg_apikey" top --once --interval 1 >"$work/top.txt"
wait

# the frame as a terminal shows it
python3 - "$work/top.txt" "$work/top.html" <<'PY'
import html, sys
frame = open(sys.argv[1], encoding='utf-8').read()
open(sys.argv[2], 'w', encoding='utf-8').write(
    '<!DOCTYPE html><html><head><meta charset="utf-8"><style>'
    'body{margin:0;background:#fff}'
    'pre{display:inline-block;margin:0;padding:14px 18px;background:#1e2127;color:#d7dae0;'
    "font:14px/1.3 'DejaVu Sans Mono',monospace;border-radius:6px}"
    '</style></head><body><pre>' + html.escape(frame) + '</pre></body></html>\n')
PY

chmod 755 "$work"
render() { NODE_PATH="$AK_BROWSER_DIR/node_modules" node "$here/test/browser/render.js" "$@" >/dev/null; }
render "$work/report.html" "$here/doc/dashboards-report.png" --width=1280 --height=1800
render "$work/top.html" "$here/doc/dashboards-top.png" --width=1200 --height=900 --element=pre
ak_log "wrote doc/dashboards-report.png and doc/dashboards-top.png"
