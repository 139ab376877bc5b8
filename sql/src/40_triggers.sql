------------------------------------------------------------------------
-- Triggers: cache invalidation and the append-only audit log
------------------------------------------------------------------------

CREATE FUNCTION apikey._invalidate()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'apikey_invalidate_trigger';

CREATE FUNCTION apikey._audit_guard()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'apikey_audit_guard';

CREATE TRIGGER keys_invalidate_insert
    AFTER INSERT ON apikey.keys
    FOR EACH ROW EXECUTE FUNCTION apikey._invalidate();

-- Usage counters and last_used_at change every flush; they are not cached.
CREATE TRIGGER keys_invalidate_update
    AFTER UPDATE ON apikey.keys
    FOR EACH ROW
    WHEN ((OLD.key_hash, OLD.prefix, OLD.owner, OLD.org, OLD.name, OLD.scopes,
           OLD.tier, OLD.rate_limits, OLD.daily_quota, OLD.monthly_quota,
           OLD.max_concurrency, OLD.allowed_ips, OLD.metadata, OLD.expires_at,
           OLD.revoked_at, OLD.rotated_to)
          IS DISTINCT FROM
          (NEW.key_hash, NEW.prefix, NEW.owner, NEW.org, NEW.name, NEW.scopes,
           NEW.tier, NEW.rate_limits, NEW.daily_quota, NEW.monthly_quota,
           NEW.max_concurrency, NEW.allowed_ips, NEW.metadata, NEW.expires_at,
           NEW.revoked_at, NEW.rotated_to))
    EXECUTE FUNCTION apikey._invalidate();

CREATE TRIGGER keys_invalidate_delete
    AFTER DELETE ON apikey.keys
    FOR EACH ROW EXECUTE FUNCTION apikey._invalidate();

CREATE TRIGGER keys_invalidate_truncate
    AFTER TRUNCATE ON apikey.keys
    FOR EACH STATEMENT EXECUTE FUNCTION apikey._invalidate();

CREATE TRIGGER tiers_invalidate
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON apikey.tiers
    FOR EACH STATEMENT EXECUTE FUNCTION apikey._invalidate();

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON apikey.audit_log
    FOR EACH ROW EXECUTE FUNCTION apikey._audit_guard();

CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON apikey.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION apikey._audit_guard();


