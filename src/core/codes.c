/*-------------------------------------------------------------------------
 *
 * codes.c
 *	  The table of outcome codes (doc/apikey.md, "Verification codes" and
 *	  "check(), consume(), throttle()").
 *
 * Outside PostgREST, check_request() refuses with SQLSTATE 28000 for 401
 * (invalid authorization), 42501 for 403 (insufficient privilege) and
 * 53400 for 429 and 503 (configuration limit exceeded).
 *
 * DISABLED (a paused key) and USAGE_EXCEEDED (a key whose max_uses are
 * spent) are 403: no retry can pass, so no 429 and no Retry-After.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "core/codes.h"

#define AUTH	ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION
#define PRIV	ERRCODE_INSUFFICIENT_PRIVILEGE
#define LIMIT	ERRCODE_CONFIGURATION_LIMIT_EXCEEDED

const AkCodeInfo ak_codes[AK_NUM_CODES] = {
	[AK_CODE_VALID] = {"VALID", 200, 0, "OK", AK_USAGE_ALLOWED},
	[AK_CODE_MALFORMED] = {"MALFORMED", 401, AUTH, "Invalid API key", AK_USAGE_DENIED_AUTH},
	[AK_CODE_NOT_FOUND] = {"NOT_FOUND", 401, AUTH, "Invalid API key", AK_USAGE_DENIED_AUTH},
	[AK_CODE_REVOKED] = {"REVOKED", 401, AUTH, "API key revoked", AK_USAGE_DENIED_AUTH},
	[AK_CODE_EXPIRED] = {"EXPIRED", 401, AUTH, "API key expired", AK_USAGE_DENIED_AUTH},
	[AK_CODE_BLOCKED] = {"BLOCKED", 429, LIMIT, "Too many failed attempts", AK_USAGE_RATE_LIMITED},
	[AK_CODE_IP_NOT_ALLOWED] = {"IP_NOT_ALLOWED", 403, PRIV,
	"Client address not allowed for this API key", AK_USAGE_DENIED_AUTH},
	[AK_CODE_INSUFFICIENT_SCOPE] = {"INSUFFICIENT_SCOPE", 403, PRIV,
	"API key lacks the scope this request needs", AK_USAGE_DENIED_AUTH},
	[AK_CODE_OK] = {"OK", 200, 0, "OK", AK_USAGE_ALLOWED},
	[AK_CODE_RATE_LIMITED] = {"RATE_LIMITED", 429, LIMIT, "Rate limit exceeded", AK_USAGE_RATE_LIMITED},
	[AK_CODE_QUOTA_EXCEEDED] = {"QUOTA_EXCEEDED", 429, LIMIT, "Quota exceeded", AK_USAGE_QUOTA_EXCEEDED},
	[AK_CODE_CONCURRENCY_LIMITED] = {"CONCURRENCY_LIMITED", 429, LIMIT,
	"Too many concurrent requests", AK_USAGE_RATE_LIMITED},
	[AK_CODE_OVERLOADED] = {"OVERLOADED", 503, LIMIT, "Server overloaded", AK_USAGE_RATE_LIMITED},
	[AK_CODE_SIGNATURE_REQUIRED] = {"SIGNATURE_REQUIRED", 401, AUTH,
	"This request must be signed", AK_USAGE_DENIED_AUTH},
	[AK_CODE_SIGNATURE_INVALID] = {"SIGNATURE_INVALID", 401, AUTH,
	"Invalid request signature", AK_USAGE_DENIED_AUTH},
	[AK_CODE_SIGNATURE_EXPIRED] = {"SIGNATURE_EXPIRED", 401, AUTH,
	"Request signature expired", AK_USAGE_DENIED_AUTH},
	[AK_CODE_REPLAYED] = {"REPLAYED", 401, AUTH, "Request replayed", AK_USAGE_DENIED_AUTH},
	[AK_CODE_NONCE_STORE_UNAVAILABLE] = {"NONCE_STORE_UNAVAILABLE", 503, LIMIT,
	"Replay protection unavailable", AK_USAGE_RATE_LIMITED},
	[AK_CODE_CERT_MISSING] = {"CERT_MISSING", 401, AUTH,
	"Client certificate required", AK_USAGE_DENIED_AUTH},
	[AK_CODE_CERT_UNKNOWN] = {"CERT_UNKNOWN", 401, AUTH,
	"Unknown client certificate", AK_USAGE_DENIED_AUTH},
	[AK_CODE_CERT_EXPIRED] = {"CERT_EXPIRED", 401, AUTH,
	"Client certificate expired", AK_USAGE_DENIED_AUTH},
	[AK_CODE_CERT_NOT_YET_VALID] = {"CERT_NOT_YET_VALID", 401, AUTH,
	"Client certificate not yet valid", AK_USAGE_DENIED_AUTH},
	[AK_CODE_CERT_REVOKED] = {"CERT_REVOKED", 401, AUTH,
	"Client certificate revoked", AK_USAGE_DENIED_AUTH},
	[AK_CODE_REFRESH_REUSED] = {"REFRESH_REUSED", 401, AUTH,
	"Refresh token already used", AK_USAGE_DENIED_AUTH},
	[AK_CODE_DISABLED] = {"DISABLED", 403, PRIV, "API key disabled", AK_USAGE_DENIED_AUTH},
	[AK_CODE_USAGE_EXCEEDED] = {"USAGE_EXCEEDED", 403, PRIV,
	"API key has no uses left", AK_USAGE_QUOTA_EXCEEDED},
};
