/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  Every setting of apikey: its variable, why it exists, and its
 *	  definition.  Defined once, by _PG_init in the postmaster, only when
 *	  the library is preloaded.
 *
 * Settings that reach secrets (the pepper file, the static key, the JWT
 * secret) are superuser-only and hidden from SHOW ALL.  The pepper is
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
#include "utils/guc.h"

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

/*
 * apikey.max_keys_cached: keys each backend keeps in its verification
 * cache; 0 reads the table at every verification.
 */
int			ak_max_keys_cached = 10000;

/* ---- limits ---- */

/*
 * apikey.max_buckets: entries of the shared table of buckets, slots,
 * quota counters and cooldowns.  Shared memory is sized at start.
 */
int			ak_max_buckets = 100000;

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
 * apikey.max_usage_entries: entries of the shared usage table, one per
 * key, hour and endpoint not yet written by the worker.
 */
int			ak_max_usage_entries = 20000;

/* apikey.database: the database the worker connects to. */
char	   *ak_worker_database = NULL;

/*
 * apikey.flush_interval: how often the worker writes quota counts, usage
 * and access events; the most quota counts a crash can lose.
 */
int			ak_flush_interval = 1000;	/* ms */

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

/* apikey.jwt_role: the role claim of JWTs for keys without a jwt_role. */
char	   *ak_jwt_role = NULL;

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

/*
 * apikey.static_key, falling back to the APIKEY_STATIC_KEY environment
 * variable.  Runs after the pepper is loaded: the digest is keyed.
 */
static void
ak_define_static_key(void)
{
	const char *env = getenv("APIKEY_STATIC_KEY");

	DefineCustomStringVariable("apikey.static_key",
							   "A development key accepted without a row in apikey.keys.",
							   "Shown as its BLAKE2b digest. Empty disables it. "
							   "Also read from the APIKEY_STATIC_KEY environment variable at start.",
							   &ak_static_key,
							   "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL,
							   ak_static_key_check, ak_static_key_assign, NULL);

	if (env != NULL && *env != '\0')
	{
		/* a value from the configuration file has priority and stays */
		SetConfigOption("apikey.static_key", env, PGC_POSTMASTER, PGC_S_ENV_VAR);
		/* keep it out of the environment of every process forked later */
		unsetenv("APIKEY_STATIC_KEY");
	}
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

	DefineCustomIntVariable("apikey.max_keys_cached",
							"Keys each backend keeps in its verification cache.",
							"0 disables the cache: every verification reads the table.",
							&ak_max_keys_cached,
							10000, 0, 10000000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
}

static void
ak_define_limit_settings(void)
{
	DefineCustomIntVariable("apikey.max_buckets",
							"Rate-limit buckets kept in shared memory.",
							"About 90 bytes each. Full buckets are evicted when room is needed.",
							&ak_max_buckets,
							100000, 1000, INT_MAX / 2,
							PGC_POSTMASTER,
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
							 "Counts each key's requests per hour for apikey.usage_hourly.",
							 "Quotas are counted either way.",
							 &ak_track_usage,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("apikey.max_usage_entries",
							"Entries of hourly usage kept in shared memory.",
							"One per key, hour and endpoint not yet written by the worker; about 350 bytes each.",
							&ak_max_usage_entries,
							20000, 1000, INT_MAX / 2,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("apikey.database",
							   "Database the apikey worker connects to.",
							   "The database where CREATE EXTENSION apikey was run.",
							   &ak_worker_database,
							   "postgres",
							   PGC_POSTMASTER,
							   0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("apikey.flush_interval",
							"How often the worker writes quota counts, usage and access events.",
							"A crash loses at most this much of quota counts.",
							&ak_flush_interval,
							1000, 10, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
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
							"Age after which the worker deletes usage_hourly rows.",
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
							   NULL, NULL, NULL);

	DefineCustomStringVariable("apikey.jwt_role",
							   "Role claim of JWTs minted by exchange() for keys without a jwt_role.",
							   NULL,
							   &ak_jwt_role,
							   "authenticated",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);
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
