/*-------------------------------------------------------------------------
 *
 * exchange.c
 *	  apikey.exchange(): trades a key for an HS256 JWT signed with
 *	  apikey.jwt_secret (PostgREST's secret), with the claims sub (owner),
 *	  role (the key's jwt_role, else apikey.jwt_role), key_id, scopes, iat
 *	  and exp.  HMAC-SHA-256 is libsodium's.
 *
 * An exchange is a request of the key: it is charged as check() charges
 * one (cost 1: the key's limits, concurrency and quotas, by the limiter
 * itself), counted in usage, and refused with the limiter's code -- a key
 * out of quota or rate-limited gets no JWT.  The role claim is checked
 * first (postgrest/jwtrole.c), so that a refusal for it charges nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include <sodium.h>

#include "catalog/pg_type_d.h"
#include "core/clock.h"
#include "core/guc.h"
#include "core/request.h"
#include "core/secret.h"
#include "core/secretsource.h"
#include "core/spi.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "limit/admission.h"
#include "limit/headers.h"
#include "limit/limiter.h"
#include "postgrest/exchange.h"
#include "postgrest/jwtrole.h"
#include "postgrest/refusal.h"
#include "usage/record.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"


static char *
ak_base64url(const unsigned char *data, size_t len)
{
	size_t		size = sodium_base64_encoded_len(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char	   *out = palloc(size);

	sodium_bin2base64(out, size, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return out;
}

/* The key's jwt_role column, read as the extension's owner; NULL if none. */
static char *
ak_key_jwt_role(const AkKeyInfo *key)
{
	MemoryContext cxt = CurrentMemoryContext;
	AkParams	p = {0};
	char	   *role = NULL;

	if (!key->stored)
		return NULL;
	ak_param(&p, UUIDOID, UUIDPGetDatum(&key->id), false);
	SPI_connect();
	if (ak_spi_exec("SELECT jwt_role FROM apikey.keys WHERE id OPERATOR(pg_catalog.=) $1",
					&p, SPI_OK_SELECT) == 1)
	{
		bool		isnull;
		Datum		value = ak_spi_value(0, 1, &isnull);

		if (!isnull)
			role = MemoryContextStrdup(cxt, TextDatumGetCString(value));
	}
	SPI_finish();
	return role;
}

/* The claims of the JWT minted for a key. */
static char *
ak_jwt_claims(const AkKeyInfo *key, const char *role, int64 iat, int64 exp)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"sub\":");
	escape_json(&buf, text_to_cstring(key->owner));
	appendStringInfoString(&buf, ",\"role\":");
	escape_json(&buf, role);
	appendStringInfoString(&buf, ",\"key_id\":");
	escape_json(&buf, DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&key->id))));
	appendStringInfoString(&buf, ",\"scopes\":[");
	for (int i = 0; i < key->nscopes; i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		escape_json(&buf, key->scopes[i]);
	}
	appendStringInfo(&buf, "],\"iat\":" INT64_FORMAT ",\"exp\":" INT64_FORMAT "}", iat, exp);
	return buf.data;
}

/* The secret JWTs are signed with: apikey.jwt_secret_file's, else apikey.jwt_secret. */
static const char *
ak_jwt_signing_secret(void)
{
	const char *file_secret = ak_jwt_file_secret_get();

	return file_secret != NULL ? file_secret : ak_jwt_secret;
}

/* header.claims.signature, HS256 (HMAC-SHA-256 keyed by the JWT secret) */
static char *
ak_jwt_sign(const char *claims)
{
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	crypto_auth_hmacsha256_state state;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	const char *secret = ak_jwt_signing_secret();
	char	   *signing_input;

	signing_input = psprintf("%s.%s",
							 ak_base64url((const unsigned char *) header, strlen(header)),
							 ak_base64url((const unsigned char *) claims, strlen(claims)));
	crypto_auth_hmacsha256_init(&state, (const unsigned char *) secret,
								strlen(secret));
	crypto_auth_hmacsha256_update(&state, (const unsigned char *) signing_input,
								  strlen(signing_input));
	crypto_auth_hmacsha256_final(&state, mac);
	sodium_memzero(&state, sizeof(state));
	return psprintf("%s.%s", signing_input, ak_base64url(mac, sizeof(mac)));
}

/* The ttl argument: between 1 second and 30 days. */
int64
ak_exchange_ttl_us(const Interval *ttl)
{
	int64		ttl_us;

	if (ttl == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("invalid ttl: it must not be NULL")));
	ttl_us = ak_interval_to_us(ttl);
	if (ttl_us < USECS_PER_SEC || ttl_us > 30 * USECS_PER_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid ttl: it must be between 1 second and 30 days")));
	return ttl_us;
}

void
ak_require_jwt_secret(void)
{
	const char *secret = ak_jwt_signing_secret();

	if (secret == NULL || strlen(secret) < AK_JWT_MIN_SECRET)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("apikey.jwt_secret is not set, or shorter than %d characters",
						AK_JWT_MIN_SECRET),
				 errdetail("exchange() signs with the secret PostgREST verifies JWTs with."),
				 errhint("Set apikey.jwt_secret in postgresql.conf, or apikey.jwt_secret_file, to PostgREST's jwt-secret.")));
}

/*
 * The role claim for a key: its jwt_role, else apikey.jwt_role, checked
 * now (roles change).  A key's own role must still exist; the default, a
 * superuser's setting, may name a role that does not exist (PostgREST
 * refuses such a JWT), but not a privileged one.  The caller holds the
 * token path.
 */
static char *
ak_exchange_role(const AkKeyInfo *key)
{
	char	   *role = ak_key_jwt_role(key);
	bool		own = role != NULL;
	const char *problem;

	if (!own)
	{
		role = ak_jwt_role;
		if (!OidIsValid(get_role_oid(role, true)))
			return role;
	}
	problem = ak_jwt_role_problem(role);
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to mint a JWT for role \"%s\"", role),
				 errdetail("%s. %s", problem, ak_jwt_role_rule),
				 errhint(own ? "An admin sets the key's jwt_role to a role for requests."
						 : "Set apikey.jwt_role to a role for requests."),
				 errhidestmt(true)));
	return role;
}

/*
 * The key of a token (NULL if absent) that may have a JWT, verified at
 * now_us and charged as a request (cost 1), or the refusal raised as
 * check_request() raises it: a token that does not verify, a role claim
 * that may not be minted (checked first, so that it charges nothing), a
 * key its limits or quotas refuse.  The key's usage counts the exchange
 * either way.  The key is valid until the next verification.  The caller
 * holds the token path.
 */
const AkKeyInfo *
ak_exchange_key(text *token, int64 now_us)
{
	inet	   *client_ip = ak_request_client_ip();
	const AkKeyInfo *key;
	int64		blocked_until;
	AkCode		code;
	AkDecision	d;
	AkHeaders	h;

	code = ak_verify_request(token, NULL, client_ip, now_us, &key, &blocked_until, NULL);
	if (code != AK_CODE_VALID)
	{
		if (key != NULL && key->stored)
			ak_usage_request(&key->id, ak_codes[code].usage, 1);
		ak_refuse(code, NULL, code == AK_CODE_BLOCKED && blocked_until != DT_NOEND
				  ? blocked_until - now_us : -1,
				  NULL, token != NULL);
	}
	(void) ak_exchange_role(key);

	ak_limiter_admit(key, client_ip, 1, now_us, &d);
	if (key->stored)
		ak_usage_request(&key->id, d.usage, 1);
	if (!d.allowed)
	{
		ak_decision_headers(&d, &h);
		ak_refuse(d.code, d.report.nlimits > 0 || d.retry_after_us > 0 ? &h : NULL,
				  d.retry_after_us, NULL, true);
	}
	return key;
}

/*
 * Appends the members of a JWT for key, minted at now_us for ttl_us, to a
 * JSON object being built: "access_token", "token_type" and "expires_in".
 * The JWT never outlives the key: exp is at most the key's expires_at; its
 * role claim is checked now (roles change).
 */
void
ak_exchange_mint(const AkKeyInfo *key, int64 ttl_us, int64 now_us, StringInfo out)
{
	char	   *role = ak_exchange_role(key);
	int64		exp_us = now_us + ttl_us;
	int64		iat;
	int64		exp;

	if (key->expires_at != DT_NOEND && key->expires_at < exp_us)
		exp_us = key->expires_at;
	iat = ak_unix_seconds_ceil(now_us - USECS_PER_SEC + 1);
	exp = ak_unix_seconds_ceil(exp_us - USECS_PER_SEC + 1);

	appendStringInfoString(out, "\"access_token\":");
	escape_json(out, ak_jwt_sign(ak_jwt_claims(key, role, iat, exp)));
	appendStringInfo(out, ",\"token_type\":\"bearer\",\"expires_in\":" INT64_FORMAT,
					 exp - iat);
}

/*
 * Trades a token (NULL if absent) for {"access_token": <JWT>, "token_type":
 * "bearer", "expires_in": <s>} (ak_exchange_key, ak_exchange_mint).  The
 * caller holds the token path.
 */
Jsonb *
ak_exchange(text *token, const Interval *ttl)
{
	int64		ttl_us = ak_exchange_ttl_us(ttl);
	int64		now_us;
	const AkKeyInfo *key;
	StringInfoData result;

	ak_require_jwt_secret();
	now_us = ak_now_us();
	key = ak_exchange_key(token, now_us);

	initStringInfo(&result);
	appendStringInfoChar(&result, '{');
	ak_exchange_mint(key, ttl_us, now_us, &result);
	appendStringInfoChar(&result, '}');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(result.data)));
}
