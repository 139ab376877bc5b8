/*-------------------------------------------------------------------------
 *
 * apikey.h
 *	  Declarations shared by the files of the apikey extension.
 *
 * One file per concern:
 *	  apikey.c     _PG_init, GUCs, the preload guard
 *	  shmem.c      shared memory requests and the per-backend counters
 *	  token.c      token format (base62, CRC-32) and hashing (BLAKE2b)
 *	  limits.c     rate-limit specifications: parsing and validation
 *	  keycache.c   backend-local verification cache and its invalidation
 *	  identity.c   who is calling: admin check, current owner, actor
 *	  verify.c     the verification decision and verify()
 *	  lifecycle.c  issue, rotate, revoke, update, introspect
 *
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_H
#define APIKEY_H

#include "postgres.h"

#include <sys/socket.h>			/* AF_INET, for utils/inet.h */

#include "compat.h"
#include "datatype/timestamp.h"
#include "access/tupdesc.h"
#include "fmgr.h"
#include "utils/inet.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

/* ---- token format (contract §3) ---- */
#define AK_HASH_LEN			32	/* BLAKE2b-256 */
#define AK_PEPPER_LEN		32
#define AK_RANDOM_LEN		32	/* base62 characters of randomness */
#define AK_CHECKSUM_LEN		6	/* base62 digits of CRC-32 */
#define AK_BODY_LEN			(AK_RANDOM_LEN + AK_CHECKSUM_LEN)
#define AK_PREFIX_MAX_LEN	50	/* 16 + 2 * (1 + 16) */
#define AK_TOKEN_MAX_LEN	255
#define AK_DISPLAY_BODY_LEN 8
#define AK_DISPLAY_MAX_LEN	(AK_PREFIX_MAX_LEN + 1 + AK_DISPLAY_BODY_LEN)
#define AK_DEFAULT_PREFIX	"ak_live"

/* ---- limits on what a key may carry ---- */
#define AK_MAX_LIMITS		8	/* rate limits per key or tier */
#define AK_LIMIT_NAME_LEN	32
#define AK_MAX_TEXT_LEN		256 /* owner, org, name, scope, tier */
#define AK_MAX_SCOPES		64
#define AK_MAX_ALLOWED_IPS	64
#define AK_MAX_METADATA		(64 * 1024)

/* ---- GUCs (apikey.c) ---- */
extern int	ak_max_keys_cached;
extern char *ak_pepper_file;
extern char *ak_static_key_owner;

/* ---- the preload guard (apikey.c) ---- */
extern bool ak_preloaded;

/*
 * Every SQL entry point starts with this.  It hides the statement from the
 * server log because the statement may carry a token.
 */
#define AK_REQUIRE_PRELOAD() \
	do { \
		if (unlikely(!ak_preloaded)) \
			ak_report_not_preloaded(); \
	} while (0)

extern void ak_report_not_preloaded(void) pg_attribute_noreturn();

/*
 * Brackets the code of an entry point that holds a token: any message
 * raised in between is logged without its statement (see ak_emit_log).
 */
extern bool ak_handling_token;
#define AK_TOKEN_PATH_BEGIN()	(ak_handling_token = true)
#define AK_TOKEN_PATH_END()		(ak_handling_token = false)

/* ---- shared memory and counters (shmem.c) ---- */
typedef enum AkCounter
{
	AK_REQUESTS,
	AK_VALID,
	AK_INVALID,
	AK_RATE_LIMITED,
	AK_QUOTA_EXCEEDED,
	AK_BLOCKED,
	AK_OVERLOADED,
	AK_CACHE_HITS,
	AK_CACHE_MISSES,
	AK_EVENTS_DROPPED,
	AK_NUM_COUNTERS
} AkCounter;

extern void ak_shmem_install_hooks(void);
extern void ak_count(AkCounter counter);
extern uint64 ak_counter_total(AkCounter counter);

/* ---- token format and crypto (token.c) ---- */
extern bool ak_prefix_is_valid(const char *prefix, size_t len);
extern bool ak_token_is_well_formed(const char *token, size_t len,
									size_t *prefix_len);
extern void ak_token_generate(const char *prefix, size_t prefix_len,
							  char *out);
extern void ak_token_hash(const char *token, size_t len, uint8 *out);
extern void ak_pepper_load(const char *path);
extern bool ak_static_key_matches(const uint8 *hash);
extern bool ak_static_key_enabled(void);
extern void ak_define_static_key_guc(void);

/* ---- rate-limit specifications (limits.c) ---- */
typedef struct AkLimit
{
	char		name[AK_LIMIT_NAME_LEN + 1];
	int64		limit;			/* tokens added per period */
	int64		period_us;		/* refill period, microseconds */
	int64		burst;			/* bucket capacity */
} AkLimit;

extern int	ak_limits_parse(Jsonb *spec, AkLimit *out, const char *what);
extern int64 ak_interval_to_us(const Interval *interval);

/* ---- the verification cache (keycache.c) ---- */

/*
 * What verification needs to know about a key, packed into one allocation
 * (see keycache.c).  Varlena fields point into the same chunk so they can
 * be handed to heap_form_tuple as they are.
 */
typedef struct AkKeyInfo
{
	pg_uuid_t	id;
	TimestampTz expires_at;		/* DT_NOEND when the key never expires */
	TimestampTz revoked_at;		/* DT_NOEND when not revoked */
	bool		rotated;		/* rotated_to is set */
	char		display_prefix[AK_DISPLAY_MAX_LEN + 1];

	/* columns of apikey.verification, ready for heap_form_tuple */
	text	   *owner;
	text	   *org;			/* may be NULL */
	text	   *name;			/* may be NULL */
	ArrayType  *scopes_array;
	text	   *tier;
	Jsonb	   *metadata;

	/* decoded forms for the checks */
	int			nscopes;
	char	  **scopes;
	int			nallowed;		/* 0: no allowlist */
	inet	  **allowed;

	/* effective limits: the key's own, else its tier's */
	int			nlimits;
	AkLimit    *limits;
	int64		daily_quota;	/* -1: none */
	int64		monthly_quota;	/* -1: none */
	int32		max_concurrency;	/* 0: none */
} AkKeyInfo;

extern const AkKeyInfo *ak_keycache_lookup(const uint8 *hash);
extern void ak_keycache_shmem_request(void);
extern void ak_keycache_shmem_startup(void);
extern Datum apikey_invalidate_trigger(PG_FUNCTION_ARGS);

/* ---- caller identity (identity.c) ---- */
extern bool ak_caller_is_admin(void);
extern text *ak_current_owner(void);
extern char *ak_current_actor(void);
extern void ak_require_owner_or_admin(text *owner, const char *what);
extern void ak_identity_set(const AkKeyInfo *key);
extern char *ak_json_get_string(const char *json, const char *field);
extern inet *ak_parse_inet(const char *s, size_t len);
extern inet *ak_request_client_ip(void);

/* ---- verification (verify.c) ---- */
typedef enum AkCode
{
	AK_CODE_VALID,
	AK_CODE_MALFORMED,
	AK_CODE_NOT_FOUND,
	AK_CODE_REVOKED,
	AK_CODE_EXPIRED,
	AK_CODE_BLOCKED,
	AK_CODE_IP_NOT_ALLOWED,
	AK_CODE_INSUFFICIENT_SCOPE
} AkCode;

extern const char *const ak_code_names[];

extern AkCode ak_verify(text *token, text *scope, inet *client_ip,
						const AkKeyInfo **key);
extern AkCode ak_key_state(const AkKeyInfo *key, TimestampTz now);
extern text *ak_token_arg(FunctionCallInfo fcinfo, int argno);
extern TupleDesc ak_result_tupdesc(FunctionCallInfo fcinfo);

#endif							/* APIKEY_H */
