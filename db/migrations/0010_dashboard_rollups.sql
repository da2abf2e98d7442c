-- Rollups the managers' dashboards read, so that a panel's cost follows the items and the days it
-- shows, never the raw rows behind them (docs/dashboards.md).
--
-- usage_daily: usage per item and local day. Days are China's (Asia/Shanghai, UTC+8 all year, as
-- the bureaus report them); `day` is the local midnight the day starts at. On plain PostgreSQL it
-- is a table kept by the statement triggers below from usage_hourly, in the transaction that
-- changed usage_hourly, so it is exact at every commit. Where TimescaleDB is installed the block at
-- the end replaces it by a continuous aggregate of usage_sessions with the same name and columns
-- (real-time: the rows not yet materialised are aggregated at query time, so it is exact too).
-- The TimescaleDB part sits in a guarded block rather than a .timescale.sql file because the
-- migration runner keys migrations by number and this one has a single number.
CREATE TABLE usage_daily (
    code        text NOT NULL,
    day         timestamptz NOT NULL,
    sessions    bigint NOT NULL,
    reps        bigint NOT NULL,
    duration_s  double precision NOT NULL,
    energy_wh   double precision NOT NULL,
    PRIMARY KEY (code, day)
);
CREATE INDEX usage_daily_day_idx ON usage_daily (day);
ALTER TABLE usage_daily SET (fillfactor = 70);

INSERT INTO usage_daily (code, day, sessions, reps, duration_s, energy_wh)
SELECT code, date_trunc('day', hour, 'Asia/Shanghai'), sum(sessions), sum(reps), sum(duration_s),
       sum(energy_wh)
FROM usage_hourly GROUP BY 1, 2;

-- Each function adds a signed delta per (code, day). Rows go in key order, the order ingest writes
-- usage_hourly in, so two ingest workers never wait on each other's rows in opposite orders.
CREATE FUNCTION usage_daily_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_daily AS d (code, day, sessions, reps, duration_s, energy_wh)
    SELECT code, date_trunc('day', hour, 'Asia/Shanghai') AS day, sum(sessions), sum(reps),
           sum(duration_s), sum(energy_wh)
    FROM usage_hourly_new GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (code, day) DO UPDATE SET
        sessions = d.sessions + excluded.sessions, reps = d.reps + excluded.reps,
        duration_s = d.duration_s + excluded.duration_s,
        energy_wh = d.energy_wh + excluded.energy_wh;
    RETURN NULL;
END $$;

CREATE FUNCTION usage_daily_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_daily AS d (code, day, sessions, reps, duration_s, energy_wh)
    SELECT n.code, date_trunc('day', n.hour, 'Asia/Shanghai') AS day,
           sum(n.sessions - o.sessions), sum(n.reps - o.reps),
           sum(n.duration_s - o.duration_s), sum(n.energy_wh - o.energy_wh)
    FROM usage_hourly_new n JOIN usage_hourly_old o USING (code, hour)
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (code, day) DO UPDATE SET
        sessions = d.sessions + excluded.sessions, reps = d.reps + excluded.reps,
        duration_s = d.duration_s + excluded.duration_s,
        energy_wh = d.energy_wh + excluded.energy_wh;
    RETURN NULL;
END $$;

CREATE FUNCTION usage_daily_after_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE usage_daily d
    SET sessions = d.sessions - o.sessions, reps = d.reps - o.reps,
        duration_s = d.duration_s - o.duration_s, energy_wh = d.energy_wh - o.energy_wh
    FROM (SELECT code, date_trunc('day', hour, 'Asia/Shanghai') AS day, sum(sessions) AS sessions,
                 sum(reps) AS reps, sum(duration_s) AS duration_s, sum(energy_wh) AS energy_wh
          FROM usage_hourly_old GROUP BY 1, 2) o
    WHERE d.code = o.code AND d.day = o.day;
    DELETE FROM usage_daily d
    WHERE d.sessions = 0 AND (d.code, d.day) IN (
        SELECT code, date_trunc('day', hour, 'Asia/Shanghai') FROM usage_hourly_old);
    RETURN NULL;
END $$;

CREATE FUNCTION usage_daily_after_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE usage_daily;
    RETURN NULL;
END $$;

-- PostgreSQL allows a transition table on a trigger of one event only, hence one trigger per event.
CREATE TRIGGER usage_daily_insert AFTER INSERT ON usage_hourly
    REFERENCING NEW TABLE AS usage_hourly_new
    FOR EACH STATEMENT EXECUTE FUNCTION usage_daily_after_insert();
CREATE TRIGGER usage_daily_update AFTER UPDATE ON usage_hourly
    REFERENCING OLD TABLE AS usage_hourly_old NEW TABLE AS usage_hourly_new
    FOR EACH STATEMENT EXECUTE FUNCTION usage_daily_after_update();
CREATE TRIGGER usage_daily_delete AFTER DELETE ON usage_hourly
    REFERENCING OLD TABLE AS usage_hourly_old
    FOR EACH STATEMENT EXECUTE FUNCTION usage_daily_after_delete();
CREATE TRIGGER usage_daily_truncate AFTER TRUNCATE ON usage_hourly
    FOR EACH STATEMENT EXECUTE FUNCTION usage_daily_after_truncate();

-- The maintenance panels read tickets and alerts by when they were opened, raised or closed.
CREATE INDEX tickets_opened_at_idx ON tickets (opened_at);
CREATE INDEX tickets_closed_at_idx ON tickets (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX alerts_raised_at_idx ON alerts (raised_at);
CREATE INDEX citizen_reports_received_at_idx ON citizen_reports (received_at);

-- TimescaleDB: the daily rollup becomes a continuous aggregate of the usage_sessions hypertable,
-- refreshed hourly over the last 30 days and compressed after 60; raw usage sessions are kept for
-- a configurable period (`fitmon retention`, default 400 days, never under the 30-day refresh
-- window), the rollups for good.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN;
    END IF;
    DROP TABLE usage_daily;
    DROP FUNCTION usage_daily_after_insert, usage_daily_after_update, usage_daily_after_delete,
        usage_daily_after_truncate CASCADE;
    EXECUTE $sql$
        CREATE MATERIALIZED VIEW usage_daily
        WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
        SELECT code, time_bucket(INTERVAL '1 day', started_at, 'Asia/Shanghai') AS day,
               count(*) AS sessions, sum(reps)::bigint AS reps, sum(duration_s) AS duration_s,
               coalesce(sum(energy_wh), 0) AS energy_wh
        FROM usage_sessions
        GROUP BY code, time_bucket(INTERVAL '1 day', started_at, 'Asia/Shanghai')
        WITH NO DATA
    $sql$;
    PERFORM add_continuous_aggregate_policy('usage_daily',
        start_offset => INTERVAL '30 days', end_offset => INTERVAL '1 hour',
        schedule_interval => INTERVAL '1 hour');
    EXECUTE 'ALTER MATERIALIZED VIEW usage_daily SET (timescaledb.compress = true)';
    PERFORM add_compression_policy('usage_daily', compress_after => INTERVAL '60 days');
    PERFORM add_retention_policy('usage_sessions', INTERVAL '400 days');
END $$;
