/*-------------------------------------------------------------------------
 *
 * refresh.c
 *	  Refresh tokens (doc/authentication.md, "Refresh tokens"): what
 *	  exchange(token, ttl, refresh => true) returns besides the access
 *	  token, and what refresh() trades for a new pair.
 *
 * A refresh token has the token format (auth/token.c) with the prefix
 * "ak_refresh", so a mistyped one is refused without a lookup and secret
 * scanners recognise it; only its digest is stored, in
 * apikey.refresh_tokens.  Each is good for one refresh: refresh() marks it
 * used and returns its successor, of the same family.  A used token
 * presented again means two parties hold the family -- one of them a
 * thief -- so, as OAuth's reuse detection does, the whole family is
 * revoked and REFRESH_REUSED answered.
 *
 * refresh() does not raise for a refused token: it returns the error as a
 * JSON object (and, in a PostgREST request, sets response.status), because
 * an error would roll back the revocation of the family it has to write.
 *
 * A token works while it is unused, unrevoked, within
 * apikey.refresh_token_ttl of its issue (and of its key's expires_at),
 * and while its key still verifies: revoking the key ends every session
 * of the key at once, with no write here.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include <sodium.h>

#include "auth/keycache.h"
#include "auth/token.h"
#include "auth/verify.h"
#include "catalog/pg_type_d.h"
#include "core/clock.h"
#include "core/guc.h"
#include "core/json.h"
#include "core/request.h"
#include "core/spi.h"
#include "executor/spi.h"
#include "lifecycle/audit.h"
#include "lifecycle/keys.h"
#include "lifecycle/refresh.h"
#include "postgrest/exchange.h"
#include "postgrest/response.h"
#include "usage/events.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/timestamp.h"

#define AK_REFRESH_TOKEN_SIZE	(sizeof(AK_REFRESH_PREFIX) + AK_BODY_LEN + 1)

/* A row of apikey.refresh_tokens, as refresh() reads it. */
typedef struct AkRefreshRow
{
	pg_uuid_t	id;
	pg_uuid_t	family_id;
	pg_uuid_t	key_id;
	int64		access_ttl_us;
	TimestampTz expires_at;
	bool		used;
	bool		revoked;
} AkRefreshRow;

/* A new refresh token in out; its digest in digest. */
static void
ak_refresh_token_new(char *out, uint8 *digest)
{
	ak_token_generate(AK_REFRESH_PREFIX, strlen(AK_REFRESH_PREFIX), out);
	ak_digest(out, strlen(out), digest);
}

static Datum
ak_digest_datum(const uint8 *digest)
{
	bytea	   *value = palloc(VARHDRSZ + AK_DIGEST_LEN);

	SET_VARSIZE(value, VARHDRSZ + AK_DIGEST_LEN);
	memcpy(VARDATA(value), digest, AK_DIGEST_LEN);
	return PointerGetDatum(value);
}

/*
 * Stores a new refresh token for key_id, in family (NULL: a new family),
 * minting the token into out; returns its lifetime in seconds.  Requires
 * an SPI connection.
 */
static int64
ak_refresh_store(const AkKeyInfo *key, const pg_uuid_t *family, int64 access_ttl_us,
				 int64 now_us, char *out)
{
	uint8		digest[AK_DIGEST_LEN];
	int64		expires_us = now_us + (int64) ak_refresh_token_ttl * USECS_PER_SEC;
	AkParams	p = {0};
	Interval   *ttl = palloc0(sizeof(Interval));

	if (key->expires_at != DT_NOEND && key->expires_at < expires_us)
		expires_us = key->expires_at;
	ttl->time = access_ttl_us;
	ak_refresh_token_new(out, digest);
	ak_param_ptr(&p, UUIDOID, family);
	ak_param(&p, UUIDOID, UUIDPGetDatum(&key->id), false);
	ak_param(&p, BYTEAOID, ak_digest_datum(digest), false);
	ak_param(&p, INTERVALOID, IntervalPGetDatum(ttl), false);
	ak_param(&p, TIMESTAMPTZOID, TimestampTzGetDatum(expires_us), false);
	ak_spi_exec("INSERT INTO apikey.refresh_tokens"
				" (family_id, key_id, token_hash, access_ttl, expires_at)"
				" VALUES (coalesce($1, pg_catalog.gen_random_uuid()), $2, $3, $4, $5)",
				&p, SPI_OK_INSERT);
	return ak_seconds_ceil(expires_us - now_us);
}

/* The pair: an access token for key, and refresh token with its lifetime. */
static Jsonb *
ak_refresh_pair(const AkKeyInfo *key, int64 access_ttl_us, int64 now_us,
				const char *refresh_token, int64 refresh_s)
{
	StringInfoData result;
	Jsonb	   *pair;

	initStringInfo(&result);
	appendStringInfoChar(&result, '{');
	ak_exchange_mint(key, access_ttl_us, now_us, &result);
	appendStringInfoString(&result, ",\"refresh_token\":");
	escape_json(&result, refresh_token);
	appendStringInfo(&result, ",\"refresh_expires_in\":" INT64_FORMAT "}", refresh_s);
	pair = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(result.data)));
	sodium_memzero(result.data, result.len);
	return pair;
}

/* Removes a few refresh tokens past their expiry.  Requires SPI. */
static void
ak_refresh_purge(void)
{
	ak_spi_exec("DELETE FROM apikey.refresh_tokens WHERE id IN"
				" (SELECT id FROM apikey.refresh_tokens"
				"  WHERE expires_at < pg_catalog.now() LIMIT 100)", NULL, AK_SPI_ANY);
}

/*
 * exchange(token, ttl, refresh => true): the access token, and the first
 * refresh token of a new family.  The caller holds the token path.
 */
Jsonb *
ak_refresh_exchange(text *token, const Interval *ttl)
{
	int64		ttl_us = ak_exchange_ttl_us(ttl);
	int64		now_us;
	const AkKeyInfo *key;
	char		refresh_token[AK_REFRESH_TOKEN_SIZE];
	int64		refresh_s;
	Jsonb	   *pair;

	ak_require_jwt_secret();
	now_us = ak_now_us();
	key = ak_exchange_key(token, now_us);
	if (!key->stored)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a static development key has no refresh tokens"),
				 errhint("Call exchange() without refresh."),
				 errhidestmt(true)));
	SPI_connect();
	ak_refresh_purge();
	refresh_s = ak_refresh_store(key, NULL, ttl_us, now_us, refresh_token);
	SPI_finish();
	pair = ak_refresh_pair(key, ttl_us, now_us, refresh_token, refresh_s);
	sodium_memzero(refresh_token, sizeof(refresh_token));
	return pair;
}


/* ---- refresh() ---- */

/* Reads the row of a refresh token, locked; false if there is none. */
static bool
ak_refresh_lookup(const uint8 *digest, AkRefreshRow *row)
{
	AkParams	p = {0};
	bool		isnull;

	ak_param(&p, BYTEAOID, ak_digest_datum(digest), false);
	if (ak_spi_exec("SELECT id, family_id, key_id, access_ttl, expires_at,"
					"  used_at IS NOT NULL, revoked_at IS NOT NULL"
					" FROM apikey.refresh_tokens WHERE token_hash = $1 FOR UPDATE",
					&p, SPI_OK_SELECT) == 0)
		return false;
	row->id = *DatumGetUUIDP(ak_spi_value(0, 1, &isnull));
	row->family_id = *DatumGetUUIDP(ak_spi_value(0, 2, &isnull));
	row->key_id = *DatumGetUUIDP(ak_spi_value(0, 3, &isnull));
	row->access_ttl_us = ak_interval_to_us(DatumGetIntervalP(ak_spi_value(0, 4, &isnull)));
	row->expires_at = DatumGetTimestampTz(ak_spi_value(0, 5, &isnull));
	row->used = DatumGetBool(ak_spi_value(0, 6, &isnull));
	row->revoked = DatumGetBool(ak_spi_value(0, 7, &isnull));
	return true;
}

/* Revokes every live token of a family; how many.  Requires SPI. */
static uint64
ak_refresh_revoke_rows(const char *column, const pg_uuid_t *id, const char *reason)
{
	AkParams	p = {0};
	char	   *sql = psprintf("UPDATE apikey.refresh_tokens"
							   " SET revoked_at = pg_catalog.now(), revoke_reason = $2"
							   " WHERE %s = $1 AND revoked_at IS NULL", column);

	ak_param(&p, UUIDOID, UUIDPGetDatum(id), false);
	ak_param(&p, TEXTOID, CStringGetTextDatum(reason), false);
	return ak_spi_exec(sql, &p, SPI_OK_UPDATE);
}

/* A used token came back: its family is revoked, and that is audited. */
static void
ak_refresh_reused(const AkRefreshRow *row, const char *display)
{
	const AkKeyInfo *key = ak_keycache_lookup_id(&row->key_id);
	uint64		revoked = ak_refresh_revoke_rows("family_id", &row->family_id, "reused");
	AkJsonObject detail = {0};

	ak_json_add_string(&detail, "family_id", ak_uuid_text(&row->family_id));
	ak_json_add_string(&detail, "refresh_token", display);
	ak_json_add_raw(&detail, "revoked", psprintf(UINT64_FORMAT, revoked));
	ak_audit("refresh_reuse", &row->key_id, key ? key->owner : NULL,
			 ak_json_finish(&detail));
}

/*
 * The code of a refresh token's row at now_us: REVOKED, REFRESH_REUSED
 * (after revoking the family), EXPIRED, or its key's own code; *key is its
 * key when that verifies.
 */
static AkCode
ak_refresh_row_code(const AkRefreshRow *row, const char *display, int64 now_us,
					const AkKeyInfo **key)
{
	*key = NULL;
	if (row->revoked)
		return AK_CODE_REVOKED;
	if (row->used)
	{
		ak_refresh_reused(row, display);
		return AK_CODE_REFRESH_REUSED;
	}
	if (row->expires_at <= now_us)
		return AK_CODE_EXPIRED;
	*key = ak_keycache_lookup_id(&row->key_id);
	if (*key == NULL)
		return AK_CODE_REVOKED;
	return ak_key_admits(*key, ak_request_client_ip(), now_us);
}

/* What a refused refresh says, for people. */
static const char *
ak_refresh_message(AkCode code)
{
	switch (code)
	{
		case AK_CODE_MALFORMED:
		case AK_CODE_NOT_FOUND:
			return "Invalid refresh token";
		case AK_CODE_REVOKED:
			return "Refresh token revoked";
		case AK_CODE_EXPIRED:
			return "Refresh token expired";
		default:
			return ak_codes[code].message;
	}
}

/*
 * A refused refresh: an access event, response.status in PostgREST, and
 * the error as PostgREST's error body is, {code, message, details, hint}.
 */
static Jsonb *
ak_refresh_refused(AkCode code, const pg_uuid_t *key_id, const char *display)
{
	AkJsonObject body = {0};
	int			status = ak_code_status(code);

	ak_event_denied(code, key_id, ak_request_client_ip(), display,
					display ? strlen(display) : 0);
	ak_set_response_status(status);
	ak_json_add_string(&body, "code", psprintf("AK%d", status));
	ak_json_add_string(&body, "message", ak_refresh_message(code));
	ak_json_add_string(&body, "details", ak_code_name(code));
	ak_json_add_string(&body, "hint",
					   code == AK_CODE_REFRESH_REUSED
					   ? "Every refresh token of this session is revoked: exchange the API key again."
					   : "Exchange the API key again.");
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
											  CStringGetDatum(ak_json_finish(&body))));
}

/* The display prefix of a well-formed refresh token (it names it in logs). */
static bool
ak_refresh_token_display(text *token, char *display)
{
	size_t		prefix_len;
	size_t		len = token ? VARSIZE_ANY_EXHDR(token) : 0;

	if (token == NULL || !ak_token_is_well_formed(VARDATA_ANY(token), len, &prefix_len) ||
		prefix_len != strlen(AK_REFRESH_PREFIX) ||
		memcmp(VARDATA_ANY(token), AK_REFRESH_PREFIX, prefix_len) != 0)
		return false;
	memcpy(display, VARDATA_ANY(token), prefix_len + 1 + AK_DISPLAY_BODY_LEN);
	display[prefix_len + 1 + AK_DISPLAY_BODY_LEN] = '\0';
	return true;
}

/*
 * refresh(): a new access token and a new refresh token, for a refresh
 * token that is good; the old one is used up.  A refusal is returned, not
 * raised.  The caller holds the token path.
 */
Jsonb *
ak_refresh(text *refresh_token)
{
	char		display[AK_DISPLAY_MAX_LEN + 1];
	char		next[AK_REFRESH_TOKEN_SIZE];
	uint8		digest[AK_DIGEST_LEN];
	int64		now_us = ak_now_us();
	AkRefreshRow row;
	const AkKeyInfo *key;
	AkCode		code;
	AkParams	p = {0};
	int64		refresh_s;

	ak_require_jwt_secret();
	if (!ak_refresh_token_display(refresh_token, display))
		return ak_refresh_refused(AK_CODE_MALFORMED, NULL, NULL);
	ak_digest(VARDATA_ANY(refresh_token), VARSIZE_ANY_EXHDR(refresh_token), digest);

	SPI_connect();
	code = ak_refresh_lookup(digest, &row)
		? ak_refresh_row_code(&row, display, now_us, &key) : AK_CODE_NOT_FOUND;
	if (code != AK_CODE_VALID)
	{
		SPI_finish();
		return ak_refresh_refused(code, code == AK_CODE_NOT_FOUND ? NULL : &row.key_id,
								  display);
	}
	ak_param(&p, UUIDOID, UUIDPGetDatum(&row.id), false);
	ak_spi_exec("UPDATE apikey.refresh_tokens SET used_at = pg_catalog.now() WHERE id = $1",
				&p, SPI_OK_UPDATE);
	refresh_s = ak_refresh_store(key, &row.family_id, row.access_ttl_us, now_us, next);
	SPI_finish();
	return ak_refresh_pair(key, row.access_ttl_us, now_us, next, refresh_s);
}

/*
 * For a leak report: revokes the family of the refresh token with this
 * digest, if there is one (false otherwise); *was_live tells whether any
 * of its tokens still worked.  Requires an SPI connection.
 */
bool
ak_refresh_family_revoke(const uint8 *digest, const char *reason, pg_uuid_t *key_id,
						 bool *was_live)
{
	AkRefreshRow row;

	if (!ak_refresh_lookup(digest, &row))
		return false;
	*key_id = row.key_id;
	*was_live = ak_refresh_revoke_rows("family_id", &row.family_id, reason) > 0;
	return true;
}
