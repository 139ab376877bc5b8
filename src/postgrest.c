/*-------------------------------------------------------------------------
 *
 * postgrest.c
 *	  PostgREST and Supabase glue (contract §8): apikey.check_request() for
 *	  db-pre-request, the errors PostgREST turns into HTTP responses, the
 *	  scope map, and apikey.exchange(), which trades a key for a JWT.
 *
 * check_request() reads everything from the transaction-local settings
 * PostgREST sets before it runs (request.method, request.path,
 * request.headers) and writes only response.headers, so it works in the
 * READ ONLY transactions of GET requests.  A refusal is an ERROR: PostgREST
 * rolls the transaction back and answers with the status the error names.
 *
 * Errors take one of three forms:
 *	  pgrst	(PostgREST >= 12) SQLSTATE PGRST, a message that is the JSON of
 *			the response body and a detail that is the JSON of its status
 *			and headers -- the only way to send Retry-After with an error;
 *	  pt	(PostgREST 11, apikey.postgrest_error_style = 'pt') SQLSTATE
 *			PTnnn: status nnn, message = reason phrase, no headers;
 *	  plain	outside PostgREST (request.method empty): 28000, 42501 or 53400
 *			with the code in the detail, for psql, cron jobs and tests.
 *
 * The scope map (apikey.scope_map) is read into backend memory and kept
 * until a change to the table commits: a trigger on it queues a relcache
 * invalidation of the table, which every backend receives at its next
 * transaction (and a standby when it replays the commit).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation_d.h"
#include "catalog/pg_type_d.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "apikey.h"

char	   *ak_header_name = NULL;
int			ak_error_style = AK_ERRORS_PGRST;
char	   *ak_jwt_secret = NULL;
char	   *ak_jwt_role = NULL;

#define AK_JWT_MIN_SECRET	32	/* PostgREST refuses shorter secrets */

PG_FUNCTION_INFO_V1(apikey_check_request);
PG_FUNCTION_INFO_V1(apikey_exchange);
PG_FUNCTION_INFO_V1(apikey_scope_map_changed);


/* ---- the request PostgREST describes ---- */

/* A request.* setting, or NULL when unset or empty (as after a commit). */
static const char *
ak_request_setting(const char *name)
{
	const char *value = GetConfigOption(name, true, false);

	return (value != NULL && *value != '\0') ? value : NULL;
}

static bool
ak_in_request(void)
{
	return ak_request_setting("request.method") != NULL;
}

/*
 * The token of the apikey.header header: from request.headers (JSON, as
 * PostgREST 12 and 11 on PostgreSQL 14 and later pass headers), else from
 * PostgREST 11's legacy per-header setting request.header.<name>.  NULL
 * when absent; a value longer than any token is cut to one byte more, which
 * verification answers MALFORMED.
 */
static text *
ak_request_token(void)
{
	char	   *value = ak_json_get_string(ak_request_setting("request.headers"),
										   ak_header_name);

	if (value == NULL)
	{
		char		legacy[NAMEDATALEN + 16];
		const char *v;

		snprintf(legacy, sizeof(legacy), "request.header.%s", ak_header_name);
		v = ak_request_setting(legacy);
		if (v != NULL)
			value = pstrdup(v);
	}
	if (value == NULL)
		return NULL;
	/* longer than any token: MALFORMED all the same, without copying it */
	return cstring_to_text_with_len(value, Min(strlen(value), AK_TOKEN_MAX_LEN + 1));
}


/* ---- the scope map ---- */

typedef struct AkScopeRule
{
	char	   *method;			/* upper case, or "*" */
	text	   *pattern;		/* LIKE pattern on request.path */
	text	   *scope;
	int32		priority;
} AkScopeRule;

static MemoryContext ak_rules_cxt = NULL;
static AkScopeRule *ak_rules = NULL;
static int	ak_nrules = 0;
static bool ak_rules_valid = false;
static uint64 ak_rules_invals = 0;	/* invalidations received */
static Oid	ak_scope_map_relid = InvalidOid;

static void
ak_scope_map_inval(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == ak_scope_map_relid)
	{
		ak_rules_valid = false;
		ak_rules_invals++;
	}
}

/*
 * Highest priority first, then the longest (most specific) pattern, then a
 * named method before "*"; the table's key makes the order total.
 */
static int
ak_rule_cmp(const void *a, const void *b)
{
	const AkScopeRule *x = a;
	const AkScopeRule *y = b;
	bool		x_any = strcmp(x->method, "*") == 0;
	bool		y_any = strcmp(y->method, "*") == 0;

	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	if (VARSIZE_ANY_EXHDR(x->pattern) != VARSIZE_ANY_EXHDR(y->pattern))
		return VARSIZE_ANY_EXHDR(x->pattern) > VARSIZE_ANY_EXHDR(y->pattern) ? -1 : 1;
	if (x_any != y_any)
		return x_any ? 1 : -1;
	return strcmp(x->method, y->method);
}

/*
 * Reads apikey.scope_map straight from the heap: the caller may be a role
 * that cannot read the table (anon), and the rules are not secret to the
 * extension.  The latest snapshot is taken after the lock, which processed
 * every invalidation sent before it: a change committed later sends one
 * that makes the rules stale again.  The rules count as read only once the
 * whole scan is done: an error half-way leaves them stale, never partial.
 */
static void
ak_scope_map_load(void)
{
	Oid			nsp = get_namespace_oid(AK_SCHEMA, true);
	Relation	rel;
	TupleDesc	desc;
	TableScanDesc scan;
	Snapshot	snapshot;
	HeapTuple	tuple;
	AttrNumber	col_method,
				col_pattern,
				col_scope,
				col_priority;
	int			size = 8;
	MemoryContext old;
	uint64		invals;

	ak_rules_valid = false;
	if (ak_rules_cxt == NULL)
	{
		ak_rules_cxt = AllocSetContextCreate(CacheMemoryContext, "apikey scope map",
											 ALLOCSET_SMALL_SIZES);
		CacheRegisterRelcacheCallback(ak_scope_map_inval, (Datum) 0);
	}
	MemoryContextReset(ak_rules_cxt);
	ak_rules = NULL;
	ak_nrules = 0;

	ak_scope_map_relid = OidIsValid(nsp) ? get_relname_relid("scope_map", nsp) : InvalidOid;
	if (!OidIsValid(ak_scope_map_relid))
		return;					/* not installed here: no rules */

	rel = table_open(ak_scope_map_relid, AccessShareLock);
	invals = ak_rules_invals;
	desc = RelationGetDescr(rel);
	col_method = ak_attnum(desc, "method");
	col_pattern = ak_attnum(desc, "path_pattern");
	col_scope = ak_attnum(desc, "scope");
	col_priority = ak_attnum(desc, "priority");

	old = MemoryContextSwitchTo(ak_rules_cxt);
	ak_rules = palloc(size * sizeof(AkScopeRule));
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(rel, snapshot, 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		null_method,
					null_pattern,
					null_scope,
					null_priority;
		Datum		method = heap_getattr(tuple, col_method, desc, &null_method);
		Datum		pattern = heap_getattr(tuple, col_pattern, desc, &null_pattern);
		Datum		scope = heap_getattr(tuple, col_scope, desc, &null_scope);
		Datum		priority = heap_getattr(tuple, col_priority, desc, &null_priority);
		AkScopeRule *rule;

		if (null_method || null_pattern || null_scope)
			continue;
		if (ak_nrules == size)
		{
			size *= 2;
			ak_rules = repalloc(ak_rules, size * sizeof(AkScopeRule));
		}
		rule = &ak_rules[ak_nrules++];
		rule->method = TextDatumGetCString(method);
		rule->pattern = DatumGetTextPCopy(pattern);
		rule->scope = DatumGetTextPCopy(scope);
		rule->priority = null_priority ? 0 : DatumGetInt32(priority);
	}
	table_endscan(scan);
	UnregisterSnapshot(snapshot);
	MemoryContextSwitchTo(old);
	table_close(rel, AccessShareLock);

	qsort(ak_rules, ak_nrules, sizeof(AkScopeRule), ak_rule_cmp);
	ak_rules_valid = (ak_rules_invals == invals);
}

/* The scope the request needs: the first matching rule's, or NULL. */
static text *
ak_scope_for_request(const char *method, const char *path)
{
	text	   *path_text;

	if (!ak_rules_valid)
		ak_scope_map_load();
	if (ak_nrules == 0 || method == NULL)
		return NULL;

	path_text = cstring_to_text(path ? path : "");
	for (int i = 0; i < ak_nrules; i++)
	{
		const AkScopeRule *rule = &ak_rules[i];

		if (strcmp(rule->method, "*") != 0 && pg_strcasecmp(rule->method, method) != 0)
			continue;
		if (DatumGetBool(DirectFunctionCall2Coll(textlike, C_COLLATION_OID,
												 PointerGetDatum(path_text),
												 PointerGetDatum(rule->pattern))))
			return rule->scope;
	}
	return NULL;
}

/*
 * apikey._scope_map_changed() trigger: every backend re-reads the scope map
 * once the change commits.
 */
Datum
apikey_scope_map_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("apikey._scope_map_changed() must be called as a trigger")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}


/* ---- refusals as errors ---- */

/* What a refusal says, whichever form the error takes. */
typedef struct AkRefusal
{
	int			status;
	const char *code;			/* a verification or limit code */
	const char *message;		/* for people, in the response body */
	char	   *hint;
	AkHeaders  *headers;		/* rate-limit headers, or NULL */
	int64		retry_after_s;	/* 0: none */
} AkRefusal;

static const char *
ak_reason_phrase(int status)
{
	switch (status)
	{
		case 401:
			return "Unauthorized";
		case 403:
			return "Forbidden";
		case 429:
			return "Too Many Requests";
		case 503:
			return "Service Unavailable";
	}
	return "Error";
}

static const char *
ak_refusal_message(const char *code, bool token_sent)
{
	if (!token_sent)
		return "API key required";
	if (strcmp(code, "MALFORMED") == 0 || strcmp(code, "NOT_FOUND") == 0)
		return "Invalid API key";
	if (strcmp(code, "REVOKED") == 0)
		return "API key revoked";
	if (strcmp(code, "EXPIRED") == 0)
		return "API key expired";
	if (strcmp(code, "IP_NOT_ALLOWED") == 0)
		return "Client address not allowed for this API key";
	if (strcmp(code, "INSUFFICIENT_SCOPE") == 0)
		return "API key lacks the scope this request needs";
	if (strcmp(code, "BLOCKED") == 0)
		return "Too many failed attempts";
	if (strcmp(code, "QUOTA_EXCEEDED") == 0)
		return "Quota exceeded";
	if (strcmp(code, "CONCURRENCY_LIMITED") == 0)
		return "Too many concurrent requests";
	if (strcmp(code, "OVERLOADED") == 0)
		return "Server overloaded";
	return "Rate limit exceeded";
}

static char *
ak_refusal_hint(const AkRefusal *r, const text *scope, bool token_sent)
{
	if (r->retry_after_s > 0)
		return psprintf("Retry after " INT64_FORMAT " s.", r->retry_after_s);
	if (!token_sent)
		return psprintf("Send the key in the %s header.", ak_header_name);
	if (strcmp(r->code, "INSUFFICIENT_SCOPE") == 0 && scope != NULL)
		return psprintf("This request needs scope \"%s\".", text_to_cstring(scope));
	return pstrdup("");
}

static void
ak_json_pair(StringInfo buf, bool first, const char *name, const char *value)
{
	if (!first)
		appendStringInfoChar(buf, ',');
	escape_json(buf, name);
	appendStringInfoChar(buf, ':');
	escape_json(buf, value);
}

/* {"status":nnn,"headers":{...}}: the DETAIL PostgREST >= 12 requires */
static char *
ak_pgrst_detail(const AkRefusal *r)
{
	StringInfoData buf;
	bool		first = true;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"status\":%d,\"headers\":{", r->status);
	if (r->status == 401)
	{
		char	   *challenge = psprintf("ApiKey header=\"%s\"", ak_header_name);

		ak_json_pair(&buf, first, "WWW-Authenticate", challenge);
		first = false;
	}
	if (r->headers != NULL)
	{
		for (int i = 0; i < r->headers->n; i++)
		{
			char	   *value = pnstrdup(r->headers->value[i], r->headers->value_len[i]);

			ak_json_pair(&buf, first, r->headers->name[i], value);
			first = false;
		}
	}
	appendStringInfoString(&buf, "}}");
	return buf.data;
}

/* "Invalid API key" as a PostgreSQL message has it: "invalid API key" */
static char *
ak_lower_first(const char *message)
{
	char	   *s = pstrdup(message);

	if (strncmp(s, "API", 3) != 0)
		s[0] = pg_tolower((unsigned char) s[0]);
	return s;
}

static int
ak_plain_sqlstate(int status)
{
	if (status == 401)
		return ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
	if (status == 403)
		return ERRCODE_INSUFFICIENT_PRIVILEGE;
	return ERRCODE_CONFIGURATION_LIMIT_EXCEEDED;
}

/* Raises the refusal in the form the caller understands. */
static void
ak_raise_refusal(const AkRefusal *r)
pg_attribute_noreturn();

static void
ak_raise_refusal(const AkRefusal *r)
{
	if (!ak_in_request())
		ereport(ERROR,
				(errcode(ak_plain_sqlstate(r->status)),
				 errmsg("request refused: %s", ak_lower_first(r->message)),
				 errdetail("The apikey code is %s; over HTTP the status would be %d.",
						   r->code, r->status),
				 *r->hint ? errhint("%s", r->hint) : 0,
				 errhidestmt(true)));

	if (ak_error_style == AK_ERRORS_PT)
		ereport(ERROR,
				(errcode(MAKE_SQLSTATE('P', 'T', '0' + r->status / 100,
									   '0' + r->status / 10 % 10, '0' + r->status % 10)),
				 errmsg_internal("%s", ak_reason_phrase(r->status)),
				 errdetail_internal("%s (%s)", r->message, r->code),
				 *r->hint ? errhint("%s", r->hint) : 0,
				 errhidestmt(true)));
	else
	{
		StringInfoData body;
		char		akcode[8];

		snprintf(akcode, sizeof(akcode), "AK%d", r->status);
		initStringInfo(&body);
		appendStringInfoChar(&body, '{');
		ak_json_pair(&body, true, "code", akcode);
		ak_json_pair(&body, false, "message", r->message);
		ak_json_pair(&body, false, "details", r->code);
		ak_json_pair(&body, false, "hint", r->hint);
		appendStringInfoChar(&body, '}');
		ereport(ERROR,
				(errcode(MAKE_SQLSTATE('P', 'G', 'R', 'S', 'T')),
				 errmsg_internal("%s", body.data),
				 errdetail_internal("%s", ak_pgrst_detail(r)),
				 errhidestmt(true)));
	}
	pg_unreachable();
}

static void
ak_refuse(int status, const char *code, AkHeaders *headers, int64 retry_after_us,
		  const text *scope, bool token_sent)
{
	AkRefusal	r;

	r.status = status;
	r.code = code;
	r.message = ak_refusal_message(code, token_sent);
	r.headers = headers;
	r.retry_after_s = retry_after_us > 0 ? Max((retry_after_us + USECS_PER_SEC - 1) / USECS_PER_SEC, 1) : 0;
	r.hint = ak_refusal_hint(&r, scope, token_sent);
	ak_raise_refusal(&r);
}


/* ---- response headers ---- */

/*
 * Appends the rate-limit headers to response.headers, a JSON array of
 * one-key objects, after what the application already put there; the
 * setting is transaction-local, as PostgREST's own.
 */
static void
ak_append_response_headers(const AkHeaders *h)
{
	const char *current = GetConfigOption("response.headers", true, false);
	StringInfoData buf;
	int			len;

	if (h->n == 0)
		return;					/* a key without limits: nothing to add */
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	if (current != NULL)
	{
		while (isspace((unsigned char) *current))
			current++;
		len = strlen(current);
		while (len > 0 && isspace((unsigned char) current[len - 1]))
			len--;
		if (len > 0 && (current[0] != '[' || current[len - 1] != ']'))
		{
			ereport(WARNING,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("response.headers is not a JSON array: the rate-limit headers are not added"),
					 errhint("PostgREST expects an array of one-key objects, such as [{\"Cache-Control\": \"no-cache\"}].")));
			return;
		}
		if (len > 2)
		{
			/* keep the inside of the array unless it is empty */
			const char *inner = current + 1;
			int			inner_len = len - 2;

			while (inner_len > 0 && isspace((unsigned char) *inner))
				inner++, inner_len--;
			if (inner_len > 0)
			{
				appendBinaryStringInfo(&buf, inner, inner_len);
				appendStringInfoString(&buf, ", ");
			}
		}
	}
	for (int i = 0; i < h->n; i++)
	{
		char	   *value = pnstrdup(h->value[i], h->value_len[i]);

		appendStringInfoString(&buf, i > 0 ? ", {" : "{");
		escape_json(&buf, h->name[i]);
		appendStringInfoString(&buf, ": ");
		escape_json(&buf, value);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, ']');
	(void) set_config_option("response.headers", buf.data, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}


/* ---- apikey.check_request() ---- */

/*
 * apikey.check_request() RETURNS void, for PostgREST's db-pre-request.
 */
Datum
apikey_check_request(PG_FUNCTION_ARGS)
{
	const char *method;
	text	   *scope;
	text	   *token;
	bool		token_sent;
	inet	   *client_ip;
	AkDecision	d;
	AkHeaders	h;

	AK_REQUIRE_PRELOAD();
	method = ak_request_setting("request.method");
	scope = ak_scope_for_request(method, ak_request_setting("request.path"));
	client_ip = ak_request_client_ip();

	AK_TOKEN_PATH_BEGIN();
	token = ak_request_token();
	token_sent = token != NULL;
	ak_check(token, scope, client_ip, 1, &d);
	if (token_sent)
		pfree(token);
	AK_TOKEN_PATH_END();

	if (d.key != NULL && d.key->stored)
		ak_usage_request(&d.key->id, d.usage, 1);
	ak_decision_headers(&d, &h);
	if (d.allowed)
	{
		ak_identity_set(d.key);
		ak_append_response_headers(&h);
		PG_RETURN_VOID();
	}
	ak_refuse(d.status, d.code, d.report.nlimits > 0 || d.retry_after_us > 0 ? &h : NULL,
			  d.retry_after_us, scope, token_sent);
	PG_RETURN_VOID();			/* not reached */
}


/* ---- apikey.exchange(): a key for a JWT ---- */

static char *
ak_base64url(const unsigned char *data, size_t len)
{
	size_t		size = sodium_base64_encoded_len(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char	   *out = palloc(size);

	sodium_bin2base64(out, size, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return out;
}

/* The key's jwt_role column, read as the extension's owner. */
static char *
ak_key_jwt_role(const AkKeyInfo *key)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		args[1];
	char	   *role = NULL;

	if (!key->stored)
		return NULL;
	args[0] = UUIDPGetDatum(&key->id);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "apikey: SPI_connect failed");
	if (SPI_execute_with_args("SELECT jwt_role FROM apikey.keys WHERE id OPERATOR(pg_catalog.=) $1",
							  1, argtypes, args, NULL, true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		char	   *value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (value != NULL)
			role = MemoryContextStrdup(CurTransactionContext, value);
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

/*
 * apikey.exchange(token text, ttl interval) RETURNS jsonb
 *	  {"access_token": <JWT>, "token_type": "bearer", "expires_in": <s>}
 * The JWT never outlives the key: exp is at most the key's expires_at.
 */
Datum
apikey_exchange(PG_FUNCTION_ARGS)
{
	Interval   *ttl;
	int64		ttl_us;
	int64		now_us;
	int64		exp_us;
	int64		iat;
	int64		exp;
	const AkKeyInfo *key;
	int64		blocked_until;
	AkCode		code;
	text	   *token;
	char	   *role;
	StringInfoData result;

	AK_REQUIRE_PRELOAD();
	/* from here on an error may be logged with the statement: not the token */
	AK_TOKEN_PATH_BEGIN();
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("invalid ttl: it must not be NULL")));
	ttl = PG_GETARG_INTERVAL_P(1);
	ttl_us = ak_interval_to_us(ttl);
	if (ttl_us < USECS_PER_SEC || ttl_us > 30 * USECS_PER_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid ttl: it must be between 1 second and 30 days")));
	if (ak_jwt_secret == NULL || strlen(ak_jwt_secret) < AK_JWT_MIN_SECRET)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("apikey.jwt_secret is not set, or shorter than %d characters",
						AK_JWT_MIN_SECRET),
				 errdetail("exchange() signs with the secret PostgREST verifies JWTs with."),
				 errhint("Set apikey.jwt_secret in postgresql.conf to PostgREST's jwt-secret.")));

	now_us = ak_now_us();
	token = ak_token_arg(fcinfo, 0);
	code = ak_verify(token, NULL, ak_request_client_ip(), now_us, &key, &blocked_until);
	if (code != AK_CODE_VALID)
		ak_refuse(ak_code_status[code], ak_code_names[code], NULL,
				  code == AK_CODE_BLOCKED ? blocked_until - now_us : -1,
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
	AK_TOKEN_PATH_END();
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(result.data)));
}
