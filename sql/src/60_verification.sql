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
'VALID, MALFORMED, NOT_FOUND, REVOKED, EXPIRED, BLOCKED, IP_NOT_ALLOWED or INSUFFICIENT_SCOPE; never raises for a bad token';

CREATE FUNCTION apikey.check(
    token     text,
    scope     text    DEFAULT NULL,
    client_ip text    DEFAULT NULL,
    cost      integer DEFAULT 1)
RETURNS apikey.check_result
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_check_0_2';

COMMENT ON FUNCTION apikey.check(text, text, text, integer) IS
'verify, abuse cooldown, per-address limit, in-flight and concurrency limits, then the key''s rate limits; with HTTP status and headers';

CREATE FUNCTION apikey.consume(
    key_id             uuid,
    cost               integer DEFAULT 1,
    refund_on_rollback boolean DEFAULT false)
RETURNS apikey.limit_result
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_consume';

COMMENT ON FUNCTION apikey.consume(uuid, integer, boolean) IS
'Debits cost from every rate limit of a key, all or none';

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


