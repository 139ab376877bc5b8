/* apikey 0.1.0: API keys, rate limits and quotas inside PostgreSQL */

\echo Use "CREATE EXTENSION apikey" to load this file. \quit

-- Every name below is schema-qualified and every operator in function
-- bodies is pg_catalog's: the script and the SQL functions must mean the
-- same thing whatever search_path their caller has.

