------------------------------------------------------------------------
-- Who the caller acts for
------------------------------------------------------------------------

-- Used by the row-level security policies below and by applications' own.
-- Anyone may call them (PUBLIC's default EXECUTE), and the PostgREST roles
-- get EXECUTE by name in the PostgREST section.

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


