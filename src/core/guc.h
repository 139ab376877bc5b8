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
extern char *ak_static_key_org;
extern char *ak_static_keys_file;
extern bool ak_production;
extern char *ak_signing_key_file;
extern int	ak_signature_max_skew;
extern int	ak_max_nonces;
extern int	ak_max_keys_cached;
extern bool ak_shared_key_cache;
extern int	ak_max_metadata_size;
extern int	ak_max_keys_per_owner;

/* the most apikey.max_metadata_size may be */
#define AK_MAX_METADATA_SIZE	(1024 * 1024)

/* limits */
extern int	ak_shared_memory_budget;
extern int	ak_max_buckets;
extern int	ak_max_named_buckets_per_role;
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
extern int	ak_flush_interval;
extern int	ak_denied_audit_window;
extern int	ak_usage_flush_interval;
extern int	ak_maintenance_interval;
extern int	ak_audit_retention;
extern int	ak_usage_retention;
extern int	ak_expiry_warning;

/* PostgREST */
extern char *ak_header_name;
extern char *ak_client_ip_header;
extern int	ak_error_style;
extern char *ak_jwt_secret;
extern char *ak_jwt_secret_file;
extern char *ak_jwt_role;
extern char *ak_authenticator_roles;
extern char *ak_manage_scope;
extern char *ak_jwt_privileged_roles;
extern char *ak_signature_header;
extern char *ak_signature_timestamp_header;
extern char *ak_signature_nonce_header;
extern char *ak_signature_body_header;
extern char *ak_certificate_header;
extern int	ak_refresh_token_ttl;

/* tests */
extern int	ak_test_clock_offset;

extern void ak_define_gucs(void);
extern bool ak_role_in_list(const char *list, const char *role);

#endif							/* AK_GUC_H */
