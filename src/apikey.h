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
 *	  bucket.c     token buckets, quota counters and concurrency counters
 *	               in shared memory (GCRA)
 *	  quota.c      daily and monthly quotas: periods, alerts, refunds
 *	  limiter.c    check(), consume(), throttle(): the order of the checks
 *	  headers.c    rate-limit headers (contract §7)
 *	  usage.c      per-key hourly usage in shared memory, and usage_hourly
 *	  events.c     the queue of access events and quota alerts for audit_log
 *	  worker.c     the background worker that writes all of it to tables
 *
 *-------------------------------------------------------------------------
 */
#ifndef APIKEY_H
#define APIKEY_H

#include "postgres.h"

#include <sys/socket.h>			/* AF_INET, for utils/inet.h */

#include "compat.h"
#include "access/tupdesc.h"
#include "access/xact.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "storage/spin.h"
#include "utils/date.h"
#include "utils/hsearch.h"
#include "utils/inet.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

/* the extension's schema (apikey.control: relocatable = false) */
#define AK_SCHEMA			"apikey"

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
typedef enum AkTableFull
{
	AK_TABLE_FULL_CLOSED,		/* refuse: OVERLOADED */
	AK_TABLE_FULL_OPEN			/* admit without limiting */
} AkTableFull;

extern int	ak_max_keys_cached;
extern char *ak_pepper_file;
extern char *ak_static_key_owner;
extern int	ak_max_buckets;
extern int	ak_on_table_full;
extern int	ak_ip_rate_limit;
extern int	ak_ip_rate_period;
extern int	ak_ip_burst;
extern int	ak_max_inflight;
extern int	ak_abuse_threshold;
extern int	ak_abuse_cooldown;
extern bool ak_track_usage;
extern int	ak_max_usage_entries;
extern char *ak_worker_database;
extern int	ak_flush_interval;
extern int	ak_maintenance_interval;
extern int	ak_audit_retention;
extern int	ak_usage_retention;

/* PostgREST (postgrest.c, identity.c) */
typedef enum AkErrorStyle
{
	AK_ERRORS_PGRST,			/* SQLSTATE PGRST with JSON: PostgREST >= 12 */
	AK_ERRORS_PT				/* SQLSTATE PTnnn: PostgREST 11 */
} AkErrorStyle;

extern char *ak_header_name;
extern char *ak_client_ip_header;
extern int	ak_error_style;
extern char *ak_jwt_secret;
extern char *ak_jwt_role;

/* Whether a transaction callback's event ends the transaction. */
static inline bool
ak_xact_ends(XactEvent event)
{
	return event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT;
}

/* Makes room for one more element of a TopMemoryContext array (apikey.c). */
extern void *ak_array_grow(void *array, int *size, Size elem_size);

/* The time apikey decides with: now, plus apikey.test_clock_offset. */
extern int64 ak_now_us(void);

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
	AK_USAGE_DROPPED,			/* not in the view: the worker logs it */
	AK_NUM_COUNTERS
} AkCounter;

extern void ak_shmem_install_hooks(void);
extern void ak_shmem_hash_prepare(HTAB *table, Size keysize, Size entry_offset);
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

/* a token bucket in shared memory (bucket.c) */
typedef struct AkBucket AkBucket;

/* ---- rate-limit specifications (limits.c) ---- */
typedef struct AkLimit
{
	char		name[AK_LIMIT_NAME_LEN + 1];
	uint32		tag;			/* a hash of name: which bucket of a key */
	int64		limit;			/* tokens added per period */
	int64		period_us;		/* refill period, microseconds */
	int64		burst;			/* bucket capacity */
} AkLimit;

extern int	ak_limits_parse(Jsonb *spec, AkLimit *out, const char *what);
extern void ak_limit_check(const AkLimit *limit, const char *what, int index);
extern int64 ak_limit_max_burst(int64 limit, int64 period_us);
extern int64 ak_interval_to_us(const Interval *interval);

/* ---- token buckets in shared memory (bucket.c) ---- */
#define AK_BUCKET_ID_LEN	16

typedef enum AkBucketKind
{
	AK_BK_KEY_LIMIT = 1,		/* one per limit of a key */
	AK_BK_IP,					/* per client address */
	AK_BK_NAMED,				/* throttle() */
	AK_BK_CONCURRENCY,			/* requests in flight per key */
	AK_BK_ABUSE_IP,				/* failed verifications per address */
	AK_BK_ABUSE_PREFIX,			/* failed verifications per display prefix */
	AK_BK_QUOTA					/* a key's daily and monthly counts */
} AkBucketKind;

/*
 * What every shared hash entry of apikey carries after its key: a spinlock
 * initialized once for the life of the shared memory, and whether the
 * element is in its table.  See "Hints" in bucket.c.
 */
typedef struct AkSharedEntry
{
	slock_t		mutex;
	bool		live;
} AkSharedEntry;


/* One limit after a decision. */
typedef struct AkLimitOutcome
{
	int64		remaining;		/* whole tokens left */
	int64		full_in_us;		/* until the bucket is full again */
	int64		retry_in_us;	/* until the refused request would pass; 0 */
} AkLimitOutcome;

typedef enum AkDebit
{
	AK_DEBIT_OK,
	AK_DEBIT_REJECTED,
	AK_DEBIT_NO_ROOM			/* apikey.max_buckets reached */
} AkDebit;

extern void ak_bucket_shmem_request(void);
extern void ak_bucket_shmem_startup(void);
extern uint32 ak_limit_tag(const AkLimit *limit);
extern AkDebit ak_bucket_debit(AkBucketKind kind, const uint8 *owner,
							   const AkLimit *limits, int n, int64 cost,
							   int64 now_us, AkLimitOutcome *out,
							   AkBucket **hints);
extern void ak_bucket_refund(AkBucketKind kind, const uint8 *owner,
							 const AkLimit *limits, int n, int64 cost);
extern void ak_bucket_peek(AkBucketKind kind, const uint8 *owner,
						   const AkLimit *limits, int n, int64 now_us,
						   AkLimitOutcome *out);
extern AkDebit ak_slot_acquire(const uint8 *owner, int32 max, AkBucket **slot);
extern void ak_slot_release(AkBucket *slot);
extern bool ak_inflight_acquire(int max);
extern void ak_inflight_release(void);
extern void ak_abuse_record(AkBucketKind kind, const uint8 *owner,
							int threshold, int64 cooldown_us, int64 now_us);
extern int64 ak_abuse_blocked_until(AkBucketKind kind, const uint8 *owner,
									int64 now_us);
extern void ak_bucket_usage(int64 *in_use, int64 *capacity);

/* ---- quotas (quota.c; their counters live in bucket.c) ---- */
typedef enum AkPeriod
{
	AK_DAY,
	AK_MONTH,
	AK_NUM_PERIODS
} AkPeriod;

/* Alert thresholds, in percent of a quota: each announced once per period. */
#define AK_NUM_ALERTS		2
extern const int ak_alert_percent[AK_NUM_ALERTS];

/* A quota debit: what the caller knows about the key and the time. */
typedef struct AkQuotaRequest
{
	int32		period[AK_NUM_PERIODS];		/* the current day and month */
	int64		quota[AK_NUM_PERIODS];		/* -1: none */
	int32		seed_period[AK_NUM_PERIODS];	/* the key row's usage_day/month */
	int64		seed_used[AK_NUM_PERIODS];	/* and its daily/monthly_usage */
} AkQuotaRequest;

typedef struct AkQuotaOutcome
{
	int64		used[AK_NUM_PERIODS];	/* after the decision */
	bool		refused[AK_NUM_PERIODS];
	uint8		crossed[AK_NUM_PERIODS];	/* alerts this debit set: bit i is
											 * ak_alert_percent[i] */
	bool		queue;			/* the counter became dirty: queue it */
} AkQuotaOutcome;

/* A counter the worker writes to apikey.keys. */
typedef struct AkQuotaFlush
{
	pg_uuid_t	key_id;
	int32		period[AK_NUM_PERIODS];
	int64		used[AK_NUM_PERIODS];
	AkBucket   *counter;
} AkQuotaFlush;

extern AkDebit ak_quota_counter_debit(const uint8 *owner,
									  const AkQuotaRequest *req, int64 cost,
									  int64 now_us, AkQuotaOutcome *out,
									  AkBucket **hint);
extern void ak_quota_counter_refund(const uint8 *owner, const int32 *period,
									int64 cost, const uint8 *uncross,
									AkBucket **hint);
extern int	ak_quota_counters_collect(AkQuotaFlush **out);
extern void ak_quota_counters_flushed(const AkQuotaFlush *items, int n, bool ok);

extern void ak_quota_periods(int64 now_us, int32 *period);
extern int64 ak_period_end_us(AkPeriod p, int32 period);
extern int64 ak_period_length_us(AkPeriod p, int32 period);
extern DateADT ak_period_first_day(AkPeriod p, int32 period);
extern int32 ak_period_of_date(AkPeriod p, DateADT date);
extern const char *const ak_period_names[];

/* ---- the verification cache (keycache.c) ---- */

/*
 * What verification needs to know about a key, packed into one allocation
 * (see keycache.c).  Varlena fields point into the same chunk so they can
 * be handed to heap_form_tuple as they are.  The fields check() reads come
 * first, and the chunk holds their data first: a cached verification
 * touches as few cache lines as it can.
 */
typedef struct AkKeyInfo
{
	/* what every check() reads */
	pg_uuid_t	id;
	TimestampTz expires_at;		/* DT_NOEND when the key never expires */
	TimestampTz revoked_at;		/* DT_NOEND when not revoked */
	bool		rotated;		/* rotated_to is set */
	int16		nscopes;
	int16		nallowed;		/* 0: no allowlist */
	int32		max_concurrency;	/* 0: none */
	int			nlimits;		/* effective limits: the key's own, else its tier's */
	AkLimit    *limits;
	AkBucket  **bucket_hints; /* where their buckets were last seen */
	char	   *policy_header;	/* RateLimit-Policy for these limits */
	text	   *owner;			/* columns of the result rows */
	ArrayType  *scopes_array;
	text	   *tier;
	bool		stored;			/* a row of apikey.keys (not the static key) */
	int64		quota[AK_NUM_PERIODS];	/* daily, monthly; -1: none */
	AkBucket  **quota_hint;		/* where its quota counter was last seen */
	int32		usage_period[AK_NUM_PERIODS];	/* the row's usage_day/month, */
	int64		usage[AK_NUM_PERIODS];	/* and daily/monthly_usage, when read */

	/* the rest: verify()'s other columns, scope and address checks */
	char	   *display_prefix;
	text	   *org;			/* may be NULL */
	text	   *name;			/* may be NULL */
	Jsonb	   *metadata;
	char	  **scopes;
	inet	  **allowed;
} AkKeyInfo;

extern AttrNumber ak_attnum(TupleDesc desc, const char *name);
extern bool ak_keycache_probe(const uint8 *hash, const AkKeyInfo **key);
extern const AkKeyInfo *ak_keycache_fill(const uint8 *hash);
extern const AkKeyInfo *ak_keycache_lookup_id(const pg_uuid_t *id);
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
extern const int ak_code_status[];	/* the HTTP status of each code */

extern AkCode ak_verify(text *token, text *scope, inet *client_ip,
						int64 now_us, const AkKeyInfo **key,
						int64 *blocked_until);
extern void ak_owner_id(const char *text, size_t len, uint8 *id);
extern void ak_ip_owner_id(const inet *ip, uint8 *id);
extern AkCode ak_key_state(const AkKeyInfo *key, TimestampTz now);
extern text *ak_token_arg(FunctionCallInfo fcinfo, int argno);
extern TupleDesc ak_result_tupdesc(FunctionCallInfo fcinfo);

/* ---- rate-limit headers (headers.c) ---- */
#define AK_MAX_HEADERS		8
#define AK_HEADER_STORAGE	1024	/* enough for AK_MAX_LIMITS limits */

/* Header names and values; values are mostly written into storage. */
typedef struct AkHeaders
{
	int			n;
	const char *name[AK_MAX_HEADERS];
	const char *value[AK_MAX_HEADERS];
	int			value_len[AK_MAX_HEADERS];
	int			used;
	char		storage[AK_HEADER_STORAGE];
} AkHeaders;

/* What the headers describe: limits after a decision. */
typedef struct AkLimitReport
{
	int			nlimits;
	const AkLimit *limits;
	const char *policy;			/* RateLimit-Policy, or NULL to build it */
	AkLimitOutcome outcome[AK_MAX_LIMITS];
	int			restrictive;	/* index of the limit with fewest tokens */
} AkLimitReport;

extern char *ak_policy_header(const AkLimit *limits, int n);
extern int	ak_most_restrictive(const AkLimitReport *report);
extern void ak_headers_build(AkHeaders *h, const AkLimitReport *report,
							 int64 now_us, int64 retry_after_us);
extern void ak_header_add(AkHeaders *h, const char *name, const char *value);
extern Jsonb *ak_headers_jsonb(const AkHeaders *h);
extern int64 ak_unix_seconds_ceil(int64 pg_us);

/* ---- quotas on the hot path (quota.c) ---- */

/* One debit of a key's quotas, kept to undo or report it. */
typedef struct AkQuotaCharge
{
	AkQuotaRequest req;
	AkQuotaOutcome out;
	int64		cost;
	int64		now_us;
} AkQuotaCharge;

extern bool ak_key_has_quota(const AkKeyInfo *key);
extern AkDebit ak_quota_debit(const AkKeyInfo *key, int64 cost, int64 now_us,
							  AkQuotaCharge *charge);
extern void ak_quota_undo(const AkKeyInfo *key, AkQuotaCharge *charge);
extern void ak_quota_announce(const AkKeyInfo *key, const AkQuotaCharge *charge);
extern void ak_refund_on_rollback(const AkKeyInfo *key, const AkQuotaCharge *charge,
								  int64 cost, TimestampTz charged_at);
extern void ak_quota_report(const AkQuotaCharge *charge, AkLimit *limit,
							AkLimitReport *report, int64 *retry_after_us);

/* ---- usage per key and hour (usage.c) ---- */
typedef enum AkUsageOutcome
{
	AK_USAGE_ALLOWED,
	AK_USAGE_RATE_LIMITED,		/* 429 and 503 other than quotas */
	AK_USAGE_QUOTA_EXCEEDED,
	AK_USAGE_DENIED_AUTH		/* 401 and 403 of a known key */
} AkUsageOutcome;

#define AK_LATENCY_BUCKETS	40	/* see usage.c */

extern void ak_usage_shmem_request(void);
extern void ak_usage_shmem_startup(void);
extern void ak_usage_request(const pg_uuid_t *key_id, AkUsageOutcome outcome,
							 int64 cost);
extern void ak_usage_charge(const pg_uuid_t *key_id, int64 cost, TimestampTz at);

/* the worker's side: usage collected, not yet in usage_hourly */
typedef struct AkUsagePending AkUsagePending;

extern AkUsagePending *ak_usage_pending_create(MemoryContext cxt);
extern int64 ak_usage_harvest(AkUsagePending *pending, int64 now_us);
extern int	ak_usage_last_used(AkUsagePending *pending, pg_uuid_t **ids,
							   TimestampTz **times);
extern void ak_usage_write(AkUsagePending *pending);
extern void ak_usage_written(AkUsagePending *pending, bool keys, bool hours);
extern bool ak_usage_is_empty(AkUsagePending *pending);
extern void ak_usage_forget_finished(int64 now_us);

/* ---- the limiter (limiter.c) ---- */

/* What a request was told. */
typedef struct AkDecision
{
	bool		allowed;
	int			status;			/* HTTP status */
	const char *code;
	const AkKeyInfo *key;		/* NULL when the token named no key */
	AkUsageOutcome usage;		/* how the key's usage counts it */
	AkLimitReport report;		/* the limits behind the answer, if any */
	AkLimit		ip_limit;		/* the per-address limit, report may point here */
	AkLimit		quota_limit;	/* a quota that refused, report may point here */
	int64		retry_after_us; /* -1: no Retry-After */
	int64		now_us;
} AkDecision;

extern void ak_check(text *token, text *scope, inet *client_ip, int64 cost,
					 AkDecision *d);
extern void ak_decision_headers(const AkDecision *d, AkHeaders *h);

/* ---- access events and quota alerts (events.c) ---- */
extern void ak_events_shmem_request(void);
extern void ak_events_shmem_startup(void);
extern void ak_event_denied(AkCode code, const AkKeyInfo *key,
							const inet *client_ip, const char *display,
							size_t display_len);
extern void ak_event_quota_alert(const pg_uuid_t *key_id, AkPeriod period,
								 int64 used, int64 quota, int percent);
extern void ak_events_attach_worker(void);
extern int	ak_events_collect(void);
extern void ak_events_write(void);
extern void ak_events_written(void);

/* ---- the background worker (worker.c) ---- */
extern void ak_worker_register(void);
extern void ak_worker_shmem_request(void);
extern void ak_worker_shmem_startup(void);
extern bool ak_audit_retention_running;
extern Datum ak_array_datum(Datum *values, bool *nulls, int n, Oid elemtype,
							Oid *argtype);
extern uint64 ak_worker_execute(const char *sql, int nargs, Oid *types,
								Datum *args, int ret);

#endif							/* APIKEY_H */
