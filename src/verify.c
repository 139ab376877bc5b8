/*-------------------------------------------------------------------------
 *
 * verify.c
 *	  The verification decision (contract §5) and apikey.verify().
 *
 * Codes, in order of precedence: MALFORMED (shape, checksum, length,
 * NULL or empty: decided without any table), NOT_FOUND, REVOKED, EXPIRED,
 * BLOCKED, IP_NOT_ALLOWED, INSUFFICIENT_SCOPE; else VALID.
 *
 * verify() never raises for a bad token: it returns a code, so that the
 * statement carrying the token is never copied into the server log by
 * log_min_error_statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "access/detoast.h"
#include "access/htup_details.h"
#include "catalog/pg_type_d.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "apikey.h"

const char *const ak_code_names[] = {
	[AK_CODE_VALID] = "VALID",
	[AK_CODE_MALFORMED] = "MALFORMED",
	[AK_CODE_NOT_FOUND] = "NOT_FOUND",
	[AK_CODE_REVOKED] = "REVOKED",
	[AK_CODE_EXPIRED] = "EXPIRED",
	[AK_CODE_BLOCKED] = "BLOCKED",
	[AK_CODE_IP_NOT_ALLOWED] = "IP_NOT_ALLOWED",
	[AK_CODE_INSUFFICIENT_SCOPE] = "INSUFFICIENT_SCOPE",
};

const int	ak_code_status[] = {
	[AK_CODE_VALID] = 200,
	[AK_CODE_MALFORMED] = 401,
	[AK_CODE_NOT_FOUND] = 401,
	[AK_CODE_REVOKED] = 401,
	[AK_CODE_EXPIRED] = 401,
	[AK_CODE_BLOCKED] = 429,
	[AK_CODE_IP_NOT_ALLOWED] = 403,
	[AK_CODE_INSUFFICIENT_SCOPE] = 403,
};

PG_FUNCTION_INFO_V1(apikey_verify);

/*
 * Whether a key still works at "now", from its own columns only.  Must
 * agree with apikey._key_status() in the extension script:
 *	  revoked   revoked_at is set, and before expires_at if there is one
 *				(the worker stamps revoked_at = expires_at on expired keys,
 *				which keeps them EXPIRED);
 *	  expired   expires_at has passed -- REVOKED instead for a rotated key
 *				whose grace period (its expires_at) is over.
 */
AkCode
ak_key_state(const AkKeyInfo *key, TimestampTz now)
{
	bool		expires = key->expires_at != DT_NOEND;

	if (key->revoked_at != DT_NOEND &&
		(!expires || key->revoked_at < key->expires_at))
		return AK_CODE_REVOKED;
	if (expires && key->expires_at <= now)
		return key->rotated ? AK_CODE_REVOKED : AK_CODE_EXPIRED;
	return AK_CODE_VALID;
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
 * A key scope grants the requested scope if it is equal, "*", or
 * "<prefix>:*" and the requested scope starts with "<prefix>:".
 */
static bool
ak_scope_allowed(const AkKeyInfo *key, const char *scope, size_t len)
{
	if (scope == NULL || len == 0)
		return true;
	for (int i = 0; i < key->nscopes; i++)
	{
		const char *s = key->scopes[i];
		size_t		slen = strlen(s);

		if (slen == 1 && s[0] == '*')
			return true;
		if (slen == len && memcmp(s, scope, len) == 0)
			return true;
		if (slen >= 2 && s[slen - 1] == '*' && s[slen - 2] == ':' &&
			len > slen - 1 && memcmp(s, scope, slen - 1) == 0)
			return true;
	}
	return false;
}

/* The identity the static development key verifies as. */
static const AkKeyInfo *
ak_static_key_info(void)
{
	static AkKeyInfo *info = NULL;
	static char *owner_seen = NULL;
	const char *owner = ak_static_key_owner ? ak_static_key_owner : "";
	MemoryContext old;
	Datum		star;

	if (info != NULL && strcmp(owner_seen, owner) == 0)
		return info;

	old = MemoryContextSwitchTo(TopMemoryContext);
	if (info == NULL)
	{
		info = palloc0(sizeof(AkKeyInfo));
		info->expires_at = DT_NOEND;
		info->revoked_at = DT_NOEND;
		info->display_prefix = "static";
		info->name = cstring_to_text("static key");
		star = CStringGetTextDatum("*");
		info->scopes_array = construct_array(&star, 1, TEXTOID, -1, false, TYPALIGN_INT);
		info->nscopes = 1;
		info->scopes = palloc(sizeof(char *));
		info->scopes[0] = "*";
		info->metadata = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
		info->quota[AK_DAY] = -1;
		info->quota[AK_MONTH] = -1;
	}
	else
	{
		pfree(owner_seen);
		pfree(info->owner);
	}
	owner_seen = pstrdup(owner);
	info->owner = cstring_to_text(owner);
	MemoryContextSwitchTo(old);
	return info;
}

/* An owner id for a text (a display prefix, a throttle() name): BLAKE2b-128. */
void
ak_owner_id(const char *text, size_t len, uint8 *id)
{
	crypto_generichash(id, AK_BUCKET_ID_LEN, (const unsigned char *) text, len,
					   NULL, 0);
}

/*
 * The owner id of a client address: IPv4 as IPv4-mapped IPv6, IPv6 by its
 * /64, which is what one client is usually given.
 */
void
ak_ip_owner_id(const inet *ip, uint8 *id)
{
	memset(id, 0, AK_BUCKET_ID_LEN);
	if (ip_family(ip) == PGSQL_AF_INET)
	{
		id[10] = id[11] = 0xff;
		memcpy(id + 12, ip_addr(ip), 4);
	}
	else
		memcpy(id, ip_addr(ip), 8);
}

/* Whether a code is a failure to authenticate (HTTP 401). */
static bool
ak_code_is_401(AkCode code)
{
	return code == AK_CODE_MALFORMED || code == AK_CODE_NOT_FOUND ||
		code == AK_CODE_REVOKED || code == AK_CODE_EXPIRED;
}

/*
 * Abuse cooldown: failed verifications are counted per client address and,
 * for well-formed tokens, per display prefix (someone guessing the rest of
 * a known key).  display is NULL when the token was malformed.
 */
static void
ak_abuse_count_failure(inet *client_ip, const char *display, size_t display_len,
					   int64 now_us)
{
	uint8		owner[AK_BUCKET_ID_LEN];
	int64		cooldown_us = (int64) ak_abuse_cooldown * USECS_PER_SEC;

	if (client_ip != NULL)
	{
		ak_ip_owner_id(client_ip, owner);
		ak_abuse_record(AK_BK_ABUSE_IP, owner, ak_abuse_threshold, cooldown_us, now_us);
	}
	if (display != NULL)
	{
		ak_owner_id(display, display_len, owner);
		ak_abuse_record(AK_BK_ABUSE_PREFIX, owner, ak_abuse_threshold, cooldown_us, now_us);
	}
}

/* The end of the cooldown of the address or the key, or 0. */
static int64
ak_abuse_cooldown_until(inet *client_ip, const AkKeyInfo *key, int64 now_us)
{
	uint8		owner[AK_BUCKET_ID_LEN];
	int64		until = 0;

	if (client_ip != NULL)
	{
		ak_ip_owner_id(client_ip, owner);
		until = ak_abuse_blocked_until(AK_BK_ABUSE_IP, owner, now_us);
	}
	ak_owner_id(key->display_prefix, strlen(key->display_prefix), owner);
	return Max(until, ak_abuse_blocked_until(AK_BK_ABUSE_PREFIX, owner, now_us));
}

/*
 * The order of the work matters on the hot path: the digest is computed
 * and looked up first, because a cached key proves the token well formed
 * (the digest of a malformed token is never cached).  Only before a table
 * read is the shape and checksum checked, so MALFORMED still never touches
 * a table.
 */
static AkCode
ak_verify_token(text *token, text *scope, inet *client_ip, int64 now_us,
				const AkKeyInfo **key, size_t *prefix_len)
{
	const char *tok;
	size_t		len;
	uint8		hash[AK_HASH_LEN];
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

	ak_token_hash(tok, len, hash);
	if (ak_static_key_matches(hash))
		k = ak_static_key_info();
	else if (!ak_keycache_probe(hash, &k))
	{
		if (!ak_token_is_well_formed(tok, len, prefix_len))
			return AK_CODE_MALFORMED;
		k = ak_keycache_fill(hash);
	}

	if (k == NULL)
	{
		/* a cached "no such key" skipped the shape check: the prefix is needed */
		if (*prefix_len == 0)
			(void) ak_token_is_well_formed(tok, len, prefix_len);
		return AK_CODE_NOT_FOUND;
	}
	*key = k;

	code = ak_key_state(k, now_us);
	if (code != AK_CODE_VALID)
		return code;
	if (!ak_ip_allowed(k, client_ip))
		return AK_CODE_IP_NOT_ALLOWED;
	if (!ak_scope_allowed(k, scope ? VARDATA_ANY(scope) : NULL,
						  scope ? VARSIZE_ANY_EXHDR(scope) : 0))
		return AK_CODE_INSUFFICIENT_SCOPE;
	return AK_CODE_VALID;
}

/*
 * Verifies a token at now_us, counts the outcome and queues an access event
 * for a failure.  *key is the key the token belongs to, when there is one
 * (also for most failures), else NULL; it is valid until the next
 * verification.  For BLOCKED, *blocked_until is the end of the cooldown.
 *
 * prefix_len is set by ak_verify_token only when the token named no key:
 * a failure of a known key is counted against the key's display prefix.
 */
AkCode
ak_verify(text *token, text *scope, inet *client_ip, int64 now_us,
		  const AkKeyInfo **key, int64 *blocked_until)
{
	size_t		prefix_len;
	AkCode		code = ak_verify_token(token, scope, client_ip, now_us, key,
									   &prefix_len);

	*blocked_until = 0;
	if (ak_abuse_threshold > 0 && !ak_code_is_401(code) && *key != NULL &&
		(*blocked_until = ak_abuse_cooldown_until(client_ip, *key, now_us)) > 0)
		code = AK_CODE_BLOCKED;

	ak_count(AK_REQUESTS);
	ak_count(code == AK_CODE_VALID ? AK_VALID : AK_INVALID);
	if (code == AK_CODE_BLOCKED)
		ak_count(AK_BLOCKED);

	if (code != AK_CODE_VALID)
	{
		/* the key's display prefix, else that of a well-formed token */
		const char *display = NULL;
		size_t		display_len = 0;

		if (*key != NULL)
		{
			display = (*key)->display_prefix;
			display_len = strlen(display);
		}
		else if (prefix_len > 0)
		{
			display = VARDATA_ANY(token);
			display_len = prefix_len + 1 + AK_DISPLAY_BODY_LEN;
		}
		if (ak_abuse_threshold > 0 && ak_code_is_401(code))
			ak_abuse_count_failure(client_ip, display, display_len, now_us);
		ak_event_denied(code, *key, client_ip, display, display_len);
	}
	return code;
}

/*
 * The token argument, detoasted only if it can be a token at all: a
 * megabyte of text is MALFORMED without being decompressed.
 */
text *
ak_token_arg(FunctionCallInfo fcinfo, int argno)
{
	Datum		d;

	if (PG_ARGISNULL(argno))
		return NULL;
	d = PG_GETARG_DATUM(argno);
	if (toast_raw_datum_size(d) - VARHDRSZ > AK_TOKEN_MAX_LEN)
		return NULL;
	return DatumGetTextPP(d);
}

/* The blessed result row type of a function, cached for its call site. */
TupleDesc
ak_result_tupdesc(FunctionCallInfo fcinfo)
{
	TupleDesc	desc = (TupleDesc) fcinfo->flinfo->fn_extra;

	if (desc == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		desc = BlessTupleDesc(desc);
		MemoryContextSwitchTo(old);
		fcinfo->flinfo->fn_extra = desc;
	}
	return desc;
}

/*
 * apikey.verify(token text, scope text, client_ip inet)
 *	  RETURNS apikey.verification
 *	  (valid, code, key_id, owner, org, name, scopes, tier, expires_at, metadata)
 */
Datum
apikey_verify(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	const AkKeyInfo *key;
	AkCode		code;
	int64		blocked_until;
	Datum		values[10];
	bool		nulls[10];

	AK_REQUIRE_PRELOAD();
	desc = ak_result_tupdesc(fcinfo);
	AK_TOKEN_PATH_BEGIN();
	code = ak_verify(ak_token_arg(fcinfo, 0),
					 PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1),
					 PG_ARGISNULL(2) ? NULL : PG_GETARG_INET_PP(2),
					 ak_now_us(), &key, &blocked_until);
	AK_TOKEN_PATH_END();

	memset(nulls, true, sizeof(nulls));
	values[0] = BoolGetDatum(code == AK_CODE_VALID);
	nulls[0] = false;
	values[1] = CStringGetTextDatum(ak_code_names[code]);
	nulls[1] = false;
	if (key != NULL)
	{
		values[2] = UUIDPGetDatum(&key->id);
		nulls[2] = false;
		values[3] = PointerGetDatum(key->owner);
		nulls[3] = false;
		values[4] = PointerGetDatum(key->org);
		nulls[4] = key->org == NULL;
		values[5] = PointerGetDatum(key->name);
		nulls[5] = key->name == NULL;
		values[6] = PointerGetDatum(key->scopes_array);
		nulls[6] = false;
		values[7] = PointerGetDatum(key->tier);
		nulls[7] = key->tier == NULL;
		values[8] = TimestampTzGetDatum(key->expires_at);
		nulls[8] = key->expires_at == DT_NOEND;
		values[9] = JsonbPGetDatum(key->metadata);
		nulls[9] = key->metadata == NULL;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
