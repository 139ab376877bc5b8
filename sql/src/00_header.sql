/* apikey 0.2.0: API keys, rate limits and quotas inside PostgreSQL */

\echo Use "CREATE EXTENSION apikey" to load this file. \quit

-- The script is assembled from sql/src/*.sql by the Makefile, one topic
-- per file: each object is followed by its privileges and the reason for
-- them; the internal helpers (names starting with _) come first, apart
-- from the API.
--
-- Every name below is schema-qualified and every operator in function
-- bodies is pg_catalog's: the script and the SQL functions must mean the
-- same thing whatever search_path their caller has.

