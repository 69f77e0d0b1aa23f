-- Run once by the postgres image, when the postgresql volume is first initialised
-- (mounted into /docker-entrypoint-initdb.d by docker-compose.yml), as the superuser,
-- with psql (so the \set and :'variable' lines below are psql's, not SQL).
--
-- Three login users, none a superuser, each with its password read from a Docker secret
-- file (never written here, never in an environment variable):
--   temporal      owns temporal and temporal_visibility (the temporal-schema job installs
--                 and upgrades their schemas; the server runs as it)
--   ucb_migrator  owns ucb_records and its public schema: runs the Alembic migrations
--   ucb_app       the worker and the API: reads and writes rows of the records tables,
--                 no DDL, no TRUNCATE, nothing in the Temporal databases
\set ON_ERROR_STOP on
\set temporal_password `cat /run/secrets/temporal_db_password`
\set migrator_password `cat /run/secrets/ucb_migrator_db_password`
\set app_password `cat /run/secrets/ucb_app_db_password`

CREATE ROLE temporal LOGIN PASSWORD :'temporal_password';
CREATE ROLE ucb_migrator LOGIN PASSWORD :'migrator_password';
CREATE ROLE ucb_app LOGIN PASSWORD :'app_password';

CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
CREATE DATABASE ucb_records OWNER ucb_migrator;

-- Only the named users may connect to each database.
REVOKE ALL ON DATABASE temporal FROM PUBLIC;
REVOKE ALL ON DATABASE temporal_visibility FROM PUBLIC;
REVOKE ALL ON DATABASE ucb_records FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE temporal TO temporal;
GRANT CONNECT, TEMPORARY ON DATABASE temporal_visibility TO temporal;
GRANT CONNECT ON DATABASE ucb_records TO ucb_migrator;
GRANT CONNECT ON DATABASE ucb_records TO ucb_app;

\connect ucb_records
-- The schema belongs to the migrator; the app may use it but create nothing in it.
ALTER SCHEMA public OWNER TO ucb_migrator;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO ucb_app;
-- Every table and sequence the migrator creates (now and in later migrations) gives the
-- app rows only.
ALTER DEFAULT PRIVILEGES FOR ROLE ucb_migrator IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ucb_app;
ALTER DEFAULT PRIVILEGES FOR ROLE ucb_migrator IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO ucb_app;
