/*-------------------------------------------------------------------------
 *
 * codes.h
 *	  Every outcome apikey reports, in one table (codes.c): its name, the
 *	  HTTP status a request gets for it, the SQLSTATE of a plain refusal,
 *	  the message people read, and how usage counts it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_CODES_H
#define AK_CODES_H

/* How a request counts in a key's hourly usage. */
typedef enum AkUsageOutcome
{
	AK_USAGE_ALLOWED,
	AK_USAGE_RATE_LIMITED,		/* 429 and 503 other than quotas */
	AK_USAGE_QUOTA_EXCEEDED,
	AK_USAGE_DENIED_AUTH		/* 401 and 403 of a known key */
} AkUsageOutcome;

typedef enum AkCode
{
	/* verification, in order of precedence */
	AK_CODE_VALID,
	AK_CODE_MALFORMED,
	AK_CODE_NOT_FOUND,
	AK_CODE_REVOKED,
	AK_CODE_EXPIRED,
	AK_CODE_BLOCKED,
	AK_CODE_IP_NOT_ALLOWED,
	AK_CODE_INSUFFICIENT_SCOPE,
	AK_CODE_DISABLED,			/* paused by disable(): after EXPIRED */
	/* limits */
	AK_CODE_OK,
	AK_CODE_RATE_LIMITED,
	AK_CODE_QUOTA_EXCEEDED,
	AK_CODE_CONCURRENCY_LIMITED,
	AK_CODE_OVERLOADED,
	/* request signing (auth/signature.c) */
	AK_CODE_SIGNATURE_REQUIRED,
	AK_CODE_SIGNATURE_INVALID,
	AK_CODE_SIGNATURE_EXPIRED,
	AK_CODE_REPLAYED,
	AK_CODE_NONCE_STORE_UNAVAILABLE,
	/* client certificates (auth/certificate.c) */
	AK_CODE_CERT_MISSING,
	AK_CODE_CERT_UNKNOWN,
	AK_CODE_CERT_EXPIRED,
	AK_CODE_CERT_NOT_YET_VALID,
	AK_CODE_CERT_REVOKED,
	/* refresh tokens (lifecycle/refresh.c) */
	AK_CODE_REFRESH_REUSED,
	AK_CODE_USAGE_EXCEEDED,		/* max_uses admitted requests were made */
	AK_NUM_CODES
} AkCode;

typedef struct AkCodeInfo
{
	const char *name;			/* as verify() and check() return it */
	int			http_status;
	int			sqlstate;		/* of check_request() outside PostgREST */
	const char *message;		/* for people, in an HTTP response */
	AkUsageOutcome usage;
} AkCodeInfo;

extern const AkCodeInfo ak_codes[AK_NUM_CODES];

static inline const char *
ak_code_name(AkCode code)
{
	return ak_codes[code].name;
}

static inline int
ak_code_status(AkCode code)
{
	return ak_codes[code].http_status;
}

/* A failure to authenticate: HTTP 401. */
static inline bool
ak_code_is_401(AkCode code)
{
	return ak_codes[code].http_status == 401;
}

#endif							/* AK_CODES_H */
