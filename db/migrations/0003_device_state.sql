-- Per-device online state, kept by ingest from birth, status, any traffic, last wills and silence.
CREATE TABLE device_state (
    code               text PRIMARY KEY REFERENCES equipment (code),
    boot               bigint NOT NULL,
    online             boolean NOT NULL,
    last_seen_at       timestamptz,
    last_birth_at      timestamptz,
    heartbeat_s        integer,
    fw                 text,
    model              text,
    online_changed_at  timestamptz NOT NULL,
    offline_reason     text CHECK (offline_reason IN ('will', 'silent'))
);
CREATE INDEX device_state_online_idx ON device_state (online, last_seen_at);

-- Every change of a device's online state, so offline periods can be shown and checked.
CREATE TABLE device_presence (
    code    text NOT NULL,
    at      timestamptz NOT NULL,
    online  boolean NOT NULL,
    reason  text NOT NULL CHECK (reason IN ('traffic', 'birth', 'will', 'silent')),
    boot    bigint
);
CREATE INDEX device_presence_code_at_idx ON device_presence (code, at);

CREATE TABLE gateway_state (
    site_code          text PRIMARY KEY REFERENCES sites (code),
    boot               bigint,
    online             boolean NOT NULL,
    last_seen_at       timestamptz,
    online_changed_at  timestamptz NOT NULL
);
