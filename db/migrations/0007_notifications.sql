-- Notifications: what people and crews want to hear and where, an outbox written in the same
-- transaction as the alert or notice that causes it, one delivery per recipient channel, and
-- a log of every attempt (docs/notifications.md).

-- Per person: which severities of alerts, on which of their own channels, quiet hours (a
-- critical alert breaks through) in their time zone, and their language. No row: the defaults.
CREATE TABLE notification_preferences (
    person_id       bigint PRIMARY KEY REFERENCES people (id),
    severities      text[] NOT NULL DEFAULT '{critical,major}'
                    CHECK (severities <@ ARRAY['critical', 'major', 'minor']),
    channels        text[] NOT NULL DEFAULT '{email}'
                    CHECK (channels <@ ARRAY['email', 'webhook']),
    quiet_from      time,
    quiet_until     time,
    time_zone       text NOT NULL DEFAULT 'Asia/Shanghai',
    language        text NOT NULL DEFAULT 'zh' CHECK (language IN ('zh', 'en')),
    webhook_url     text CHECK (webhook_url ~ '^https?://'),
    webhook_secret  bytea,  -- encrypted (Fernet, FITMON_SECRET_KEY); never returned
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((quiet_from IS NULL) = (quiet_until IS NULL)),
    CHECK (quiet_from IS NULL OR quiet_from <> quiet_until)
);

-- Per crew: its group robots and webhooks. A robot's URL carries its key or token, so the URL is
-- kept encrypted like the signing secret; `shown` is the URL without them, for the API.
CREATE TABLE crew_channels (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    crew_id     bigint NOT NULL REFERENCES crews (id),
    kind        text NOT NULL CHECK (kind IN ('webhook', 'wecom', 'dingtalk', 'feishu')),
    name        text NOT NULL CHECK (name <> '' AND length(name) <= 100),
    url_sealed  bytea NOT NULL,
    shown       text NOT NULL,
    secret      bytea,
    severities  text[] NOT NULL DEFAULT '{critical,major,minor}'
                CHECK (severities <@ ARRAY['critical', 'major', 'minor']),
    language    text NOT NULL DEFAULT 'zh' CHECK (language IN ('zh', 'en')),
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (crew_id, name)
);

-- What is to be told, written by the triggers below in the transaction of the alert or notice.
-- The notify process fans each row out to deliveries (one per recipient channel) and marks it.
CREATE TABLE notification_outbox (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('alert', 'assigned', 'reminder', 'escalation')),
    alert_id      bigint REFERENCES alerts (id),
    ticket_id     bigint REFERENCES tickets (id),
    notice_id     bigint REFERENCES ticket_notices (id),
    severity      text NOT NULL CHECK (severity IN ('critical', 'major', 'minor')),
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    fanned_out_at timestamptz,
    facts         jsonb,  -- what the messages say, read once at fan-out
    CHECK ((kind = 'alert') = (alert_id IS NOT NULL)),
    CHECK ((kind = 'alert') <> (notice_id IS NOT NULL))
);
CREATE INDEX notification_outbox_waiting_idx ON notification_outbox (id)
    WHERE fanned_out_at IS NULL;

-- One message to one recipient channel (a lane: a crew's robot, a crew's MQTT topic, a person's
-- e-mail or webhook). Pending until delivered, or dead after its last try.
CREATE TABLE notification_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id       bigint NOT NULL REFERENCES notification_outbox (id),
    lane            text NOT NULL,
    kind            text NOT NULL
                    CHECK (kind IN ('webhook', 'wecom', 'dingtalk', 'feishu', 'email', 'mqtt')),
    crew_id         bigint REFERENCES crews (id),
    crew_channel_id bigint REFERENCES crew_channels (id),
    person_id       bigint REFERENCES people (id),
    language        text NOT NULL CHECK (language IN ('zh', 'en')),
    severity        text NOT NULL CHECK (severity IN ('critical', 'major', 'minor')),
    site_code       text NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    due_at          timestamptz NOT NULL,  -- not before: backoff, quiet hours
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    delivered_at    timestamptz,
    message_key     text,  -- the message that carried it: several when grouped
    last_code       text,
    last_detail     text,
    UNIQUE (outbox_id, lane),
    CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);
CREATE INDEX notification_deliveries_pending_idx ON notification_deliveries (lane, due_at)
    WHERE status = 'pending';
CREATE INDEX notification_deliveries_status_idx ON notification_deliveries (status, created_at);

-- Every attempt and the receiver's answer.
CREATE TABLE notification_attempts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id  bigint NOT NULL REFERENCES notification_deliveries (id),
    attempt      integer NOT NULL CHECK (attempt >= 1),
    at           timestamptz NOT NULL,
    took_ms      integer NOT NULL CHECK (took_ms >= 0),
    ok           boolean NOT NULL,
    code         text NOT NULL,
    detail       text NOT NULL,
    message_key  text NOT NULL,
    grouped      integer NOT NULL CHECK (grouped >= 1)  -- how many deliveries the message carried
);
CREATE INDEX notification_attempts_delivery_idx ON notification_attempts (delivery_id, attempt);

-- A notice's message names its ticket's worst alert.
CREATE INDEX alerts_ticket_idx ON alerts (ticket_id) WHERE ticket_id IS NOT NULL;

CREATE FUNCTION severity_rank(severity text) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE severity WHEN 'critical' THEN 2 WHEN 'major' THEN 1 ELSE 0 END
$$;

-- A new alert, or one made more severe, is told (a silenced one, in a maintenance window, not).
CREATE FUNCTION notification_outbox_alert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO notification_outbox (kind, alert_id, ticket_id, severity)
    VALUES ('alert', NEW.id, NEW.ticket_id, NEW.severity);
    PERFORM pg_notify('fitmon_notify', '');
    RETURN NULL;
END $$;
CREATE TRIGGER notification_outbox_alert_new AFTER INSERT ON alerts
    FOR EACH ROW WHEN (NOT NEW.silenced) EXECUTE FUNCTION notification_outbox_alert();
CREATE TRIGGER notification_outbox_alert_worse AFTER UPDATE OF severity ON alerts
    FOR EACH ROW WHEN (NOT NEW.silenced AND NEW.status <> 'closed'
                       AND severity_rank(NEW.severity) > severity_rank(OLD.severity))
    EXECUTE FUNCTION notification_outbox_alert();

-- A ticket's notices (assigned, reminder, escalation) are told to their person.
CREATE FUNCTION notification_outbox_notice() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO notification_outbox (kind, ticket_id, notice_id, severity)
    SELECT NEW.kind, NEW.ticket_id, NEW.id, t.severity FROM tickets t WHERE t.id = NEW.ticket_id;
    PERFORM pg_notify('fitmon_notify', '');
    RETURN NULL;
END $$;
CREATE TRIGGER notification_outbox_notice AFTER INSERT ON ticket_notices
    FOR EACH ROW EXECUTE FUNCTION notification_outbox_notice();
