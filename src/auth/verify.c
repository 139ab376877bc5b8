/*-------------------------------------------------------------------------
 *
 * verify.c
 *	  The verification decision (doc/apikey.md, "Verification codes").
 *
 * Codes, in order of precedence: MALFORMED (shape, checksum, length,
 * NULL or empty: decided without any table), NOT_FOUND, REVOKED, EXPIRED,
 * DISABLED, (BLOCKED: the limiter's address blocks and abuse cooldowns),
 * IP_NOT_ALLOWED, INSUFFICIENT_SCOPE; else VALID.
 *
 * Nothing here raises for a bad token: it returns a code, so that the
 * statement carrying the token is never copied into the server log by
 * log_min_error_statement.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include "auth/keycache.h"
#include "auth/scope.h"
#include "auth/statickey.h"
#include "auth/token.h"
#include "auth/verify.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

const char *const ak_key_status_names[] = {
	[AK_STATUS_ACTIVE] = "active",
	[AK_STATUS_ROTATING] = "rotating",
	[AK_STATUS_REVOKED] = "revoked",
	[AK_STATUS_EXPIRED] = "expired",
	[AK_STATUS_DISABLED] = "disabled",
};

/*
 * The status of a key at "now", from its own columns only (DT_NOEND for
 * NULL) -- the one rule, for verification and for apikey.key_list:
 *	  revoked   revoked_at is set, and before expires_at if there is one
 *				(the worker stamps revoked_at = expires_at on expired keys,
 *				which keeps them EXPIRED);
 *	  expired   expires_at has passed -- revoked instead for a rotated key
 *				whose grace period (its expires_at) is over;
 *	  disabled  paused by disable(), until enable();
 *	  rotating  rotated, within its grace period;
 *	  active    otherwise.
 */
AkKeyStatus
ak_key_status_at(TimestampTz revoked_at, TimestampTz expires_at, bool rotated,
				 bool disabled, TimestampTz now)
{
	bool		expires = expires_at != DT_NOEND;

	if (revoked_at != DT_NOEND && (!expires || revoked_at < expires_at))
		return AK_STATUS_REVOKED;
	if (expires && expires_at <= now)
		return rotated ? AK_STATUS_REVOKED : AK_STATUS_EXPIRED;
	if (disabled)
		return AK_STATUS_DISABLED;
	return rotated ? AK_STATUS_ROTATING : AK_STATUS_ACTIVE;
}

/* Whether a key still works at "now": VALID, REVOKED, EXPIRED or DISABLED. */
AkCode
ak_key_status(const AkKeyInfo *key, TimestampTz now)
{
	switch (ak_key_status_at(key->revoked_at, key->expires_at, key->rotated,
							 key->disabled, now))
	{
		case AK_STATUS_REVOKED:
			return AK_CODE_REVOKED;
		case AK_STATUS_EXPIRED:
			return AK_CODE_EXPIRED;
		case AK_STATUS_DISABLED:
			return AK_CODE_DISABLED;
		default:
			return AK_CODE_VALID;
	}
}

static bool
ak_ip_allowed(const AkKeyInfo *key, inet *client_ip)
{
	if (key->nallowed == 0)
		return true;
	if (client_ip == NULL)
		return false;
	for (int i = 0; i < key->nallowed; i++)
		if (DatumGetBool(DirectFunctionCall2(network_supeq,
											 InetPGetDatum(key->allowed[i]),
											 InetPGetDatum(client_ip))))
			return true;
	return false;
}

/*
 * Whether a key, already identified (by a refresh token), may still be
 * used at now_us from client_ip: VALID, REVOKED, EXPIRED or
 * IP_NOT_ALLOWED.
 */
AkCode
ak_key_admits(const AkKeyInfo *key, inet *client_ip, int64 now_us)
{
	AkCode		code = ak_key_status(key, now_us);

	if (code == AK_CODE_VALID && !ak_ip_allowed(key, client_ip))
		return AK_CODE_IP_NOT_ALLOWED;
	return code;
}

/*
 * Verifies a token at now_us.  *key is the key the token belongs to, when
 * there is one (also for most failures), else NULL; it is valid until the
 * next verification.  *prefix_len is the length of the token's prefix when
 * its shape was checked -- always when it is well formed and names no key --
 * else 0.
 *
 * The order of the work matters on the hot path: the digest is computed
 * and looked up first, because a cached key proves the token well formed
 * (the digest of a malformed token is never cached).  Only before a table
 * read is the shape and checksum checked, so MALFORMED still never touches
 * a table.
 */
AkCode
ak_verify_token(text *token, text *scope, inet *client_ip, int64 now_us,
				const AkKeyInfo **key, size_t *prefix_len)
{
	const char *tok;
	size_t		len;
	uint8		digest[AK_DIGEST_LEN];
	const AkKeyInfo *k;
	AkCode		code;

	*key = NULL;
	*prefix_len = 0;
	if (token == NULL)
		return AK_CODE_MALFORMED;
	len = VARSIZE_ANY_EXHDR(token);
	tok = VARDATA_ANY(token);
	if (len == 0 || len > AK_TOKEN_MAX_LEN)
		return AK_CODE_MALFORMED;

	ak_digest(tok, len, digest);
	k = ak_static_key_lookup(digest);
	if (k == NULL && !ak_keycache_probe(digest, &k))
	{
		if (!ak_token_is_well_formed(tok, len, prefix_len))
			return AK_CODE_MALFORMED;
		k = ak_keycache_fill(digest);
	}

	if (k == NULL)
	{
		/* a cached "no such key" skipped the shape check: the prefix is needed */
		if (*prefix_len == 0)
			(void) ak_token_is_well_formed(tok, len, prefix_len);
		return AK_CODE_NOT_FOUND;
	}
	*key = k;

	code = ak_key_status(k, now_us);
	if (code != AK_CODE_VALID)
		return code;
	if (!ak_ip_allowed(k, client_ip))
		return AK_CODE_IP_NOT_ALLOWED;
	if (!ak_scope_granted(k->scopes, k->nscopes, scope ? VARDATA_ANY(scope) : NULL,
						  scope ? VARSIZE_ANY_EXHDR(scope) : 0))
		return AK_CODE_INSUFFICIENT_SCOPE;
	return AK_CODE_VALID;
}
