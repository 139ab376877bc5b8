-- pg_dump keeps the rows of these tables (the three seeded tiers are
-- re-created by CREATE EXTENSION, so only tiers added later are dumped).
SELECT pg_catalog.pg_extension_config_dump('apikey.keys', '');
SELECT pg_catalog.pg_extension_config_dump('apikey.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('apikey.audit_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('apikey.usage_hours', '');
SELECT pg_catalog.pg_extension_config_dump('apikey.scope_map', '');
SELECT pg_catalog.pg_extension_config_dump('apikey.quota_counters', '');
SELECT pg_catalog.pg_extension_config_dump('apikey.shared_throttles', '');
SELECT pg_catalog.pg_extension_config_dump('apikey.certificates', '');
SELECT pg_catalog.pg_extension_config_dump('apikey.refresh_tokens', '');
SELECT pg_catalog.pg_extension_config_dump('apikey.tiers',
    $$WHERE name NOT IN ('free', 'premium', 'enterprise')$$);
