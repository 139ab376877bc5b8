------------------------------------------------------------------------
-- The security report: settings that can put tokens or digests in a log
-- or a view (doc/security.md, "Logging and secrets")
------------------------------------------------------------------------

-- One row per setting: its value in this session (NULL when the module
-- that defines it is not loaded), what a role that carries tokens should
-- have, whether it has it, and why.  Set the recommended values for those
-- roles (ALTER ROLE authenticator SET ...) and check them in a session of
-- that role.  The last rows look for secrets in role and database
-- settings, which every role can read in pg_db_role_setting.
CREATE FUNCTION apikey.security_report()
RETURNS TABLE (setting text, current_value text, recommended text, ok boolean, reason text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT r.setting, v.value, r.recommended,
       v.value IS NULL OR v.value OPERATOR(pg_catalog.=) ANY (r.safe), r.reason
  FROM (VALUES
    ('log_statement', 'none', ARRAY['none'],
     'Logs the text of statements, tokens included as literals, and their bind parameters. apikey masks well-formed tokens in these lines; static keys and JWTs it cannot recognize.'),
    ('log_min_duration_statement', '-1', ARRAY['-1'],
     'Logs slow statements with their text and parameters, whatever log_statement says.'),
    ('log_min_error_statement', 'panic', ARRAY['panic'],
     'Logs the statement of every failed query (and of LOG messages). apikey hides the statement when it holds a well-formed token, even for errors raised before apikey runs; not for a static key or a JWT.'),
    ('log_parameter_max_length', '0', ARRAY['0'],
     'How much of each bind parameter log_statement and log_min_duration_statement print: -1 is all of it, the token of "SELECT apikey.check($1)" included.'),
    ('log_parameter_max_length_on_error', '0', ARRAY['0'],
     'How much of each bind parameter is printed with an error.'),
    ('debug_print_parse', 'off', ARRAY['off'],
     'Logs query trees, with their constants.'),
    ('debug_print_rewritten', 'off', ARRAY['off'],
     'Logs rewritten query trees, with their constants.'),
    ('debug_print_plan', 'off', ARRAY['off'],
     'Logs plans, with their constants.'),
    ('track_activities', 'off', ARRAY['off'],
     'Shows each running statement, token included, in pg_stat_activity to its role and to pg_read_all_stats, and in "Failed process was running" after a crash (apikey masks tokens there).'),
    ('track_activity_query_size', '1kB', NULL,
     'How much of a statement pg_stat_activity and the crash report keep; a token cut short at its end is masked all the same.'),
    ('pg_stat_statements.track_utility', 'off', ARRAY['off'],
     'Keeps utility statements verbatim (SET apikey.static_key = ...), where normal queries have their constants replaced by $n.'),
    ('auto_explain.log_min_duration', '-1', ARRAY['-1'],
     'Logs plans and query text of slow statements; apikey masks tokens, and digests in plans that name apikey.'),
    ('auto_explain.log_nested_statements', 'off', ARRAY['off'],
     'Logs the statements of functions, apikey''s own included: a key''s digest appears in issue() and rotate() plans.'),
    ('auto_explain.log_parameter_max_length', '0', ARRAY['0'],
     'Logs bind parameters of the statements it explains (PostgreSQL 16 and later).'),
    ('auto_explain.log_verbose', 'off', ARRAY['off'],
     'Shows output columns with their constants in plans.')
  ) AS r(setting, recommended, safe, reason),
  LATERAL (SELECT pg_catalog.current_setting(r.setting, true) AS value) AS v
UNION ALL
SELECT 'pg_db_role_setting: ' OPERATOR(pg_catalog.||) s.name,
       pg_catalog.count(c.cfg)::text OPERATOR(pg_catalog.||) ' in clear',
       '0', pg_catalog.count(c.cfg) OPERATOR(pg_catalog.=) 0,
       'Role and database settings are readable by every role: a secret set with ALTER ROLE or ALTER DATABASE is public. apikey refuses them; remove any left from before (ALTER ROLE ... RESET).'
  FROM (VALUES ('apikey.static_key'), ('apikey.jwt_secret')) AS s(name)
  LEFT JOIN (SELECT x.cfg FROM pg_catalog.pg_db_role_setting d, pg_catalog.unnest(d.setconfig) AS x(cfg)) AS c
    ON pg_catalog.starts_with(c.cfg, s.name OPERATOR(pg_catalog.||) '=')
   AND NOT pg_catalog.starts_with(c.cfg, 'apikey.static_key=blake2b:')
 GROUP BY s.name
$$;

COMMENT ON FUNCTION apikey.security_report() IS
'Settings that can put tokens or digests in a log or a view: value in this session, recommended value for roles that carry tokens, and why';

-- Admins read it: it says where secrets may have leaked.
REVOKE ALL ON FUNCTION apikey.security_report() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apikey.security_report() TO apikey_admin;
