#!/usr/bin/env bash
# apikey's main job in one minute, on a throwaway cluster: issue a key,
# verify it, revoke it in another session, verify it again.
#
# Usage: sudo bash scripts/demo.sh
#   AK_DEMO_PORT   the cluster's port (127.0.0.1 and a unix socket), 54319
#   AK_PG_MAJOR, PG_CONFIG, PATH: which PostgreSQL (scripts/lib.sh)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$here/scripts/lib.sh"

ak_install_deps
ak_build_install "$here"
work=$(ak_pg_workdir)
port=${AK_DEMO_PORT:-54319}
trap 'ak_cluster_stop "$work"; rm -rf "$work"' EXIT
ak_log "starting a throwaway cluster on port $port (shared_preload_libraries = 'apikey')"
AK_PORT_VAR=AK_DEMO_PORT ak_cluster_start "$work" "$port"

export PGHOST=$work PGPORT=$port PGUSER=postgres PGDATABASE=postgres
psql() { "$(ak_bindir)/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

psql <<'SQL'
\pset footer off
CREATE EXTENSION apikey;

\echo
\echo '1. Issue a key for customer "acme". The token is shown once; only its digest is stored.'
\echo
SELECT key_id, token, display_prefix
  FROM apikey.issue(owner => 'acme', name => 'demo', scopes => '{orders:*}',
                    rate_limits => '[{"name": "minute", "limit": 100, "period": "1 minute", "burst": 5}]') \gset
SELECT :'token' AS token, :'display_prefix' AS display_prefix;

\echo '2. Verify it (the first call reads the table, the next ones hit the cache).'
\echo
SELECT valid, code, owner, scopes, tier FROM apikey.verify(:'token', scope => 'orders:read');
SELECT valid, code FROM apikey.verify(:'token', scope => 'billing:read');
SELECT valid, code FROM apikey.verify('ak_live_this-is-not-a-real-token');

\echo '   100000 verifications of the cached key:'
\timing on
SELECT count(*) FILTER (WHERE (apikey.verify(:'token')).valid) AS valid
  FROM generate_series(1, 100000);
\timing off

\echo
\echo '3. Rate-limit it: a burst of 5, then 100 per minute. The sixth request in a row is refused.'
\echo
SELECT n, (c).allowed, (c).status, (c).code, (c).headers->>'RateLimit' AS "RateLimit",
       (c).headers->>'Retry-After' AS "Retry-After"
  FROM (SELECT n, apikey.check(:'token', 'orders:read') AS c
          FROM generate_series(1, 6) AS n) AS requests;

\echo '4. Revoke it from another session.'
\echo
\! psql -X -q -At -c "SELECT 'revoked: ' || apikey.revoke(id, reason => 'demo') FROM apikey.keys WHERE owner = 'acme'"

\echo
\echo '5. Verify it again: this session had it cached, and still knows at once.'
\echo
SELECT valid, code, key_id = :'key_id' AS same_key FROM apikey.verify(:'token', scope => 'orders:read');

\echo 'The audit trail:'
\echo
SELECT id, action, owner, actor, detail->>'display_prefix' AS key, detail->>'reason' AS reason
  FROM apikey.audit_log ORDER BY id;
SQL
