/*-------------------------------------------------------------------------
 *
 * exchange.c
 *	  apikey.exchange(): trades a key for an HS256 JWT signed with
 *	  apikey.jwt_secret (PostgREST's secret), with the claims sub (owner),
 *	  role (the key's jwt_role, else apikey.jwt_role), key_id, scopes, iat
 *	  and exp.  HMAC-SHA-256 is libsodium's.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include <sodium.h>

#include "catalog/pg_type_d.h"
#include "core/clock.h"
#include "core/guc.h"
#include "core/request.h"
#include "core/spi.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "limit/admission.h"
#include "limit/headers.h"
#include "postgrest/exchange.h"
#include "postgrest/refusal.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"

#define AK_JWT_MIN_SECRET	32	/* PostgREST refuses shorter secrets */

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

/* header.claims.signature, HS256 (HMAC-SHA-256 keyed by apikey.jwt_secret) */
static char *
ak_jwt_sign(const char *claims)
{
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	crypto_auth_hmacsha256_state state;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	char	   *signing_input;

	signing_input = psprintf("%s.%s",
							 ak_base64url((const unsigned char *) header, strlen(header)),
							 ak_base64url((const unsigned char *) claims, strlen(claims)));
	crypto_auth_hmacsha256_init(&state, (const unsigned char *) ak_jwt_secret,
								strlen(ak_jwt_secret));
	crypto_auth_hmacsha256_update(&state, (const unsigned char *) signing_input,
								  strlen(signing_input));
	crypto_auth_hmacsha256_final(&state, mac);
	sodium_memzero(&state, sizeof(state));
	return psprintf("%s.%s", signing_input, ak_base64url(mac, sizeof(mac)));
}

/* The ttl argument: between 1 second and 30 days. */
static int64
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

static void
ak_require_jwt_secret(void)
{
	if (ak_jwt_secret == NULL || strlen(ak_jwt_secret) < AK_JWT_MIN_SECRET)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("apikey.jwt_secret is not set, or shorter than %d characters",
						AK_JWT_MIN_SECRET),
				 errdetail("exchange() signs with the secret PostgREST verifies JWTs with."),
				 errhint("Set apikey.jwt_secret in postgresql.conf to PostgREST's jwt-secret.")));
}

/*
 * Trades a token (NULL if absent) for {"access_token": <JWT>, "token_type":
 * "bearer", "expires_in": <s>}.  The JWT never outlives the key: exp is at
 * most the key's expires_at.  A token that does not verify is refused as
 * check_request() refuses.  The caller holds the token path.
 */
Jsonb *
ak_exchange(text *token, const Interval *ttl)
{
	int64		ttl_us = ak_exchange_ttl_us(ttl);
	int64		now_us;
	int64		exp_us;
	int64		iat;
	int64		exp;
	const AkKeyInfo *key;
	int64		blocked_until;
	AkCode		code;
	char	   *role;
	StringInfoData result;

	ak_require_jwt_secret();
	now_us = ak_now_us();
	code = ak_verify_request(token, NULL, ak_request_client_ip(), now_us, &key,
							 &blocked_until, NULL);
	if (code != AK_CODE_VALID)
		ak_refuse(code, NULL, code == AK_CODE_BLOCKED && blocked_until != DT_NOEND
				  ? blocked_until - now_us : -1,
				  NULL, token != NULL);

	role = ak_key_jwt_role(key);
	if (role == NULL)
		role = ak_jwt_role;
	exp_us = now_us + ttl_us;
	if (key->expires_at != DT_NOEND && key->expires_at < exp_us)
		exp_us = key->expires_at;
	iat = ak_unix_seconds_ceil(now_us - USECS_PER_SEC + 1);
	exp = ak_unix_seconds_ceil(exp_us - USECS_PER_SEC + 1);

	initStringInfo(&result);
	appendStringInfoString(&result, "{\"access_token\":");
	escape_json(&result, ak_jwt_sign(ak_jwt_claims(key, role, iat, exp)));
	appendStringInfo(&result, ",\"token_type\":\"bearer\",\"expires_in\":" INT64_FORMAT "}",
					 exp - iat);
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(result.data)));
}
