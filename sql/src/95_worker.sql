------------------------------------------------------------------------
-- The worker of this database
------------------------------------------------------------------------

-- The launcher starts a worker in each database where apikey is installed;
-- this asks for one as soon as the installation commits.
CREATE FUNCTION apikey._serve_database()
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'apikey_serve_database';
REVOKE ALL ON FUNCTION apikey._serve_database() FROM PUBLIC;

SELECT apikey._serve_database();
