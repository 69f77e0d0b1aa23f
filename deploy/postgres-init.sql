-- Run once by the postgres image, when the postgresql volume is first initialised
-- (mounted into /docker-entrypoint-initdb.d by docker-compose.yml).
--
-- Temporal's persistence and visibility stores (temporalio/auto-setup then installs and
-- upgrades their schemas, and tolerates the databases already existing), and the case
-- records database (its schema is owned by Alembic: the `migrate` service).
-- Every service connects as the postgres superuser with POSTGRES_PASSWORD.
CREATE DATABASE temporal;
CREATE DATABASE temporal_visibility;
CREATE DATABASE ucb_records;
