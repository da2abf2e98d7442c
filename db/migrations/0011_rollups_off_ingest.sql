-- The dashboards' rollups leave ingest's path (docs/dashboards.md). Ingest keeps usage_hourly, the
-- rollup its own readers need at once, and notes in usage_rollup_pending which hours it added
-- usage to; the rollups the managers' panels read are brought up to date from usage_hourly by
-- `refresh_usage_rollups` (db/rollups.py), which the maintenance service runs every minute.
-- The statement triggers of 0010 cost ingest a tenth of its rate for panels that refresh once a
-- minute.
DROP TRIGGER IF EXISTS usage_daily_insert ON usage_hourly;
DROP TRIGGER IF EXISTS usage_daily_update ON usage_hourly;
DROP TRIGGER IF EXISTS usage_daily_delete ON usage_hourly;
DROP TRIGGER IF EXISTS usage_daily_truncate ON usage_hourly;
DROP FUNCTION IF EXISTS usage_daily_after_insert(), usage_daily_after_update(),
    usage_daily_after_delete(), usage_daily_after_truncate();

-- One row per ingest transaction and UTC hour it added usage to; no key, so that two workers
-- never wait on each other here. The refresh takes (deletes) the rows it has rolled up.
CREATE TABLE usage_rollup_pending (
    hour  timestamptz NOT NULL
);

-- Usage per site, equipment type and UTC hour: the hour-of-day panels over a whole city read
-- this instead of one row per item and hour. A kind is the item's kind when the hour was rolled
-- up (`fitmon rollups refresh --all` rebuilds after a registry correction).
CREATE TABLE usage_site_hourly (
    hour        timestamptz NOT NULL,
    site_code   text NOT NULL,
    kind        text NOT NULL,
    sessions    bigint NOT NULL,
    reps        bigint NOT NULL,
    duration_s  double precision NOT NULL,
    energy_wh   double precision NOT NULL,
    PRIMARY KEY (hour, site_code, kind)
);

INSERT INTO usage_site_hourly (hour, site_code, kind, sessions, reps, duration_s, energy_wh)
SELECT h.hour, e.site_code, e.kind, sum(h.sessions), sum(h.reps), sum(h.duration_s),
       sum(h.energy_wh)
FROM usage_hourly h
JOIN equipment e ON e.code = h.code
GROUP BY 1, 2, 3;
