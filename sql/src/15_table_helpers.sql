------------------------------------------------------------------------
-- Helpers used by the tables
------------------------------------------------------------------------

CREATE FUNCTION apikey._check_rate_limits(rate_limits jsonb)
RETURNS boolean
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'apikey_check_rate_limits';

COMMENT ON FUNCTION apikey._check_rate_limits(jsonb) IS
'true, or an error saying what is wrong with a rate-limit array (CHECK constraints)';

-- The status of a key.  verify() applies the same rule in C
-- (ak_key_state in src/verify.c); the two must agree.
CREATE FUNCTION apikey._key_status(revoked_at timestamptz,
                                   expires_at timestamptz,
                                   rotated_to uuid)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN revoked_at IS NOT NULL
             AND (expires_at IS NULL OR revoked_at OPERATOR(pg_catalog.<) expires_at)
            THEN 'revoked'
        WHEN expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()
            THEN CASE WHEN rotated_to IS NULL THEN 'expired' ELSE 'revoked' END
        WHEN rotated_to IS NOT NULL
            THEN 'rotating'
        ELSE 'active'
    END
$$;

COMMENT ON FUNCTION apikey._key_status(timestamptz, timestamptz, uuid) IS
'active, rotating (old key within its rotation grace), revoked or expired';

CREATE FUNCTION apikey.current_owner()
RETURNS text
LANGUAGE c STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'apikey_current_owner';

COMMENT ON FUNCTION apikey.current_owner() IS
'The owner the caller acts for: the key verified by check_request() in this transaction, else the JWT "sub" claim, else (outside PostgREST) the calling role';

CREATE FUNCTION apikey.current_key_id()
RETURNS uuid
LANGUAGE c STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'apikey_current_key_id';

COMMENT ON FUNCTION apikey.current_key_id() IS
'The key verified by check_request() in this transaction, or NULL';


