"""Fan-out: each outbox row (written by the triggers in the transaction of its alert or notice)
becomes one delivery per recipient channel, with what its messages will say read once, in one
transaction that also marks the row, so a row is fanned out once or not at all. Never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from notifications.preferences import PEOPLE_WITH_PREFERENCES, PREFERENCES_WITH_DEFAULTS

BATCH = 500

# What a message says: the item, its site, the fault, the ticket and, for a reminder or an
# escalation, what has (not) happened since (the ticket's last recorded action).
_WAITING = """
SELECT o.id, o.kind, o.severity, o.created_at,
       a.id AS alert_id, a.rule, a.fault, a.detail, a.raised_at, a.subject,
       t.id AS ticket_id, t.status AS ticket_status, t.title AS ticket_title, t.opened_at,
       t.due_at, t.last_activity_at, t.crew_id AS ticket_crew_id,
       n.round, n.person_id AS notice_person_id,
       s.code AS site_code, s.name AS site_name, s.address AS site_address,
       s.latitude, s.longitude,
       e.code AS item_code, e.kind AS item_kind, e.model AS item_model, e.location AS item_location,
       (SELECT d.crew_id FROM crew_districts d WHERE d.district = left(s.code, 6)) AS district_crew,
       ap.name AS assignee_name,
       CASE WHEN o.kind <> 'alert' THEN
           (SELECT f.fault FROM alerts f WHERE f.ticket_id = t.id
            ORDER BY severity_rank(f.severity) DESC, f.raised_at LIMIT 1) END AS ticket_fault,
       CASE WHEN o.kind <> 'alert' THEN
           (SELECT f.rule FROM alerts f WHERE f.ticket_id = t.id
            ORDER BY severity_rank(f.severity) DESC, f.raised_at LIMIT 1) END AS ticket_rule,
       CASE WHEN o.kind IN ('reminder', 'escalation') THEN
           (SELECT jsonb_build_object('action', l.action, 'at', l.at, 'to', l.to_state)
            FROM audit_trail l WHERE l.entity = 'ticket' AND l.entity_id = t.id::text
              AND l.actor_kind = 'person'
            ORDER BY l.at DESC, l.id DESC LIMIT 1) END AS last_action
FROM notification_outbox o
LEFT JOIN alerts a ON a.id = o.alert_id
LEFT JOIN tickets t ON t.id = coalesce(a.ticket_id, o.ticket_id)
LEFT JOIN ticket_notices n ON n.id = o.notice_id
JOIN sites s ON s.code = coalesce(a.site_code, t.site_code)
LEFT JOIN equipment e ON e.code = coalesce(t.code, CASE WHEN a.subject <> a.site_code
                                                        THEN a.subject END)
LEFT JOIN people ap ON ap.id = t.assignee_id
WHERE o.fanned_out_at IS NULL
ORDER BY o.id
LIMIT %(limit)s
FOR UPDATE OF o SKIP LOCKED
"""

_CREW_CHANNELS = """
SELECT id, kind, language FROM crew_channels
WHERE crew_id = %(crew)s AND active AND %(severity)s = ANY (severities)
"""

# The crew's members and its supervisor, or the one person a notice is for, with their
# preferences (defaults when they have none).
_PEOPLE = f"""
SELECT p.id, p.email, {PREFERENCES_WITH_DEFAULTS}
FROM {PEOPLE_WITH_PREFERENCES}
WHERE p.active AND """
_CREW_PEOPLE = (
    _PEOPLE
    + """p.id IN (SELECT person_id FROM crew_members WHERE crew_id = %(crew)s
                      UNION SELECT supervisor_id FROM crews WHERE id = %(crew)s)"""
)
_PERSON = _PEOPLE + "p.id = %(person)s"

_INSERT = """
INSERT INTO notification_deliveries (outbox_id, lane, kind, crew_id, crew_channel_id, person_id,
                                     language, severity, site_code, due_at)
VALUES (%(outbox)s, %(lane)s, %(kind)s, %(crew)s, %(channel)s, %(person)s, %(language)s,
        %(severity)s, %(site)s, %(due)s)
ON CONFLICT (outbox_id, lane) DO NOTHING
"""

_MARK = "UPDATE notification_outbox SET fanned_out_at = %s, facts = %s WHERE id = %s"


@dataclass(frozen=True, slots=True)
class FanOut:
    events: int
    deliveries: int


def quiet_until(now: datetime, zone: str, start: time | None, end: time | None) -> datetime | None:
    """When the quiet hours that hold at `now` end (None: not quiet now). Hours that pass
    midnight (22:00 to 07:00) are read as such; an unknown zone is read as Asia/Shanghai."""
    if start is None or end is None:
        return None
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("Asia/Shanghai")
    local = now.astimezone(tz)
    clock = local.time().replace(tzinfo=None)
    overnight = start > end
    quiet = (start <= clock or clock < end) if overnight else (start <= clock < end)
    if not quiet:
        return None
    ends = datetime.combine(local.date(), end, tzinfo=tz)
    if ends <= local:
        ends += timedelta(days=1)
    return ends


def _facts(row: dict[str, Any]) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    last = row["last_action"]
    return {
        "event": row["kind"],
        "severity": row["severity"],
        "rule": row["rule"] or row["ticket_rule"] or "",
        "fault": row["fault"] or row["ticket_fault"] or "",
        "detail": row["detail"] or row["ticket_title"],
        "started_at": iso(row["raised_at"] or row["opened_at"]),
        "subject": row["subject"] or row["item_code"] or row["site_code"],
        "item_code": row["item_code"],
        "item_kind": row["item_kind"],
        "item_model": row["item_model"],
        "item_location": row["item_location"],
        "site_code": row["site_code"],
        "site_name": row["site_name"],
        "site_address": row["site_address"],
        "latitude": row["latitude"],
        "longitude": row["longitude"],
        "ticket_id": row["ticket_id"],
        "ticket_status": row["ticket_status"],
        "due_at": iso(row["due_at"]),
        "last_activity_at": iso(row["last_activity_at"]),
        "assignee_name": row["assignee_name"],
        "round": row["round"],
        "last_action": last,
        "queued_at": iso(row["created_at"]),
    }


def fan_out(
    conn: psycopg.Connection[Any], now: datetime, *, mqtt: bool, limit: int = BATCH
) -> FanOut:
    """Fan out up to `limit` waiting outbox rows. `mqtt`: crews' MQTT topics are served."""
    with conn.cursor(row_factory=dict_row) as cur:
        waiting = cur.execute(_WAITING, {"limit": limit}).fetchall()
    lookups = _RecipientLookups(conn)
    made = 0
    for row in waiting:
        deliveries = _recipients(lookups, row, now, mqtt=mqtt)
        if deliveries:
            with conn.cursor() as cur:
                cur.executemany(_INSERT, deliveries)
        made += len(deliveries)
        conn.execute(_MARK, (now, Jsonb(_facts(row)), row["id"]))
    return FanOut(len(waiting), made)


class _RecipientLookups:
    """Crews' channels and people, and notices' people, each read once per batch (the batch is
    one transaction): a storm brings many alerts for the same crew."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn
        self._channels: dict[tuple[int, str], list[tuple[Any, ...]]] = {}
        self._people: dict[tuple[str, int], list[dict[str, Any]]] = {}

    def channels(self, crew: int, severity: str) -> list[tuple[Any, ...]]:
        """(id, kind, language) of the crew's active channels that take `severity`."""
        if (crew, severity) not in self._channels:
            params = {"crew": crew, "severity": severity}
            self._channels[crew, severity] = self._conn.execute(_CREW_CHANNELS, params).fetchall()
        return self._channels[crew, severity]

    def crew_people(self, crew: int) -> list[dict[str, Any]]:
        """The crew's active members and its supervisor, with their preferences."""
        return self._read_people(_CREW_PEOPLE, "crew", crew)

    def person(self, person_id: int) -> list[dict[str, Any]]:
        """The person, with their preferences, when active."""
        return self._read_people(_PERSON, "person", person_id)

    def _read_people(self, query: str, name: str, value: int) -> list[dict[str, Any]]:
        if (name, value) not in self._people:
            with self._conn.cursor(row_factory=dict_row) as cur:
                self._people[name, value] = cur.execute(query, {name: value}).fetchall()
        return self._people[name, value]


def _recipients(
    lookups: _RecipientLookups, row: dict[str, Any], now: datetime, *, mqtt: bool
) -> list[dict[str, Any]]:
    kind, severity = row["kind"], row["severity"]
    crew = row["ticket_crew_id"] if kind != "alert" else row["district_crew"]
    base = {"outbox": row["id"], "severity": severity, "site": row["site_code"], "due": now}
    out: list[dict[str, Any]] = []
    if crew is not None and kind in ("alert", "escalation"):
        for channel_id, channel_kind, language in lookups.channels(crew, severity):
            out.append(
                base
                | {
                    "lane": f"channel:{channel_id}",
                    "kind": channel_kind,
                    "crew": crew,
                    "channel": channel_id,
                    "person": None,
                    "language": language,
                }
            )
        if mqtt:
            out.append(
                base
                | {
                    "lane": f"mqtt:crew:{crew}",
                    "kind": "mqtt",
                    "crew": crew,
                    "channel": None,
                    "person": None,
                    "language": "zh",
                }
            )
    if kind == "alert":
        if crew is None:
            return out
        people = [p for p in lookups.crew_people(crew) if severity in p["severities"]]
    else:
        if row["notice_person_id"] is None:
            return out
        people = lookups.person(row["notice_person_id"])
    for person in people:
        due = now
        if severity != "critical":  # a critical alert breaks through quiet hours
            quiet = quiet_until(
                now, person["time_zone"], person["quiet_from"], person["quiet_until"]
            )
            due = quiet or now
        for channel in person["channels"]:
            if (channel == "email" and person["email"]) or (
                channel == "webhook" and person["webhook_url"]
            ):
                out.append(
                    base
                    | {
                        "lane": f"{channel}:person:{person['id']}",
                        "kind": channel,
                        "crew": crew,
                        "channel": None,
                        "person": person["id"],
                        "language": person["language"],
                        "due": due,
                    }
                )
    return out
