-- The maintenance loop: people and crews, alerts, tickets, inspections, maintenance windows,
-- the audit trail, and the inbox through which ingest's writes reach the maintenance service.

-- People who sign in: admins, managers (scoped to districts) and crew members.
CREATE TABLE people (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    login          text NOT NULL UNIQUE CHECK (login ~ '^[a-z0-9._-]{2,64}$'),
    name           text NOT NULL CHECK (name <> ''),
    role           text NOT NULL CHECK (role IN ('admin', 'manager', 'crew')),
    password_hash  text,  -- Argon2id; NULL: cannot sign in with a password
    phone          text,
    email          text,
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- The districts (6-digit administrative divisions) a manager sees.
CREATE TABLE manager_districts (
    person_id  bigint NOT NULL REFERENCES people (id),
    district   text NOT NULL CHECK (district ~ '^[0-9]{6}$'),
    PRIMARY KEY (person_id, district)
);

CREATE TABLE crews (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text NOT NULL UNIQUE CHECK (name <> ''),
    supervisor_id  bigint REFERENCES people (id),
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- Each district is covered by one crew.
CREATE TABLE crew_districts (
    crew_id   bigint NOT NULL REFERENCES crews (id),
    district  text NOT NULL UNIQUE CHECK (district ~ '^[0-9]{6}$'),
    PRIMARY KEY (crew_id, district)
);

CREATE TABLE crew_members (
    crew_id    bigint NOT NULL REFERENCES crews (id),
    person_id  bigint NOT NULL UNIQUE REFERENCES people (id),
    PRIMARY KEY (crew_id, person_id)
);

-- Bearer credentials: a signed-in session, or an API token for an integration. Only a SHA-256
-- of the secret is kept.
CREATE TABLE credentials (
    token_hash  bytea PRIMARY KEY,
    person_id   bigint NOT NULL REFERENCES people (id),
    kind        text NOT NULL CHECK (kind IN ('session', 'api_token')),
    name        text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX credentials_person_idx ON credentials (person_id);

-- Per site: how often it must be inspected (weekly by default).
ALTER TABLE sites ADD COLUMN inspection_interval_days integer NOT NULL DEFAULT 7
    CHECK (inspection_interval_days BETWEEN 1 AND 366);

CREATE TABLE inspections (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_code     text NOT NULL REFERENCES sites (code),
    inspected_at  timestamptz NOT NULL,
    inspector_id  bigint REFERENCES people (id),
    findings      jsonb NOT NULL DEFAULT '{}',
    note          text
);
CREATE INDEX inspections_site_idx ON inspections (site_code, inspected_at);

-- While a window is on, alerts for its site (or only its item) are kept but silenced.
CREATE TABLE maintenance_windows (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_code   text NOT NULL REFERENCES sites (code),
    code        text REFERENCES equipment (code),
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    reason      text NOT NULL CHECK (reason <> ''),
    created_by  bigint REFERENCES people (id),
    CHECK (ends_at > starts_at),
    CHECK (code IS NULL OR left(code, 11) = site_code)
);
CREATE INDEX maintenance_windows_site_idx ON maintenance_windows (site_code, ends_at);

-- Alerts: one open alert per subject, rule and fault code. The subject is an equipment code, or a
-- site code for the rules about a whole site (gateway offline, inspection overdue).
CREATE TABLE alerts (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject           text NOT NULL,
    site_code         text NOT NULL REFERENCES sites (code),
    rule              text NOT NULL CHECK (rule IN (
                          'device_fault', 'device_offline', 'gateway_offline', 'unused',
                          'service_life_past', 'service_life_near', 'inspection_overdue',
                          'citizen_report')),
    fault             text NOT NULL DEFAULT '',  -- the fault code or report category, else ''
    severity          text NOT NULL CHECK (severity IN ('critical', 'major', 'minor')),
    status            text NOT NULL DEFAULT 'open'
                      CHECK (status IN ('open', 'acknowledged', 'closed')),
    detail            text,
    raised_at         timestamptz NOT NULL,
    acknowledged_at   timestamptz,
    acknowledged_by   bigint REFERENCES people (id),
    -- the rule saw it clear at this time; it closes once the clear has held for the settle time
    clearing_since    timestamptz,
    closed_at         timestamptz,
    close_reason      text CHECK (close_reason IN ('cleared', 'resolved', 'retired', 'dismissed')),
    silenced          boolean NOT NULL DEFAULT false,
    ticket_id         bigint,
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
CREATE UNIQUE INDEX alerts_one_open_idx ON alerts (subject, rule, fault) WHERE status <> 'closed';
CREATE INDEX alerts_site_idx ON alerts (site_code, raised_at);
CREATE INDEX alerts_open_idx ON alerts (rule) WHERE status <> 'closed';

-- The latest device event per item and fault code, by (boot, seq): an event older than it is
-- history only, so a clear that overtook its raise is not undone by the raise.
CREATE TABLE device_fault_state (
    code    text NOT NULL,
    fault   text NOT NULL,
    boot    bigint NOT NULL,
    seq     bigint NOT NULL,
    state   text NOT NULL CHECK (state IN ('raised', 'cleared')),
    ts      timestamptz NOT NULL,
    PRIMARY KEY (code, fault)
);

CREATE TABLE tickets (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code               text NOT NULL REFERENCES equipment (code),
    site_code          text NOT NULL REFERENCES sites (code),
    crew_id            bigint REFERENCES crews (id),
    assignee_id        bigint REFERENCES people (id),
    status             text NOT NULL DEFAULT 'open' CHECK (status IN (
                           'open', 'assigned', 'in_progress', 'on_hold', 'resolved', 'closed',
                           'reopened')),
    severity           text NOT NULL CHECK (severity IN ('critical', 'major', 'minor')),
    title              text NOT NULL,
    hold_reason        text,
    takes_out_of_service boolean NOT NULL DEFAULT false,
    opened_at          timestamptz NOT NULL,
    due_at             timestamptz NOT NULL,
    resolved_at        timestamptz,
    closed_at          timestamptz,
    last_activity_at   timestamptz NOT NULL,
    CHECK (status <> 'on_hold' OR hold_reason IS NOT NULL),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
CREATE UNIQUE INDEX tickets_one_open_per_item_idx ON tickets (code) WHERE status <> 'closed';
CREATE INDEX tickets_crew_idx ON tickets (crew_id, status);
CREATE INDEX tickets_open_due_idx ON tickets (due_at) WHERE status <> 'closed';
ALTER TABLE alerts ADD FOREIGN KEY (ticket_id) REFERENCES tickets (id);

-- Reminders and escalations, each made once (its key), for the notifications to deliver.
CREATE TABLE ticket_notices (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id   bigint NOT NULL REFERENCES tickets (id),
    kind        text NOT NULL CHECK (kind IN ('assigned', 'reminder', 'escalation')),
    person_id   bigint REFERENCES people (id),
    round       integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL,
    UNIQUE (ticket_id, kind, round)
);

-- Every change: who (a person, a device, or the system's rule), when, from which state to which.
CREATE TABLE audit_trail (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL,
    actor_kind  text NOT NULL CHECK (actor_kind IN ('person', 'device', 'system')),
    actor       text NOT NULL,  -- a person's id, an equipment code, or a rule's name
    entity      text NOT NULL CHECK (entity IN ('alert', 'ticket', 'equipment', 'site',
                                                 'person', 'crew', 'window', 'inspection')),
    entity_id   text NOT NULL,
    action      text NOT NULL,
    from_state  text,
    to_state    text,
    detail      text
);
CREATE INDEX audit_trail_entity_idx ON audit_trail (entity, entity_id, at);

-- Citizens' fault reports from the scan page; each becomes an alert.
CREATE TABLE citizen_reports (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code         text NOT NULL REFERENCES equipment (code),
    category     text NOT NULL CHECK (category IN (
                     'broken', 'unsafe', 'missing_part', 'dirty', 'other')),
    hazard       boolean NOT NULL,
    description  text NOT NULL CHECK (length(description) BETWEEN 1 AND 2000),
    phone        text,
    received_at  timestamptz NOT NULL DEFAULT now()
);

-- What the maintenance service has still to take, written in the transaction that caused it (by
-- the triggers below, or by the report intake), so nothing is missed while the service is down.
-- The service deletes what it took in the transaction that acts on it.
CREATE TABLE maintenance_inbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('fault', 'presence', 'gateway', 'report')),
    subject      text NOT NULL,  -- equipment code, or site code for a gateway
    boot         bigint,
    seq          bigint,
    at           timestamptz NOT NULL,
    fault        text,
    severity     text,
    state        text,  -- raised/cleared; online/offline
    detail       text,
    report_id    bigint,
    received_at  timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION maintenance_inbox_fault() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO maintenance_inbox (kind, subject, boot, seq, at, fault, severity, state, detail)
    VALUES ('fault', NEW.code, NEW.boot, NEW.seq, NEW.ts, NEW.fault, NEW.severity, NEW.state,
            NEW.detail);
    PERFORM pg_notify('fitmon_maintenance', '');
    RETURN NULL;
END $$;
CREATE TRIGGER maintenance_inbox_fault AFTER INSERT ON fault_events
    FOR EACH ROW EXECUTE FUNCTION maintenance_inbox_fault();

-- Only going offline is an event: a device or gateway heard again is found by the ticker
-- (maintenance/rules.py), so that the first traffic of every device costs ingest nothing here.
CREATE FUNCTION maintenance_inbox_presence() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO maintenance_inbox (kind, subject, boot, at, state, detail)
    VALUES ('presence', NEW.code, NEW.boot, NEW.at, 'offline', NEW.reason);
    PERFORM pg_notify('fitmon_maintenance', '');
    RETURN NULL;
END $$;
CREATE TRIGGER maintenance_inbox_presence AFTER INSERT ON device_presence
    FOR EACH ROW WHEN (NOT NEW.online) EXECUTE FUNCTION maintenance_inbox_presence();

CREATE FUNCTION maintenance_inbox_gateway() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO maintenance_inbox (kind, subject, boot, at, state)
    VALUES ('gateway', NEW.site_code, NEW.boot, NEW.online_changed_at, 'offline');
    PERFORM pg_notify('fitmon_maintenance', '');
    RETURN NULL;
END $$;
CREATE TRIGGER maintenance_inbox_gateway_new AFTER INSERT ON gateway_state
    FOR EACH ROW WHEN (NOT NEW.online) EXECUTE FUNCTION maintenance_inbox_gateway();
CREATE TRIGGER maintenance_inbox_gateway_gone AFTER UPDATE OF online ON gateway_state
    FOR EACH ROW WHEN (OLD.online AND NOT NEW.online) EXECUTE FUNCTION maintenance_inbox_gateway();
