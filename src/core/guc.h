/*-------------------------------------------------------------------------
 *
 * guc.h
 *	  Every setting of apikey (apikey.*), defined and stored in guc.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AK_GUC_H
#define AK_GUC_H

/* apikey.on_table_full */
typedef enum AkTableFull
{
	AK_TABLE_FULL_CLOSED,		/* refuse: OVERLOADED */
	AK_TABLE_FULL_OPEN			/* admit without limiting */
} AkTableFull;

/* apikey.postgrest_error_style */
typedef enum AkErrorStyle
{
	AK_ERRORS_PGRST,			/* SQLSTATE PGRST with JSON: PostgREST >= 12 */
	AK_ERRORS_PT				/* SQLSTATE PTnnn: PostgREST 11 */
} AkErrorStyle;

/* keys and their verification */
extern char *ak_pepper_file;
extern char *ak_static_key;
extern char *ak_static_key_owner;
extern int	ak_max_keys_cached;

/* limits */
extern int	ak_max_buckets;
extern int	ak_on_table_full;
extern int	ak_ip_rate_limit;
extern int	ak_ip_rate_period;
extern int	ak_ip_burst;
extern int	ak_max_inflight;
extern int	ak_abuse_threshold;
extern int	ak_abuse_cooldown;
extern int	ak_inflight_reserve;
extern char *ak_anonymous_tier_name;

/* usage and the worker */
extern bool ak_track_usage;
extern int	ak_max_usage_entries;
extern char *ak_worker_database;
extern int	ak_flush_interval;
extern int	ak_maintenance_interval;
extern int	ak_audit_retention;
extern int	ak_usage_retention;
extern int	ak_expiry_warning;

/* PostgREST */
extern char *ak_header_name;
extern char *ak_client_ip_header;
extern int	ak_error_style;
extern char *ak_jwt_secret;
extern char *ak_jwt_role;

/* tests */
extern int	ak_test_clock_offset;

extern void ak_define_gucs(void);

#endif							/* AK_GUC_H */
