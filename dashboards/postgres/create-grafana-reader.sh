#!/bin/sh
# Creates the read-only role Grafana signs in with. docker-compose mounts this file into the
# timescaledb container's /docker-entrypoint-initdb.d, which runs it once, when it initialises an
# empty data directory. Grafana's SQL panels run whatever SQL a dashboard editor writes, so the
# role may read every table and change nothing; a runaway query is cut off after 30 s.
# The image may source this file instead of running it, so it sets no shell options and never exits.
psql -v ON_ERROR_STOP=1 --no-psqlrc \
    --username "${POSTGRES_USER:?POSTGRES_USER is not set}" \
    --dbname "${POSTGRES_DB:?POSTGRES_DB is not set}" \
    -v reader="${FITMON_GRAFANA_DB_USER:?FITMON_GRAFANA_DB_USER is not set}" \
    -v password="${FITMON_GRAFANA_DB_PASSWORD:?FITMON_GRAFANA_DB_PASSWORD is not set}" <<'SQL'
CREATE ROLE :"reader" LOGIN PASSWORD :'password';
GRANT pg_read_all_data TO :"reader";
ALTER ROLE :"reader" SET default_transaction_read_only = on;
ALTER ROLE :"reader" SET statement_timeout = '30s';
SQL
