------------------------------------------------------------------------
-- Key lifecycle
------------------------------------------------------------------------

-- issue, rotate, revoke and update are SECURITY DEFINER and check the
-- caller themselves (owners manage their own keys, admins any): anyone may
-- call them, through PUBLIC's default EXECUTE.

CREATE FUNCTION apikey.issue(
    owner       text,
    name        text        DEFAULT NULL,
    scopes      text[]      DEFAULT '{}',
    tier        text        DEFAULT 'free',
    expires_at  timestamptz DEFAULT NULL,
    allowed_ips cidr[]      DEFAULT NULL,
    metadata    jsonb       DEFAULT '{}',
    prefix      text        DEFAULT 'ak_live',
    org         text        DEFAULT NULL,
    rate_limits jsonb       DEFAULT NULL,
    max_uses    bigint      DEFAULT NULL)
RETURNS TABLE (key_id uuid, token text, display_prefix text)
LANGUAGE c VOLATILE ROWS 1
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_issue';

COMMENT ON FUNCTION apikey.issue(text, text, text[], text, timestamptz, cidr[], jsonb, text, text, jsonb, bigint) IS
'Issues a key; the token is returned once and only its digest is stored';

CREATE FUNCTION apikey.rotate(
    key_id  uuid,
    grace   interval DEFAULT '7 days')
RETURNS TABLE (key_id uuid, token text, display_prefix text,
               old_key_expires_at timestamptz)
LANGUAGE c VOLATILE ROWS 1
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_rotate';

COMMENT ON FUNCTION apikey.rotate(uuid, interval) IS
'Issues a new key with the same settings; the old one works until old_key_expires_at';

CREATE FUNCTION apikey.revoke(
    key_id  uuid,
    reason  text DEFAULT NULL)
RETURNS boolean
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_revoke';

COMMENT ON FUNCTION apikey.revoke(uuid, text) IS
'Revokes a key at once in every backend; false if it no longer worked';

CREATE FUNCTION apikey.update(
    key_id  uuid,
    changes jsonb)
RETURNS apikey.key_list
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_update';

COMMENT ON FUNCTION apikey.update(uuid, jsonb) IS
'Changes name, scopes, expires_at, allowed_ips, metadata (owners) and tier, rate_limits, quotas, max_concurrency, jwt_role, max_uses, priority (admins)';

-- A key paused and resumed: it answers DISABLED (403) in between.
CREATE FUNCTION apikey.disable(
    key_id  uuid,
    reason  text DEFAULT NULL)
RETURNS boolean
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_disable';

COMMENT ON FUNCTION apikey.disable(uuid, text) IS
'Pauses a key in every backend: it answers DISABLED (403) until enable(); false if it was not active';

CREATE FUNCTION apikey.enable(key_id uuid)
RETURNS boolean
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_enable';

COMMENT ON FUNCTION apikey.enable(uuid) IS
'Resumes a key paused by disable(); false if it was not disabled.  A key an admin disabled only an admin enables';

-- issue_bulk writes what issue() would, key by key, but set-based: every
-- element is checked first, then keys and audit rows go in by batches
-- (src/lifecycle/bulk.c).  Callers who are not admins may issue 100 keys
-- per call, admins any number.  SECURITY DEFINER, as issue() is.

CREATE FUNCTION apikey.issue_bulk(specs jsonb)
RETURNS TABLE (key_id uuid, token text, display_prefix text)
LANGUAGE c VOLATILE ROWS 100
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_issue_bulk';

COMMENT ON FUNCTION apikey.issue_bulk(jsonb) IS
'Issues a key per element of a JSON array of issue()''s named arguments, all or nothing: up to 100 per call, any number for admins';

-- revoke_bulk and update_bulk call the single forms, as the caller
-- (SECURITY INVOKER): the same owner checks and the same audit rows, all in
-- the caller's transaction, so one failure undoes the whole call.

CREATE FUNCTION apikey.revoke_bulk(
    key_ids uuid[],
    reason  text    DEFAULT NULL,
    dry_run boolean DEFAULT false)
RETURNS TABLE (key_id uuid, was_active boolean, revoked boolean)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ids     uuid[] := apikey._bulk_ids('revoke_bulk', key_ids, 1000);
    active  boolean[] := '{}';
    i       integer;
BEGIN
    -- A dry run does the real revocations, with every check, then undoes
    -- them: it fails exactly where the real call would.
    BEGIN
        FOR i IN 1 .. cardinality(ids) LOOP
            active := active || apikey.revoke(ids[i], reason);
        END LOOP;
        IF dry_run THEN
            RAISE EXCEPTION USING ERRCODE = 'AKDRY';
        END IF;
    EXCEPTION WHEN SQLSTATE 'AKDRY' THEN
        NULL;
    END;
    RETURN QUERY
    SELECT u.id, u.was_active, u.was_active AND NOT dry_run
      FROM unnest(ids, active) AS u(id, was_active);
END $$;

COMMENT ON FUNCTION apikey.revoke_bulk(uuid[], text, boolean) IS
'Revokes up to 1000 keys, all or nothing; was_active: revoke() would return true; dry_run changes nothing';

CREATE FUNCTION apikey.update_bulk(key_ids uuid[], changes jsonb)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ids uuid[] := apikey._bulk_ids('update_bulk', key_ids, 1000);
    i   integer;
BEGIN
    FOR i IN 1 .. cardinality(ids) LOOP
        PERFORM apikey.update(ids[i], changes);
    END LOOP;
    RETURN cardinality(ids);
END $$;

COMMENT ON FUNCTION apikey.update_bulk(uuid[], jsonb) IS
'Applies the same changes to up to 1000 keys, all or nothing; returns the number of keys changed';

CREATE FUNCTION apikey.introspect(display_prefix text)
RETURNS jsonb
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_introspect';

COMMENT ON FUNCTION apikey.introspect(text) IS
'Everything known about a key, by display prefix (admins only; no digest)';
-- Shows any key's settings and live limits: admins only.
REVOKE ALL ON FUNCTION apikey.introspect(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apikey.introspect(text) TO apikey_admin;


