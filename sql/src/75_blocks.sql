------------------------------------------------------------------------
-- Address blocks and abuse cooldowns
------------------------------------------------------------------------

-- Addresses answered BLOCKED before their token is even looked at: for
-- every request (owner NULL, admins only) or for one owner's keys.  Each
-- backend keeps them in memory, read again when a change commits.
CREATE TABLE apikey.address_blocks (
    addresses   cidr NOT NULL,
    owner       text,
    reason      text NOT NULL CHECK (reason OPERATOR(pg_catalog.<>) ''),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    expires_at  timestamptz,
    created_by  text NOT NULL,
    CONSTRAINT address_blocks_addresses_owner_key
        UNIQUE NULLS NOT DISTINCT (addresses, owner)
);

CREATE INDEX address_blocks_owner_idx ON apikey.address_blocks (owner);

COMMENT ON TABLE apikey.address_blocks IS
'Client addresses answered BLOCKED: for every request (owner NULL) or for the keys of one owner; set with apikey.block()';

CREATE FUNCTION apikey._blocks_changed()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'apikey_blocks_changed';
-- Only ever run as a trigger: no one needs to call it.
REVOKE ALL ON FUNCTION apikey._blocks_changed() FROM PUBLIC;

-- every backend reads the blocks again once the change commits
CREATE TRIGGER address_blocks_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON apikey.address_blocks
    FOR EACH STATEMENT EXECUTE FUNCTION apikey._blocks_changed();

-- Owners read the blocks of their keys, admins all; every write goes
-- through block() and unblock(), which audit it.
ALTER TABLE apikey.address_blocks ENABLE ROW LEVEL SECURITY;
ALTER TABLE apikey.address_blocks FORCE ROW LEVEL SECURITY;
CREATE POLICY address_blocks_admin ON apikey.address_blocks TO apikey_admin USING (true);
CREATE POLICY address_blocks_owner ON apikey.address_blocks TO PUBLIC
    USING (owner OPERATOR(pg_catalog.=) (SELECT apikey.current_owner()));
GRANT SELECT ON apikey.address_blocks TO PUBLIC;

CREATE FUNCTION apikey.block(
    addresses cidr,
    reason    text,
    duration  interval DEFAULT NULL,
    owner     text     DEFAULT NULL)
RETURNS apikey.address_blocks
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_block';

COMMENT ON FUNCTION apikey.block(cidr, text, interval, text) IS
'Blocks client addresses for duration (NULL: until unblock()): for every request (owner NULL, admins only), or for the keys of owner';

CREATE FUNCTION apikey.unblock(addresses cidr)
RETURNS integer
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_unblock';

COMMENT ON FUNCTION apikey.unblock(cidr) IS
'Removes the blocks of exactly these addresses the caller may manage and, for admins, lifts the abuse cooldowns of the addresses in them; returns how many';

CREATE FUNCTION apikey.unblock_key(display_prefix text)
RETURNS boolean
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'apikey_unblock_key';

COMMENT ON FUNCTION apikey.unblock_key(text) IS
'Lifts the abuse cooldown of a display prefix (admins only); false if it had none';
-- Cooldowns are the server's: admins only.
REVOKE ALL ON FUNCTION apikey.unblock_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apikey.unblock_key(text) TO apikey_admin;

-- The abuse cooldowns in force, from shared memory: rows for admins only.
CREATE FUNCTION apikey._cooldowns(
    OUT address   cidr,
    OUT subject   bytea,
    OUT until     timestamptz)
RETURNS SETOF record
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_cooldowns';

-- The subject a display prefix's cooldown is kept under.
CREATE FUNCTION apikey._name_subject(name text)
RETURNS bytea
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'apikey_name_subject';

CREATE VIEW apikey.blocks WITH (security_invoker = true) AS
SELECT 'block'::text AS kind, b.addresses, NULL::text AS display_prefix,
       b.owner, b.reason, b.created_at, b.expires_at, b.created_by
  FROM apikey.address_blocks AS b
 WHERE b.expires_at IS NULL OR b.expires_at > pg_catalog.now()
UNION ALL
SELECT 'cooldown', c.address, k.prefix, k.owner,
       'failed verifications', NULL, c.until, NULL
  FROM apikey._cooldowns() AS c
  LEFT JOIN apikey.keys AS k
    ON c.address IS NULL AND apikey._name_subject(k.prefix) = c.subject;

COMMENT ON VIEW apikey.blocks IS
'Address blocks in force and, for admins, the abuse cooldowns in force (of an address, or of a key''s display prefix)';
-- security_invoker: owners see the blocks of their keys, admins all.
GRANT SELECT ON apikey.blocks TO PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('apikey.address_blocks', '');
