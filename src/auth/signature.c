/*-------------------------------------------------------------------------
 *
 * signature.c
 *	  Signed requests (doc/authentication.md, "Request signing").
 *
 * The signature is the lower-case hexadecimal HMAC-SHA-256, keyed with
 * the text of the key's signing secret (core/signkey.c), of
 *
 *	  METHOD "\n" path "\n" ts "\n" body_sha256 [ "\n" nonce ]
 *
 * where METHOD is in upper case, ts is Unix seconds in decimal and
 * body_sha256 the lower-case hexadecimal SHA-256 of the body (of an empty
 * body if there is none).  The fields are kept apart by the newlines: the
 * method is letters, the path may hold no newline, ts digits, body_sha256
 * hexadecimal, so no two requests sign the same text.
 *
 * The decision, in order, each step only once the previous one passed:
 *	  SIGNATURE_INVALID  the signature is not the HMAC under any root
 *						 (compared in constant time);
 *	  SIGNATURE_EXPIRED  ts is more than apikey.signature_max_skew away;
 *	  REPLAYED			 the nonce was seen for this key within the window;
 *	  NONCE_STORE_UNAVAILABLE  the nonce store cannot vouch for the nonce.
 * A nonce is remembered only once the signature is proven, so that no one
 * without the secret can spend another's nonces or fill the store.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include <sodium.h>

#include "auth/keycache.h"
#include "auth/nonces.h"
#include "auth/signature.h"
#include "auth/token.h"
#include "auth/verify.h"
#include "catalog/pg_type_d.h"
#include "core/guc.h"
#include "core/signkey.h"
#include "core/spi.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "usage/events.h"
#include "utils/builtins.h"

/* Unix time of PostgreSQL's epoch, 2000-01-01 */
#define AK_UNIX_TO_PG_SECONDS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)
/* beyond this, a timestamp is far out of any window (and of int64 in us) */
#define AK_MAX_UNIX_SECONDS		INT64CONST(100000000000)

/* Signing needs its root secrets: without them it is a configuration error. */
void
ak_require_signing(void)
{
	if (ak_signing_root_count() == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("request signing is not configured"),
				 errdetail("apikey.signing_key_file is not set: there is no root secret to derive signing secrets from."),
				 errhint("Create a file with: openssl rand -hex 32, chmod 0600, and set apikey.signing_key_file to it (server restart)."),
				 errhidestmt(true)));
}

static bool
ak_all_chars(const char *s, size_t len, bool (*ok) (unsigned char))
{
	for (size_t i = 0; i < len; i++)
		if (!ok((unsigned char) s[i]))
			return false;
	return true;
}

static bool
ak_is_letter(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool
ak_is_path_char(unsigned char c)
{
	return c != '\n' && c != '\r' && c != '\0';
}

static bool
ak_is_lower_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool
ak_is_nonce_char(unsigned char c)
{
	return c > ' ' && c < 0x7f;
}

/*
 * What is wrong with the signed fields of a request, as a sentence, with
 * *what naming the field; NULL when nothing is.  The signature itself is
 * not judged here: a bad one is SIGNATURE_INVALID.
 */
const char *
ak_signed_request_problem(const AkSignedRequest *r, const char **what)
{
	*what = "method";
	if (r->method_len == 0 || r->method_len > AK_SIGNED_METHOD_MAX ||
		!ak_all_chars(r->method, r->method_len, ak_is_letter))
		return "The method is 1 to 16 letters, such as GET or POST.";
	*what = "path";
	if (r->path_len == 0 || r->path_len > AK_SIGNED_PATH_MAX ||
		!ak_all_chars(r->path, r->path_len, ak_is_path_char))
		return "The path is 1 to 2048 bytes without a newline.";
	*what = "body_sha256";
	if (r->body_len != AK_BODY_SHA256_LEN ||
		!ak_all_chars(r->body_sha256, r->body_len, ak_is_lower_hex))
		return "The body's digest is the SHA-256 of the body in 64 lower-case hexadecimal digits.";
	*what = "nonce";
	if (r->nonce != NULL &&
		(r->nonce_len == 0 || r->nonce_len > AK_SIGNED_NONCE_MAX ||
		 !ak_all_chars(r->nonce, r->nonce_len, ak_is_nonce_char)))
		return "A nonce is 1 to 128 printable ASCII characters, without spaces.";
	*what = NULL;
	return NULL;
}

/* The text the signature covers. */
static void
ak_signed_text(StringInfo buf, const AkSignedRequest *r)
{
	for (size_t i = 0; i < r->method_len; i++)
		appendStringInfoChar(buf, pg_toupper((unsigned char) r->method[i]));
	appendStringInfoChar(buf, '\n');
	appendBinaryStringInfo(buf, r->path, r->path_len);
	appendStringInfo(buf, "\n" INT64_FORMAT "\n", r->ts);
	appendBinaryStringInfo(buf, r->body_sha256, r->body_len);
	if (r->nonce != NULL)
	{
		appendStringInfoChar(buf, '\n');
		appendBinaryStringInfo(buf, r->nonce, r->nonce_len);
	}
}

/*
 * Whether the signature is the HMAC of the text under the key's secret of
 * some root.  Every root is tried, whatever matched: the time taken does
 * not depend on the signature.
 */
static bool
ak_signature_matches(const pg_uuid_t *key_id, const AkSignedRequest *r)
{
	unsigned char given[crypto_auth_hmacsha256_BYTES];
	size_t		decoded = 0;
	StringInfoData text;
	bool		match = false;

	if (r->signature == NULL || r->signature_len != AK_SIGNATURE_HEX_LEN ||
		sodium_hex2bin(given, sizeof(given), r->signature, r->signature_len,
					   NULL, &decoded, NULL) != 0 || decoded != sizeof(given))
		return false;

	initStringInfo(&text);
	ak_signed_text(&text, r);
	for (int root = 0; root < ak_signing_root_count(); root++)
	{
		char		secret[AK_SIGNING_SECRET_LEN + 1];
		unsigned char mac[crypto_auth_hmacsha256_BYTES];
		crypto_auth_hmacsha256_state state;

		ak_signing_secret(key_id, root, secret);
		crypto_auth_hmacsha256_init(&state, (unsigned char *) secret, AK_SIGNING_SECRET_LEN);
		crypto_auth_hmacsha256_update(&state, (unsigned char *) text.data, text.len);
		crypto_auth_hmacsha256_final(&state, mac);
		match |= (crypto_verify_32(mac, given) == 0);
		sodium_memzero(&state, sizeof(state));
		sodium_memzero(secret, sizeof(secret));
	}
	pfree(text.data);
	return match;
}

/*
 * The decision on a request signed for key_id, at now_us (apikey's
 * clock).  The fields must have passed ak_signed_request_problem.  For
 * NONCE_STORE_UNAVAILABLE, *retry_after_us says when to try again.
 */
AkCode
ak_signature_check(const pg_uuid_t *key_id, const AkSignedRequest *r, int64 now_us,
				   int64 *retry_after_us)
{
	int64		skew_us = (int64) ak_signature_max_skew * USECS_PER_SEC;
	int64		ts_us;

	*retry_after_us = 0;
	if (!ak_signature_matches(key_id, r))
		return AK_CODE_SIGNATURE_INVALID;
	if (r->ts < 0 || r->ts > AK_MAX_UNIX_SECONDS)
		return AK_CODE_SIGNATURE_EXPIRED;
	ts_us = (r->ts - AK_UNIX_TO_PG_SECONDS) * USECS_PER_SEC;
	if (ts_us < now_us - skew_us || ts_us > now_us + skew_us)
		return AK_CODE_SIGNATURE_EXPIRED;
	if (r->nonce == NULL)
		return AK_CODE_VALID;

	switch (ak_nonce_remember(key_id, r->nonce, r->nonce_len, ts_us, now_us,
							  retry_after_us))
	{
		case AK_NONCE_NEW:
			return AK_CODE_VALID;
		case AK_NONCE_SEEN:
			return AK_CODE_REPLAYED;
		case AK_NONCE_FULL:
		case AK_NONCE_UNSURE:
			return AK_CODE_NONCE_STORE_UNAVAILABLE;
	}
	return AK_CODE_NONCE_STORE_UNAVAILABLE; /* keep compiler quiet */
}

/* Whether s is a uuid in its canonical text form (lower or upper case). */
static bool
ak_is_uuid_text(const char *s, size_t len)
{
	if (len != 36)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		bool		dash = (i == 8 || i == 13 || i == 18 || i == 23);

		if (dash ? s[i] != '-' : !isxdigit((unsigned char) s[i]))
			return false;
	}
	return true;
}

/* The id of the key with this display prefix, through SPI; false if none. */
static bool
ak_key_id_by_prefix(const char *prefix, size_t len, pg_uuid_t *id)
{
	AkParams	p = {0};
	bool		found = false;

	ak_param(&p, TEXTOID, PointerGetDatum(cstring_to_text_with_len(prefix, len)), false);
	SPI_connect();
	if (ak_spi_exec("SELECT id FROM apikey.keys WHERE prefix OPERATOR(pg_catalog.=) $1",
					&p, SPI_OK_SELECT) == 1)
	{
		bool		isnull;

		*id = *DatumGetUUIDP(ak_spi_value(0, 1, &isnull));
		found = true;
	}
	SPI_finish();
	return found;
}

/* Whether s has the shape of a display prefix: <prefix>_ and 8 base62. */
static bool
ak_is_display_prefix(const char *s, size_t len)
{
	size_t		plen;

	if (len < 1 + 1 + AK_DISPLAY_BODY_LEN || len > AK_DISPLAY_MAX_LEN)
		return false;
	plen = len - 1 - AK_DISPLAY_BODY_LEN;
	if (s[plen] != '_' || !ak_prefix_is_valid(s, plen))
		return false;
	for (size_t i = plen + 1; i < len; i++)
		if (!isalnum((unsigned char) s[i]))
			return false;
	return true;
}

/*
 * The key a signed request names -- by id or by display prefix -- and its
 * own code at now_us: MALFORMED (neither form), NOT_FOUND, REVOKED,
 * EXPIRED or VALID.  NULL when there is no such key.  Reads apikey.keys
 * by prefix through SPI: the caller is SECURITY DEFINER.
 */
const AkKeyInfo *
ak_signature_key(text *key, int64 now_us, AkCode *code)
{
	const char *s = key ? VARDATA_ANY(key) : NULL;
	size_t		len = key ? VARSIZE_ANY_EXHDR(key) : 0;
	pg_uuid_t	id;
	const AkKeyInfo *info;

	*code = AK_CODE_MALFORMED;
	if (s != NULL && ak_is_uuid_text(s, len))
		id = *DatumGetUUIDP(DirectFunctionCall1(uuid_in,
												CStringGetDatum(pnstrdup(s, len))));
	else if (s == NULL || !ak_is_display_prefix(s, len))
		return NULL;
	else if (!ak_key_id_by_prefix(s, len, &id))
	{
		*code = AK_CODE_NOT_FOUND;
		return NULL;
	}

	info = ak_keycache_lookup_id(&id);
	*code = info ? ak_key_status(info, now_us) : AK_CODE_NOT_FOUND;
	return info;
}

/* A refused signature is an access event, as a refused key is. */
void
ak_signature_denied(AkCode code, const AkKeyInfo *key, inet *client_ip)
{
	ak_event_denied(code, key && key->stored ? &key->id : NULL, client_ip,
					key ? key->display_prefix : NULL,
					key ? strlen(key->display_prefix) : 0);
}
