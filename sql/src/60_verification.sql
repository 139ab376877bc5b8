------------------------------------------------------------------------
-- Verification (the hot path: shared and backend memory only)
------------------------------------------------------------------------

-- Anyone may call these (PUBLIC's default EXECUTE), as every request does:
-- verify() and check() answer only about the token they are given.

CREATE FUNCTION apikey.verify(
    token     text,
    scope     text DEFAULT NULL,
    client_ip inet DEFAULT NULL)
RETURNS apikey.verification
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_verify';

COMMENT ON FUNCTION apikey.verify(text, text, inet) IS
'VALID, MALFORMED, NOT_FOUND, REVOKED, EXPIRED, DISABLED, BLOCKED, IP_NOT_ALLOWED or INSUFFICIENT_SCOPE; never raises for a bad token';

CREATE FUNCTION apikey.check(
    token     text,
    scope     text    DEFAULT NULL,
    client_ip inet    DEFAULT NULL,
    cost      integer DEFAULT 1,
    endpoint  text    DEFAULT NULL,
    method    text    DEFAULT NULL)
RETURNS apikey.check_result
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_check';

COMMENT ON FUNCTION apikey.check(text, text, inet, integer, text, text) IS
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


