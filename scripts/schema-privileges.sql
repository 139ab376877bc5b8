-- What pg_dump -s does not say of apikey's installed objects, one row
-- each: the privileges of every member, the schema's and the extension's
-- comments, and the tables whose rows pg_dump keeps.  Read by
-- scripts/schema-snapshot.sh and test/t/028_upgrade.pl.
SELECT 'class', c.oid::regclass::text, c.relacl::text
  FROM pg_class c WHERE c.relnamespace = 'apikey'::regnamespace
UNION ALL
SELECT 'column', a.attrelid::regclass || '.' || a.attname, a.attacl::text
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'apikey'::regnamespace AND a.attacl IS NOT NULL
   AND NOT a.attisdropped
UNION ALL
SELECT 'function', p.oid::regprocedure::text, p.proacl::text
  FROM pg_proc p WHERE p.pronamespace = 'apikey'::regnamespace
UNION ALL
SELECT 'type', t.oid::regtype::text, t.typacl::text
  FROM pg_type t WHERE t.typnamespace = 'apikey'::regnamespace
UNION ALL
SELECT 'schema', n.nspname::text, n.nspacl::text
  FROM pg_namespace n WHERE n.nspname = 'apikey'
UNION ALL
SELECT 'schema comment', '', obj_description('apikey'::regnamespace, 'pg_namespace')
UNION ALL
SELECT 'extension', e.extversion || ' ' || e.extrelocatable, obj_description(e.oid, 'pg_extension')
  FROM pg_extension e WHERE e.extname = 'apikey'
UNION ALL
SELECT 'extconfig', c.t::regclass::text, c.condition
  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS c(t, condition)
 WHERE e.extname = 'apikey'
ORDER BY 1, 2;
