------------------------------------------------------------------------
-- Enterprise authentication (doc/authentication.md): request signing,
-- client certificates, refresh tokens, leak reports
------------------------------------------------------------------------

-- Request signing.  A key's signing secret is derived from the server's
-- root secret (apikey.signing_key_file) and the key's id: it is stored
-- nowhere.

CREATE TYPE apikey.signature_verification AS (
    valid   boolean,
    code    text,
    key_id  uuid,
    owner   text
);

CREATE FUNCTION apikey.signing_secret(key_id uuid)
RETURNS text
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_signing_secret';

COMMENT ON FUNCTION apikey.signing_secret(uuid) IS
'The secret requests of this key are signed with (HMAC-SHA-256); for its owner or an admin, audited';
-- Checks the caller itself (the key's owner or an admin): anyone may call
-- it, through PUBLIC's default EXECUTE.

CREATE FUNCTION apikey.verify_signature(
    key         text,
    method      text,
    path        text,
    ts          bigint,
    body_sha256 text,
    signature   text,
    nonce       text DEFAULT NULL)
RETURNS apikey.signature_verification
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_verify_signature';

COMMENT ON FUNCTION apikey.verify_signature(text, text, text, bigint, text, text, text) IS
'VALID, SIGNATURE_INVALID, SIGNATURE_EXPIRED, REPLAYED, NONCE_STORE_UNAVAILABLE, or the key''s own code; key is a display prefix or a key id';
-- Anyone may call it, as anyone may call verify(): without the signing
-- secret nothing passes.  SECURITY DEFINER to find a key by its display
-- prefix whoever owns it.
