/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  Every setting of apikey: its variable, why it exists, and its
 *	  definition.  Defined once, by _PG_init in the postmaster, only when
 *	  the library is preloaded.
 *
 * Settings that reach secrets (the pepper file, the static key, the JWT
 * secret) are superuser-only and hidden from SHOW ALL; the static key and
 * the JWT secret are refused where other roles could read them
 * (core/secretsource.c).  The pepper is
 * loaded as soon as its file is known, before the static key is defined:
 * the static key's digest is keyed with it.
 *
 *-------------------------------------------------------------------------
 */
#include "apikey.h"

#include <limits.h>
#include <stdlib.h>

#include "core/guc.h"
#include "core/secret.h"
#include "core/secretsource.h"
#include "core/signkey.h"
#include "core/statickeys.h"
#include "utils/guc.h"
#include "utils/varlena.h"

/* ---- keys and their verification ---- */

/*
 * apikey.pepper_file: a file of 64 hexadecimal digits that keys every
 * token digest.  Read once at server start; changing it makes every stored
 * key unknown, which is why it is a postmaster setting.
 */
char	   *ak_pepper_file = NULL;

/*
 * apikey.static_key: a development key accepted without a row in
 * apikey.keys.  Stored as its digest by its check hook (core/secret.c).
 */
char	   *ak_static_key = NULL;

/* apikey.static_key_owner: the owner the static key verifies as. */
char	   *ak_static_key_owner = NULL;

/* apikey.static_key_org: the org the static key verifies with; "" none. */
char	   *ak_static_key_org = NULL;

/*
 * apikey.static_keys_file: more development keys, one "token owner [org]"
 * per line, read once at server start (core/statickeys.c).
 */
char	   *ak_static_keys_file = NULL;

/*
 * apikey.production: this server serves production traffic, so the static
 * development keys are refused (answered REVOKED) and that is logged.
 */
bool		ak_production = false;

/*
 * apikey.signing_key_file: the root secrets every key's signing secret is
 * derived from (core/signkey.c); read once at server start.
 */
char	   *ak_signing_key_file = NULL;

/*
 * apikey.signature_max_skew: how far a signed request's timestamp may be
 * from the server's clock, and so how long its nonce is remembered.  Fixed
 * at start: a window that grew while the server runs would let nonces
 * forgotten under the old one be replayed.
 */
int			ak_signature_max_skew = 300;	/* s */

/*
 * apikey.max_nonces: the most nonces remembered at once (within the nonces'
 * share of apikey.shared_memory_budget).
 */
int			ak_max_nonces = 50000;

/*
 * apikey.shared_key_cache: a miss of a backend's verification cache looks
 * in a cache shared by all backends before it reads the tables (auth/
 * keyshare.c), so that a million keys need not be read once per backend.
 */
bool		ak_shared_key_cache = true;

/*
 * apikey.max_keys_cached: keys each backend keeps in its verification
 * cache; 0 reads the table at every verification.
 */
int			ak_max_keys_cached = 10000;

/*
 * apikey.max_metadata_size: the largest metadata a key may have.  Each
 * backend caches the metadata of the keys it verifies, so one owner's
 * large metadata would cost memory in every pooled connection.
 */
int			ak_max_metadata_size = 4096;	/* bytes */

/*
 * apikey.max_keys_per_owner: live keys an owner who is not an admin may
 * have, so that no tenant fills the table and the caches alone; 0 is no
 * limit.
 */
int			ak_max_keys_per_owner = 100;

/* ---- limits ---- */

/*
 * apikey.shared_memory_budget: the most dynamic shared memory apikey's
 * tables may take (shmem/area.c), in MB; they grow into it as needed.
 */
int			ak_shared_memory_budget = 512;

/*
 * apikey.max_buckets: an optional cap on the entries of each table of
 * limiter state (key, address, named buckets; quota counters; cooldowns)
 * below what the budget allows; 0: the budget alone.
 */
int			ak_max_buckets = 0;

/*
 * apikey.max_named_buckets_per_role: throttle() buckets a role may keep
 * live in a database.
 */
int			ak_max_named_buckets_per_role = 10000;

/*
 * apikey.on_table_full: what check() does when that table is full of
 * entries that cannot be evicted: refuse (OVERLOADED) or admit unlimited.
 */
int			ak_on_table_full = AK_TABLE_FULL_CLOSED;

/*
 * apikey.ip_rate_limit, ip_rate_period, ip_burst: the bucket every client
 * address gets in check(), when it is given; 0 disables it.
 */
int			ak_ip_rate_limit = 0;
int			ak_ip_rate_period = 1;
int			ak_ip_burst = 0;

/*
 * apikey.max_inflight: admitted requests in flight across the server
 * before check() sheds load with OVERLOADED; 0 disables it.
 */
int			ak_max_inflight = 0;

/*
 * apikey.abuse_threshold and abuse_cooldown: failed verifications per
 * minute, per address or display prefix, that start a cooldown, and its
 * length.
 */
int			ak_abuse_threshold = 0;
int			ak_abuse_cooldown = 300;

/*
 * apikey.inflight_reserve: the share of apikey.max_inflight, in percent,
 * kept from lower priorities: priority p may fill max_inflight less
 * reserve * (3 - p) / 3, rounded up.  0: every priority may fill it all.
 */
int			ak_inflight_reserve = 0;

/*
 * apikey.anonymous_tier: the tier whose rate limits requests without a
 * key get, per client address; empty: such requests need a public
 * endpoint.
 */
char	   *ak_anonymous_tier_name = NULL;

/* ---- usage and the worker ---- */

/* apikey.track_usage: whether requests are counted for usage_hourly. */
bool		ak_track_usage = true;

/*
 * apikey.max_usage_entries: an optional cap on the entries of the shared
 * usage table, one per key, hour and endpoint; 0: the budget alone.
 */
int			ak_max_usage_entries = 0;

/*
 * apikey.flush_interval: how often the worker writes quota counts and
 * access events; the most quota counts a crash can lose.
 */
int			ak_flush_interval = 1000;	/* ms */

/*
 * apikey.usage_flush_interval: how often the worker writes usage and the
 * keys' last use (and at the end of every hour); the most usage a crash
 * can lose.
 */
int			ak_usage_flush_interval = 60000;	/* ms */

/*
 * apikey.denied_audit_window: failed verifications of one key, address or
 * prefix are one audit row, with a count, per window of this many seconds.
 */
int			ak_denied_audit_window = 60;

/* apikey.maintenance_interval: how often keys expire and rows are purged. */
int			ak_maintenance_interval = 60000;	/* ms */

/* apikey.audit_retention and usage_retention: ages of rows purged; 0 keeps. */
int			ak_audit_retention = 90 * 86400;	/* s */
int			ak_usage_retention = 400 * 86400;	/* s */

/*
 * apikey.expiry_warning: how long before its expires_at a key's owner is
 * warned (NOTIFY apikey_expiry and an audit row); 0: never.
 */
int			ak_expiry_warning = 7 * 86400;	/* s */

/* ---- PostgREST ---- */

/* apikey.header: the request header carrying the key, lower case. */
char	   *ak_header_name = NULL;

/*
 * apikey.client_ip_header: the request header whose first address is the
 * client's.  Only trustworthy when a proxy in front of PostgREST sets it.
 */
char	   *ak_client_ip_header = NULL;

/* apikey.postgrest_error_style: PGRST (PostgREST >= 12) or PTnnn (11). */
int			ak_error_style = AK_ERRORS_PGRST;

/* apikey.jwt_secret: the HS256 secret exchange() signs JWTs with. */
char	   *ak_jwt_secret = NULL;

/*
 * apikey.jwt_secret_file: a file holding that secret, read at start and at
 * each reload; it wins over apikey.jwt_secret (core/secretsource.c).
 */
char	   *ak_jwt_secret_file = NULL;

/* apikey.jwt_role: the role claim of JWTs for keys without a jwt_role. */
char	   *ak_jwt_role = NULL;

/*
 * apikey.authenticator_roles: the roles PostgREST logs in as.  Request
 * settings (request.jwt.claims, request.headers, request.method) describe
 * a request only in a session of one of them that has switched to the
 * request's role (core/request.c); any other session can set them to
 * anything.
 */
char	   *ak_authenticator_roles = NULL;

/*
 * apikey.manage_scope: the scope a key verified by check_request() needs
 * to manage keys (lifecycle/rights.c).
 */
char	   *ak_manage_scope = NULL;

/*
 * apikey.jwt_privileged_roles: roles a key's jwt_role may name although
 * they have BYPASSRLS or CREATEROLE (Supabase's service_role), because an
 * admin said so here.
 */
char	   *ak_jwt_privileged_roles = NULL;

/*
 * apikey.signature_header, signature_timestamp_header,
 * signature_nonce_header, signature_body_header: the request headers of a
 * signed request, for check_request() (the body's digest too: PostgREST
 * does not hand the body to the pre-request).
 */
char	   *ak_signature_header = NULL;
char	   *ak_signature_timestamp_header = NULL;
char	   *ak_signature_nonce_header = NULL;
char	   *ak_signature_body_header = NULL;

/*
 * apikey.certificate_header: the request header in which the proxy in
 * front of PostgREST passes the client certificate (its SHA-256
 * fingerprint, or the URL-encoded PEM); "" trusts no header.
 */
char	   *ak_certificate_header = NULL;

/* apikey.refresh_token_ttl: how long a refresh token may go unused. */
int			ak_refresh_token_ttl = 30 * 86400;	/* s */

/* ---- tests ---- */

/*
 * apikey.test_clock_offset: moves apikey's clock (core/clock.c), so that
 * tests can cross a refill, an expiry or a midnight without waiting.
 */
int			ak_test_clock_offset = 0;


static const struct config_enum_entry ak_error_style_options[] = {
	{"pgrst", AK_ERRORS_PGRST, false},
	{"pt", AK_ERRORS_PT, false},
	{NULL, 0, false}
};

static const struct config_enum_entry ak_table_full_options[] = {
	{"closed", AK_TABLE_FULL_CLOSED, false},
	{"open", AK_TABLE_FULL_OPEN, false},
	{NULL, 0, false}
};

/* Header names as PostgREST passes them: lower case, not empty. */
static bool
ak_check_header_name(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || **newval == '\0' || strlen(*newval) >= NAMEDATALEN)
	{
		GUC_check_errdetail("A header name has 1 to %d characters.", NAMEDATALEN - 1);
		return false;
	}
	for (char *p = *newval; *p; p++)
		*p = pg_tolower((unsigned char) *p);
	return true;
}

/* Header names that may be empty: "" turns the feature off. */
static bool
ak_check_optional_header_name(char **newval, void **extra, GucSource source)
{
	if (*newval != NULL && **newval == '\0')
		return true;
	return ak_check_header_name(newval, extra, source);
}

/*
 * apikey.authenticator_roles and apikey.jwt_privileged_roles: a list of
 * role names, written as search_path is (unquoted names in lower case).
 */
static bool
ak_role_list_check(char **newval, void **extra, GucSource source)
{
	char	   *copy = pstrdup(*newval ? *newval : "");
	List	   *names;
	bool		ok = SplitIdentifierString(copy, ',', &names);

	if (!ok)
		GUC_check_errdetail("It must be a list of role names separated by commas.");
	list_free(names);
	pfree(copy);
	return ok;
}

/* Whether role is one of the names of a role list setting. */
bool
ak_role_in_list(const char *list, const char *role)
{
	char	   *copy = pstrdup(list ? list : "");
	List	   *names;
	ListCell   *lc;
	bool		found = false;

	if (SplitIdentifierString(copy, ',', &names))
		foreach(lc, names)
			if (strcmp((const char *) lfirst(lc), role) == 0)
				found = true;
	list_free(names);
	pfree(copy);
	return found;
}

/* A scope as keys carry them: not empty, no white space. */
static bool
ak_check_scope_name(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || **newval == '\0' || strlen(*newval) > 256)
	{
		GUC_check_errdetail("A scope has 1 to 256 characters.");
		return false;
	}
	for (char *p = *newval; *p; p++)
		if (isspace((unsigned char) *p) || iscntrl((unsigned char) *p))
		{
			GUC_check_errdetail("A scope has no white space.");
			return false;
		}
	return true;
}

/*
 * The static key of the environment: STATIC_API_KEY, or APIKEY_STATIC_KEY
 * (its older name).  Both set to different keys is a mistake that would
 * leave one of them silently unused: the server refuses to start.
 */
static const char *
ak_static_key_env(void)
{
	const char *env = getenv("STATIC_API_KEY");
	const char *legacy = getenv("APIKEY_STATIC_KEY");

	if (env != NULL && *env != '\0' && legacy != NULL && *legacy != '\0' &&
		strcmp(env, legacy) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("STATIC_API_KEY and APIKEY_STATIC_KEY are set to different keys"),
				 errdetail("Both name the static development key of apikey."),
				 errhint("Set one of them.")));
	return (env != NULL && *env != '\0') ? env : legacy;
}

/* A setting's value from an environment variable, unless the file set it. */
static void
ak_setting_from_env(const char *setting, const char *variable)
{
	const char *env = getenv(variable);

	if (env != NULL && *env != '\0')
		SetConfigOption(setting, env, PGC_POSTMASTER, PGC_S_ENV_VAR);
}

/*
 * apikey.static_key, falling back to the STATIC_API_KEY (or
 * APIKEY_STATIC_KEY) environment variable.  Runs after the pepper is
 * loaded: the digest is keyed.
 */
static void
ak_define_static_key(void)
{
	const char *env = ak_static_key_env();

	DefineCustomStringVariable("apikey.static_key",
							   "A development key accepted without a row in apikey.keys.",
							   "Shown as its BLAKE2b digest. Empty disables it. "
							   "Also read from the STATIC_API_KEY (or APIKEY_STATIC_KEY) environment variable at start.",
							   &ak_static_key,
							   "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL,
							   ak_static_key_check, ak_static_key_assign, NULL);

	/* a value from the configuration file has priority and stays */
	if (env != NULL && *env != '\0')
		SetConfigOption("apikey.static_key", env, PGC_POSTMASTER, PGC_S_ENV_VAR);
	/* keep it out of the environment of every process forked later */
	unsetenv("STATIC_API_KEY");
	unsetenv("APIKEY_STATIC_KEY");
}

/*
 * The key settings of enterprise authentication: the static key's owner
 * and org from the environment, more static keys, the production switch,
 * request signing.  The static keys' file is read after the pepper: their
 * digests are keyed with it.
 */
static void
ak_define_enterprise_key_settings(void)
{
	ak_setting_from_env("apikey.static_key_owner", "STATIC_API_KEY_USER_ID");

	DefineCustomStringVariable("apikey.static_key_org",
							   "Org reported for the static development key.",
							   "Empty: none. Also read from the STATIC_API_KEY_ORG_ID environment variable at start.",
							   &ak_static_key_org,
							   "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	ak_setting_from_env("apikey.static_key_org", "STATIC_API_KEY_ORG_ID");

	DefineCustomStringVariable("apikey.static_keys_file",
							   "File of more static development keys: one \"token owner [org]\" per line.",
							   "Read once at server start; each key verifies as its owner and org.",
							   &ak_static_keys_file,
							   "",
							   PGC_POSTMASTER,
							   GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	if (ak_static_keys_file != NULL && *ak_static_keys_file != '\0')
		ak_static_keys_load(ak_static_keys_file);

	DefineCustomBoolVariable("apikey.production",
							 "This server serves production: static development keys are refused.",
							 "A static key then answers REVOKED, and a warning is logged.",
							 &ak_production,
							 false,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("apikey.signing_key_file",
							   "File holding the root secrets of request signing.",
							   "Lines of 64 hexadecimal digits: the current root first, then earlier ones still accepted.",
							   &ak_signing_key_file,
							   "",
							   PGC_POSTMASTER,
							   GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	if (ak_signing_key_file != NULL && *ak_signing_key_file != '\0')
		ak_signing_roots_load(ak_signing_key_file);

	DefineCustomIntVariable("apikey.signature_max_skew",
							"How far a signed request's timestamp may be from the server's clock.",
							"Nonces are remembered this long.",
							&ak_signature_max_skew,
							300, 1, 3600,
							PGC_POSTMASTER,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("apikey.max_nonces",
							"Most nonces of signed requests remembered in shared memory.",
							"About 90 bytes each. When full of nonces still in their window, signed requests with a nonce are refused.",
							&ak_max_nonces,
							50000, 1000, INT_MAX / 2,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	ak_static_keys_announce(ak_static_key != NULL && *ak_static_key != '\0',
							ak_production);
}

static void
ak_define_key_settings(void)
{
	/* first: the pepper keys every digest, including the static key's */
	DefineCustomStringVariable("apikey.pepper_file",
							   "File holding the server pepper that keys token digests.",
							   "64 hexadecimal digits. Changing it makes every stored key unknown.",
							   &ak_pepper_file,
							   "",
							   PGC_POSTMASTER,
							   GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	if (ak_pepper_file != NULL && *ak_pepper_file != '\0')
		ak_pepper_load(ak_pepper_file);

	ak_define_static_key();

	DefineCustomStringVariable("apikey.static_key_owner",
							   "Owner reported for the static development key.",
							   NULL,
							   &ak_static_key_owner,
							   "static",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomBoolVariable("apikey.shared_key_cache",
							 "Shares the keys read by any backend with the others' caches.",
							 "A miss of a backend's cache then looks in shared memory before the tables.",
							 &ak_shared_key_cache,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("apikey.max_keys_cached",
							"Keys each backend keeps in its verification cache.",
							"0 disables the cache: every verification reads the table.",
							&ak_max_keys_cached,
							10000, 0, 10000000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("apikey.max_metadata_size",
							"Largest metadata of a key, in its stored (jsonb) form.",
							"Checked by issue() and update(); every backend caches the metadata of the keys it verifies.",
							&ak_max_metadata_size,
							4096, 0, AK_MAX_METADATA_SIZE,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("apikey.max_keys_per_owner",
							"Live keys an owner who is not an admin may have.",
							"Keys neither revoked, expired nor rotated away. 0 means no limit.",
							&ak_max_keys_per_owner,
							100, 0, INT_MAX,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	ak_define_enterprise_key_settings();
}

static void
ak_define_limit_settings(void)
{
	DefineCustomIntVariable("apikey.shared_memory_budget",
							"Dynamic shared memory apikey's buckets, counters, usage and key cache may take.",
							"They grow into it as needed; each class of them is guaranteed a share.",
							&ak_shared_memory_budget,
							512, 1, INT_MAX / 2,
							PGC_SIGHUP,
							GUC_UNIT_MB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("apikey.max_buckets",
							"Optional cap on the entries of each table of limiter state.",
							"0 leaves it to apikey.shared_memory_budget. Idle entries are reused when room is needed.",
							&ak_max_buckets,
							0, 0, INT_MAX / 2,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("apikey.max_named_buckets_per_role",
							"throttle() buckets a role may keep live in a database.",
							"Beyond it the role's new names are answered as a full table (apikey.on_table_full).",
							&ak_max_named_buckets_per_role,
							10000, 1, INT_MAX / 2,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("apikey.on_table_full",
							 "What check() does when the bucket table is full of non-full buckets.",
							 "closed refuses with OVERLOADED; open admits without limiting.",
							 &ak_on_table_full,
							 AK_TABLE_FULL_CLOSED, ak_table_full_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("apikey.ip_rate_limit",
							"Requests per apikey.ip_rate_period allowed per client address.",
							"0 disables the per-address limit.",
							&ak_ip_rate_limit,
							0, 0, 1000000000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("apikey.ip_rate_period",
							"Period of the per-address limit.",
							NULL,
							&ak_ip_rate_period,
							1, 1, 86400,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("apikey.ip_burst",
							"Burst of the per-address limit.",
							"0 means apikey.ip_rate_limit.",
							&ak_ip_burst,
							0, 0, 1000000000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("apikey.max_inflight",
							"Admitted requests in flight across the server before check() answers OVERLOADED.",
							"0 disables the limit. A request is in flight until its transaction ends.",
							&ak_max_inflight,
							0, 0, INT_MAX,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("apikey.abuse_threshold",
							"Failed verifications per minute, per client address or display prefix, that start a cooldown.",
							"0 disables abuse detection.",
							&ak_abuse_threshold,
							0, 0, 1000000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("apikey.abuse_cooldown",
							"How long an abusive address or key is answered BLOCKED.",
							NULL,
							&ak_abuse_cooldown,
							300, 1, 7 * 86400,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("apikey.inflight_reserve",
							"Percent of apikey.max_inflight kept from lower priorities.",
							"Priority p (0 to 3) may fill max_inflight less reserve * (3 - p) / 3 of it, rounded up.",
							&ak_inflight_reserve,
							0, 0, 100,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("apikey.anonymous_tier",
							   "Tier whose rate limits requests without a key get, per client address.",
							   "Empty: a request without a key needs a public endpoint.",
							   &ak_anonymous_tier_name,
							   "",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);
}

static void
ak_define_worker_settings(void)
{
	DefineCustomBoolVariable("apikey.track_usage",
							 "Counts each key's requests per hour, for apikey.usage_hours and the usage views.",
							 "Quotas are counted either way.",
							 &ak_track_usage,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("apikey.max_usage_entries",
							"Optional cap on the entries of usage kept in shared memory.",
							"0 leaves it to apikey.shared_memory_budget. One per key, hour and endpoint.",
							&ak_max_usage_entries,
							0, 0, INT_MAX / 2,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("apikey.flush_interval",
							"How often the worker writes quota counts and access events.",
							"A crash loses at most this much of quota counts.",
							&ak_flush_interval,
							1000, 10, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("apikey.usage_flush_interval",
							"How often the worker writes usage and the keys' last use.",
							"Also at the end of each hour. The usage views show what is not written yet, live; a crash loses at most this much of it.",
							&ak_usage_flush_interval,
							60000, 100, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("apikey.denied_audit_window",
							"Failed verifications of one key, client address or prefix become one audit row per window of this length.",
							"The row counts them; it is written when the window is over.",
							&ak_denied_audit_window,
							60, 1, 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("apikey.maintenance_interval",
							"How often the worker expires keys and purges old rows.",
							NULL,
							&ak_maintenance_interval,
							60000, 100, 86400 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("apikey.audit_retention",
							"Age after which the worker deletes audit_log rows.",
							"0 keeps them forever.",
							&ak_audit_retention,
							90 * 86400, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("apikey.usage_retention",
							"Age after which the worker deletes rows of apikey.usage_hours.",
							"0 keeps them forever.",
							&ak_usage_retention,
							400 * 86400, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("apikey.expiry_warning",
							"How long before a key expires its owner is warned.",
							"NOTIFY apikey_expiry and an audit row, once per expiry; 0 never warns.",
							&ak_expiry_warning,
							7 * 86400, 0, 366 * 86400,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);
}

/* check_request()'s headers of signed requests and certificates; refresh. */
static void
ak_define_enterprise_postgrest_settings(void)
{
	DefineCustomStringVariable("apikey.signature_header",
							   "Request header carrying the request's signature, for check_request().",
							   "Lower-case hexadecimal HMAC-SHA-256; see doc/authentication.md.",
							   &ak_signature_header,
							   "x-signature",
							   PGC_SUSET,
							   0,
							   ak_check_header_name, NULL, NULL);

	DefineCustomStringVariable("apikey.signature_timestamp_header",
							   "Request header carrying a signed request's Unix time, for check_request().",
							   NULL,
							   &ak_signature_timestamp_header,
							   "x-signature-timestamp",
							   PGC_SUSET,
							   0,
							   ak_check_header_name, NULL, NULL);

	DefineCustomStringVariable("apikey.signature_nonce_header",
							   "Request header carrying a signed request's nonce, for check_request().",
							   NULL,
							   &ak_signature_nonce_header,
							   "x-signature-nonce",
							   PGC_SUSET,
							   0,
							   ak_check_header_name, NULL, NULL);

	DefineCustomStringVariable("apikey.signature_body_header",
							   "Request header carrying the SHA-256 of a signed request's body, for check_request().",
							   "PostgREST does not give the body to the pre-request.",
							   &ak_signature_body_header,
							   "x-content-sha256",
							   PGC_SUSET,
							   0,
							   ak_check_header_name, NULL, NULL);

	DefineCustomStringVariable("apikey.certificate_header",
							   "Request header in which the proxy passes the client certificate, for check_request().",
							   "Its SHA-256 fingerprint or URL-encoded PEM. Empty trusts no header.",
							   &ak_certificate_header,
							   "",
							   PGC_SUSET,
							   0,
							   ak_check_optional_header_name, NULL, NULL);

	DefineCustomIntVariable("apikey.refresh_token_ttl",
							"How long a refresh token of exchange() may go unused.",
							"Each refresh() returns a new one, valid this long.",
							&ak_refresh_token_ttl,
							30 * 86400, 60, 366 * 86400,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);
}

static void
ak_define_postgrest_settings(void)
{
	DefineCustomStringVariable("apikey.header",
							   "Request header that carries the API key, for check_request().",
							   "A lower-case header name, as PostgREST passes them.",
							   &ak_header_name,
							   "x-api-key",
							   PGC_SUSET,
							   0,
							   ak_check_header_name, NULL, NULL);

	DefineCustomStringVariable("apikey.client_ip_header",
							   "Request header whose first address is the client's, for check_request().",
							   "Only trustworthy when a proxy in front of PostgREST sets it.",
							   &ak_client_ip_header,
							   "x-forwarded-for",
							   PGC_SUSET,
							   0,
							   ak_check_header_name, NULL, NULL);

	DefineCustomEnumVariable("apikey.postgrest_error_style",
							 "How check_request() refuses a request inside PostgREST.",
							 "pgrst: SQLSTATE PGRST with status and headers (PostgREST 12 and later); pt: SQLSTATE PTnnn (PostgREST 11).",
							 &ak_error_style,
							 AK_ERRORS_PGRST,
							 ak_error_style_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("apikey.jwt_secret",
							   "Secret exchange() signs JWTs with: PostgREST's jwt-secret.",
							   NULL,
							   &ak_jwt_secret,
							   "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   ak_jwt_secret_check, NULL, NULL);

	DefineCustomStringVariable("apikey.jwt_role",
							   "Role claim of JWTs minted by exchange() for keys without a jwt_role.",
							   NULL,
							   &ak_jwt_role,
							   "authenticated",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("apikey.authenticator_roles",
							   "Roles PostgREST logs in as: request settings count only in their sessions, once switched to another role.",
							   "Elsewhere request.jwt.claims, request.headers and request.method are ignored, and the caller is its role.",
							   &ak_authenticator_roles,
							   "authenticator",
							   PGC_SUSET,
							   GUC_LIST_INPUT,
							   ak_role_list_check, NULL, NULL);

	DefineCustomStringVariable("apikey.manage_scope",
							   "Scope a key verified by check_request() needs to manage keys.",
							   NULL,
							   &ak_manage_scope,
							   "apikey:manage",
							   PGC_SUSET,
							   0,
							   ak_check_scope_name, NULL, NULL);

	DefineCustomStringVariable("apikey.jwt_privileged_roles",
							   "Roles a key's jwt_role may name although they have BYPASSRLS or CREATEROLE.",
							   "Empty by default: exchange() mints no JWT for a role that bypasses row-level security.",
							   &ak_jwt_privileged_roles,
							   "",
							   PGC_SUSET,
							   GUC_LIST_INPUT,
							   ak_role_list_check, NULL, NULL);

	DefineCustomStringVariable("apikey.jwt_secret_file",
							   "File holding the secret exchange() signs JWTs with, instead of apikey.jwt_secret.",
							   "Read at start and at each reload; the file must not be accessible to its group or others.",
							   &ak_jwt_secret_file,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE,
							   ak_jwt_secret_file_check, ak_jwt_secret_file_assign, NULL);

	ak_define_enterprise_postgrest_settings();
}

/*
 * Defines every setting, in this order: keys, limits, the worker,
 * PostgREST, tests.  Then reserves the prefix, so that a misspelled
 * apikey.* setting is reported rather than silently kept.
 */
void
ak_define_gucs(void)
{
	ak_define_key_settings();
	ak_define_limit_settings();
	ak_define_worker_settings();
	ak_define_postgrest_settings();

	DefineCustomIntVariable("apikey.test_clock_offset",
							"Moves apikey's clock, for tests of refill and expiry.",
							"Not for production: it changes every decision of the session.",
							&ak_test_clock_offset,
							0, INT_MIN, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_MS | GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("apikey");
}
