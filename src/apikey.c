/*-------------------------------------------------------------------------
 *
 * apikey.c
 *	  Module load: libsodium, the GUCs of contract §10, the shared-memory
 *	  hooks, and the guard every SQL entry point calls.
 *
 * Everything but sodium_init() happens only while the postmaster loads
 * shared_preload_libraries: without shared memory there is nothing apikey
 * can do correctly, so a library loaded any other way (CREATE EXTENSION in
 * a server that does not preload it) only makes each entry point report
 * SQLSTATE 55000.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "access/xact.h"
#include "apikey.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

PG_MODULE_MAGIC;

/* GUC variables (ak_max_buckets lives in bucket.c) */
int			ak_max_keys_cached = 10000;
char	   *ak_pepper_file = NULL;
char	   *ak_static_key_owner = NULL;
int			ak_on_table_full = AK_TABLE_FULL_CLOSED;
int			ak_ip_rate_limit = 0;
int			ak_ip_rate_period = 1;
int			ak_ip_burst = 0;
int			ak_max_inflight = 0;
int			ak_abuse_threshold = 0;
int			ak_abuse_cooldown = 300;
static int	ak_test_clock_offset = 0;

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

bool		ak_preloaded = false;
bool		ak_handling_token = false;

static emit_log_hook_type prev_emit_log_hook = NULL;

void		_PG_init(void);

void
ak_report_not_preloaded(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("apikey must be loaded via shared_preload_libraries"),
			 errhint("Add apikey to shared_preload_libraries in postgresql.conf and restart the server."),
			 errhidestmt(true)));
}

/*
 * Any message raised while a token is in hand -- ours, or PostgreSQL's from
 * deep inside an index scan -- is logged without its statement, which may
 * carry the token (log_min_error_statement).  An ERROR leaves the token path
 * for good, so the flag is cleared with it; errors caught by an exception
 * block clear it at (sub)transaction abort (ak_token_path_abort).
 */
static void
ak_emit_log(ErrorData *edata)
{
	if (ak_handling_token)
	{
		edata->hide_stmt = true;
		if (edata->elevel >= ERROR)
			ak_handling_token = false;
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

static void
ak_token_path_abort(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		ak_handling_token = false;
}

static void
ak_token_path_subabort(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		ak_handling_token = false;
}

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

static void
ak_define_gucs(void)
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

	ak_define_static_key_guc();

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

	DefineCustomIntVariable("apikey.test_clock_offset",
							"Moves apikey's clock, for tests of refill and expiry.",
							"Not for production: it changes every decision of the session.",
							&ak_test_clock_offset,
							0, INT_MIN, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_MS | GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL,
							NULL, NULL, NULL);
}

/* Doubles the room of a backend-lifetime array (8 elements at first). */
void *
ak_array_grow(void *array, int *size, Size elem_size)
{
	int			new_size = Max(8, *size * 2);

	array = array ? repalloc(array, new_size * elem_size)
		: MemoryContextAlloc(TopMemoryContext, new_size * elem_size);
	*size = new_size;
	return array;
}

int64
ak_now_us(void)
{
	return GetCurrentTimestamp() + (int64) ak_test_clock_offset * 1000;
}

void
_PG_init(void)
{
	if (sodium_init() < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not initialize libsodium")));

	if (!process_shared_preload_libraries_in_progress)
		return;

	ak_define_gucs();
	MarkGUCPrefixReserved("apikey");
	ak_shmem_install_hooks();
	if (!IsBinaryUpgrade)
		ak_worker_register();

	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = ak_emit_log;
	RegisterXactCallback(ak_token_path_abort, NULL);
	RegisterSubXactCallback(ak_token_path_subabort, NULL);
	ak_preloaded = true;
}
