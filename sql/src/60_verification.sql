------------------------------------------------------------------------
-- Verification (the hot path: shared and backend memory only)
------------------------------------------------------------------------

-- Anyone may call these (PUBLIC's default EXECUTE), as every request does:
-- verify() and check() answer only about the token they are given.

CREATE FUNCTION apikey.verify(
    token     text,
    scope     text DEFAULT NULL,
    client_ip text DEFAULT NULL)
RETURNS apikey.verification
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_verify_0_2';

COMMENT ON FUNCTION apikey.verify(text, text, text) IS
'VALID, MALFORMED, NOT_FOUND, REVOKED, EXPIRED, DISABLED, BLOCKED, IP_NOT_ALLOWED or INSUFFICIENT_SCOPE; never raises for a bad token';

CREATE FUNCTION apikey.check(
    token     text,
    scope     text    DEFAULT NULL,
    client_ip text    DEFAULT NULL,
    cost      integer DEFAULT 1,
    endpoint  text    DEFAULT NULL,
    method    text    DEFAULT NULL)
RETURNS apikey.check_result
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_check_0_2';

COMMENT ON FUNCTION apikey.check(text, text, text, integer, text, text) IS
'verify, address blocks and abuse cooldown, per-address limit, in-flight and concurrency limits, quotas, then the key''s and its owner''s rate limits; with HTTP status and headers.  cost 0 looks without taking anything; an endpoint opens a request that finish() closes';

-- An application's request, opened by check(..., endpoint => ...), is
-- closed with its real status and duration.
CREATE FUNCTION apikey.finish(
    status  integer,
    latency interval DEFAULT NULL)
RETURNS boolean
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_finish';

COMMENT ON FUNCTION apikey.finish(integer, interval) IS
'Closes the request check(..., endpoint => ...) opened in this session: its HTTP status and latency go to usage and its access event; false if none is open';

-- Anyone holding a token may see the limits of its key, as verify()
-- tells them its scopes.
CREATE FUNCTION apikey.limits(token text)
RETURNS TABLE (name text, kind text, applies_to text, limit_value bigint,
               remaining bigint, reset_at timestamptz, shadow boolean)
LANGUAGE c VOLATILE ROWS 8
AS 'MODULE_PATHNAME', 'apikey_limits';

COMMENT ON FUNCTION apikey.limits(text) IS
'Every limit of the key a token names, its owner''s included, as it stands now: rate limits, quotas, concurrency, uses; no rows if the token does not verify';

CREATE FUNCTION apikey.consume(
    key_id             uuid,
    cost               integer DEFAULT 1,
    refund_on_rollback boolean DEFAULT false)
RETURNS apikey.limit_result
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_consume';

COMMENT ON FUNCTION apikey.consume(uuid, integer, boolean) IS
'Debits cost from the quotas and rate limits of a key and its owner, all or none';

CREATE FUNCTION apikey.throttle(
    bucket text,
    rate   integer,
    period interval,
    burst  integer DEFAULT NULL,
    cost   integer DEFAULT 1)
RETURNS apikey.limit_result
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_throttle';

COMMENT ON FUNCTION apikey.throttle(text, integer, interval, integer, integer) IS
'A token bucket in shared memory for any subject: rate per period, burst (default rate)';

-- throttle() names an administrator shares between the roles of the
-- database, with the parameters every call must give.
CREATE TABLE apikey.shared_throttles (
    name            text CONSTRAINT shared_throttles_pkey PRIMARY KEY
                    CHECK (octet_length(name) OPERATOR(pg_catalog.<=) 255 AND
                           name OPERATOR(pg_catalog.<>) ''),
    rate            integer NOT NULL CHECK (rate OPERATOR(pg_catalog.>) 0),
    period          interval NOT NULL
                    CHECK (period OPERATOR(pg_catalog.>) '0'::interval),
    burst           integer CHECK (burst OPERATOR(pg_catalog.>) 0),
    declared_by     name NOT NULL DEFAULT CURRENT_USER,
    declared_at     timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE apikey.shared_throttles IS
'throttle() names shared by every role of the database; other names are private to the calling role';

CREATE TRIGGER shared_throttles_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON apikey.shared_throttles
    FOR EACH STATEMENT EXECUTE FUNCTION apikey._shared_throttles_changed();

GRANT SELECT ON apikey.shared_throttles TO PUBLIC;
GRANT INSERT, UPDATE, DELETE ON apikey.shared_throttles TO apikey_admin;

CREATE FUNCTION apikey.clear_throttles(role regrole, bucket text DEFAULT NULL)
RETURNS bigint
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_clear_throttles';

COMMENT ON FUNCTION apikey.clear_throttles(regrole, text) IS
'Removes a role''s throttle() buckets in this database (role NULL: the shared names''), or only one bucket; returns how many';
REVOKE ALL ON FUNCTION apikey.clear_throttles(regrole, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apikey.clear_throttles(regrole, text) TO apikey_admin;

CREATE FUNCTION apikey.reset_buckets(class text DEFAULT NULL)
RETURNS bigint
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_reset_buckets';

COMMENT ON FUNCTION apikey.reset_buckets(text) IS
'Forgets every bucket and cooldown of a class (key, address, named, cooldown; NULL: all), as a restart would; returns how many';
REVOKE ALL ON FUNCTION apikey.reset_buckets(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apikey.reset_buckets(text) TO apikey_admin;


