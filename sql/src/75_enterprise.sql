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


-- Client certificates.  The registry says which certificates are let in
-- and for whom; the TLS handshake (ssl_ca_file, or the proxy) has checked
-- their chain of trust.

CREATE TABLE apikey.certificates (
    id          uuid CONSTRAINT certificates_pkey PRIMARY KEY
                DEFAULT pg_catalog.gen_random_uuid(),
    fingerprint text COLLATE "C" NOT NULL
                CHECK (fingerprint OPERATOR(pg_catalog.~) '^[0-9a-f]{64}$'),
    subject_cn  text,
    issuer      text NOT NULL,
    not_before  timestamptz NOT NULL,
    not_after   timestamptz NOT NULL,
    owner       text NOT NULL,
    org         text,
    name        text,
    scopes      text[] NOT NULL DEFAULT '{}',
    tier        text COLLATE "C" NOT NULL DEFAULT 'free'
                CONSTRAINT certificates_tier_fkey REFERENCES apikey.tiers (name)
                ON UPDATE CASCADE,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    revoked_at  timestamptz,
    CONSTRAINT certificates_revoked_check
        CHECK (active OPERATOR(pg_catalog.=) (revoked_at IS NULL))
);

-- verification reads every registration of a fingerprint through this
-- index (src/auth/certificate.c); at most one of them is active
CREATE INDEX certificates_fingerprint_idx ON apikey.certificates (fingerprint);
CREATE UNIQUE INDEX certificates_active_key ON apikey.certificates (fingerprint)
    WHERE active;
CREATE INDEX certificates_owner_idx ON apikey.certificates (owner);

COMMENT ON TABLE apikey.certificates IS
'Client certificates let in, by the SHA-256 fingerprint of their DER, and the owner each acts for';
COMMENT ON COLUMN apikey.certificates.fingerprint IS
'SHA-256 of the certificate''s DER, 64 lower-case hexadecimal digits (openssl x509 -fingerprint -sha256, without colons)';
COMMENT ON COLUMN apikey.certificates.tier IS
'The tier whose rate limits the owner''s certificate requests are debited from';

-- Owners see their own certificates, admins all of them; every write goes
-- through register_certificate() and revoke_certificate().
ALTER TABLE apikey.certificates ENABLE ROW LEVEL SECURITY;
ALTER TABLE apikey.certificates FORCE ROW LEVEL SECURITY;
CREATE POLICY certificates_admin ON apikey.certificates TO apikey_admin USING (true);
CREATE POLICY certificates_owner ON apikey.certificates TO PUBLIC
    USING (owner OPERATOR(pg_catalog.=) (SELECT apikey.current_owner()));
GRANT SELECT ON apikey.certificates TO PUBLIC;

CREATE TYPE apikey.certificate_verification AS (
    valid       boolean,
    code        text,
    cert_id     uuid,
    owner       text,
    org         text,
    subject_cn  text,
    not_after   timestamptz
);

CREATE FUNCTION apikey.register_certificate(
    pem     text,
    owner   text,
    name    text   DEFAULT NULL,
    scopes  text[] DEFAULT '{}',
    org     text   DEFAULT NULL,
    tier    text   DEFAULT 'free')
RETURNS TABLE (cert_id uuid, fingerprint text, subject_cn text, not_after timestamptz)
LANGUAGE c VOLATILE ROWS 1
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_register_certificate';

COMMENT ON FUNCTION apikey.register_certificate(text, text, text, text[], text, text) IS
'Registers a client certificate (PEM) for an owner; its requests act for the owner';

CREATE FUNCTION apikey.revoke_certificate(cert_id uuid)
RETURNS boolean
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_revoke_certificate';

COMMENT ON FUNCTION apikey.revoke_certificate(uuid) IS
'Revokes a certificate''s registration; false if it was revoked already';
-- register and revoke check the caller themselves (owners their own,
-- admins any): anyone may call them, through PUBLIC's default EXECUTE.

CREATE FUNCTION apikey.verify_certificate(fingerprint text DEFAULT NULL)
RETURNS apikey.certificate_verification
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_verify_certificate';

COMMENT ON FUNCTION apikey.verify_certificate(text) IS
'VALID, CERT_MISSING, CERT_UNKNOWN, CERT_EXPIRED, CERT_NOT_YET_VALID or CERT_REVOKED; without a fingerprint, the session''s own TLS client certificate';
-- Anyone may call it, as anyone may call verify(): a fingerprint is no
-- proof of possession, and the owner is told only for a certificate that
-- verifies.  It reads the registry through its index, whoever calls.


-- Refresh tokens of exchange()'s JWT sessions.  Only digests are stored;
-- nobody reads them but the extension's functions.

CREATE TABLE apikey.refresh_tokens (
    id              uuid CONSTRAINT refresh_tokens_pkey PRIMARY KEY
                    DEFAULT pg_catalog.gen_random_uuid(),
    family_id       uuid NOT NULL,
    key_id          uuid NOT NULL CONSTRAINT refresh_tokens_key_id_fkey
                    REFERENCES apikey.keys (id) ON DELETE CASCADE,
    token_hash      bytea NOT NULL CONSTRAINT refresh_tokens_token_hash_key UNIQUE
                    CHECK (pg_catalog.octet_length(token_hash) OPERATOR(pg_catalog.=) 32),
    access_ttl      interval NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    revoked_at      timestamptz,
    revoke_reason   text
);

CREATE INDEX refresh_tokens_family_idx ON apikey.refresh_tokens (family_id);
CREATE INDEX refresh_tokens_key_id_idx ON apikey.refresh_tokens (key_id);
CREATE INDEX refresh_tokens_expires_at_idx ON apikey.refresh_tokens (expires_at);

COMMENT ON TABLE apikey.refresh_tokens IS
'Refresh tokens of exchange(refresh => true), by digest: each used once, a family revoked when one is reused';
COMMENT ON COLUMN apikey.refresh_tokens.family_id IS
'The session: the first token and every token refresh() returned from it';

-- Written by exchange() and refresh() only (SECURITY DEFINER).  Admins may
-- read the sessions, never the digests.
REVOKE ALL ON apikey.refresh_tokens FROM PUBLIC;
GRANT SELECT (id, family_id, key_id, access_ttl, created_at, expires_at,
              used_at, revoked_at, revoke_reason)
    ON apikey.refresh_tokens TO apikey_admin;

CREATE FUNCTION apikey.refresh(refresh_token text)
RETURNS jsonb
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_refresh';

COMMENT ON FUNCTION apikey.refresh(text) IS
'A new access token and refresh token for a refresh token, used up; a refusal is returned as {code, message, details, hint}';
-- Anyone may call it (PUBLIC's default EXECUTE): the refresh token is the
-- credential.  The PostgREST roles get it by name below.

DO $$
DECLARE
    r name;
BEGIN
    FOR r IN SELECT rolname FROM pg_catalog.pg_roles
              WHERE rolname OPERATOR(pg_catalog.=) ANY ('{anon,authenticated,service_role}')
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION apikey.refresh(text) TO %I', r);
    END LOOP;
END $$;


-- Leak reports.  Members of apikey_leak_reporter may revoke any key whose
-- token they present, as GitHub's secret scanning partners do; the role
-- belongs to the cluster, so it is created only if missing.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles
                   WHERE rolname OPERATOR(pg_catalog.=) 'apikey_leak_reporter') THEN
        CREATE ROLE apikey_leak_reporter NOLOGIN;
    END IF;
END
$$;

CREATE FUNCTION apikey.report_leak(token text, source text)
RETURNS text
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_report_leak';

COMMENT ON FUNCTION apikey.report_leak(text, text) IS
'Revokes the key (or refresh tokens) of a leaked token and audits the source: REVOKED, ALREADY_REVOKED, NOT_FOUND, MALFORMED or STATIC_KEY';
-- Revokes keys of any owner: the leak reporters' and admins' only.
REVOKE ALL ON FUNCTION apikey.report_leak(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apikey.report_leak(text, text) TO apikey_leak_reporter, apikey_admin;
