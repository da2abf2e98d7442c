-- Telemetry of protocol v1. Each message is identified by (code, boot, seq) (PROTOCOL.md), so
-- every table keys on it and ingest writes with ON CONFLICT DO NOTHING: a duplicate is stored once.
-- No foreign keys here: ingest checks codes against the registry before writing, and COPY stays fast.
CREATE TABLE usage_sessions (
    code             text NOT NULL,
    boot             bigint NOT NULL,
    seq              bigint NOT NULL,
    ts               timestamptz NOT NULL,
    started_at       timestamptz NOT NULL,
    duration_s       double precision NOT NULL,
    reps             integer NOT NULL,
    energy_wh        double precision,
    avg_cadence_rpm  double precision,
    max_load_kg      double precision,
    received_at      timestamptz NOT NULL,
    PRIMARY KEY (code, boot, seq)
);
CREATE INDEX usage_sessions_started_at_idx ON usage_sessions (started_at);

CREATE TABLE status_reports (
    code         text NOT NULL,
    boot         bigint NOT NULL,
    seq          bigint NOT NULL,
    ts           timestamptz NOT NULL,
    online       boolean NOT NULL,
    battery_pct  double precision,
    rssi_dbm     double precision,
    temp_c       double precision,
    tilt_deg     double precision,
    received_at  timestamptz NOT NULL,
    PRIMARY KEY (code, boot, seq)
);
CREATE INDEX status_reports_ts_idx ON status_reports (ts);

CREATE TABLE fault_events (
    code         text NOT NULL,
    boot         bigint NOT NULL,
    seq          bigint NOT NULL,
    ts           timestamptz NOT NULL,
    fault        text NOT NULL,
    severity     text NOT NULL CHECK (severity IN ('critical', 'major', 'minor')),
    state        text NOT NULL CHECK (state IN ('raised', 'cleared')),
    detail       text,
    received_at  timestamptz NOT NULL,
    PRIMARY KEY (code, boot, seq)
);
CREATE INDEX fault_events_ts_idx ON fault_events (ts);

CREATE TABLE device_births (
    code         text NOT NULL,
    boot         bigint NOT NULL,
    seq          bigint NOT NULL,
    ts           timestamptz NOT NULL,
    fw           text NOT NULL,
    model        text NOT NULL,
    kind         text NOT NULL,
    heartbeat_s  integer NOT NULL,
    received_at  timestamptz NOT NULL,
    PRIMARY KEY (code, boot, seq)
);
CREATE INDEX device_births_ts_idx ON device_births (ts);

-- Exact hourly rollup per item, by the hour (UTC) a session started. Ingest adds only the rows
-- its INSERT really inserted, in the same transaction, so duplicates never count twice.
CREATE TABLE usage_hourly (
    code        text NOT NULL,
    hour        timestamptz NOT NULL,
    sessions    integer NOT NULL,
    reps        bigint NOT NULL,
    duration_s  double precision NOT NULL,
    energy_wh   double precision NOT NULL,
    PRIMARY KEY (code, hour)
);
CREATE INDEX usage_hourly_hour_idx ON usage_hourly (hour);

-- Nothing is dropped silently (PROTOCOL.md): what ingest cannot take is kept with its raw bytes.
CREATE TABLE dead_letters (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at  timestamptz NOT NULL,
    topic        text NOT NULL,
    payload      bytea NOT NULL,
    -- a short label (bad_topic, oversized, not_utf8, malformed_json, schema, bad_check,
    -- unknown_code, code_mismatch, future, db_refused) and the full reason, naming the bad value
    category     text NOT NULL,
    reason       text NOT NULL,
    code         text,
    -- identity of a copy: the same bytes on the same topic redelivered after a crash are one row
    digest       bytea NOT NULL UNIQUE,
    copies       integer NOT NULL DEFAULT 1
);
CREATE INDEX dead_letters_received_at_idx ON dead_letters (received_at);
CREATE INDEX dead_letters_category_idx ON dead_letters (category, received_at);
