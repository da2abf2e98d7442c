-- The public scan page and the crew pages: photos of citizens' reports and of repairs, and a
-- report's phone number kept only while its ticket needs it.

-- Photos, re-encoded without their metadata (a phone's photo carries where it was taken): a
-- citizen's with their report, or a crew member's with the ticket they repaired.
CREATE TABLE photos (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    report_id     bigint REFERENCES citizen_reports (id),
    ticket_id     bigint REFERENCES tickets (id),
    taken_by      bigint REFERENCES people (id),
    content_type  text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png')),
    width         integer NOT NULL CHECK (width BETWEEN 1 AND 10000),
    height        integer NOT NULL CHECK (height BETWEEN 1 AND 10000),
    data          bytea NOT NULL CHECK (octet_length(data) BETWEEN 1 AND 8388608),
    created_at    timestamptz NOT NULL,
    CHECK ((report_id IS NULL) <> (ticket_id IS NULL)),
    CHECK (taken_by IS NULL OR ticket_id IS NOT NULL)
);
CREATE INDEX photos_report_idx ON photos (report_id) WHERE report_id IS NOT NULL;
CREATE INDEX photos_ticket_idx ON photos (ticket_id) WHERE ticket_id IS NOT NULL;

-- The phone number of a report is erased once no unclosed ticket of its item needs the
-- follow-up call (maintenance/report_phones.py); when, is kept.
ALTER TABLE citizen_reports ADD COLUMN phone_erased_at timestamptz;
CREATE INDEX citizen_reports_phone_idx ON citizen_reports (code) WHERE phone IS NOT NULL;
