"""The time-based rules, each a function of `now` run on the maintenance ticker (and by tests
directly): safe service life (GB 19272), overdue inspections, items unused for longer than their
own history makes likely, deadlines with reminders and escalations, and closing repaired tickets
once their item is used again. Their state lives in PostgreSQL; none commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import class_row

from maintenance.alerts import Raise, raise_alert
from maintenance.audit import Actor, record
from maintenance.settings import MaintenanceSettings
from maintenance.ticket_states import TicketAction
from maintenance.tickets import act


@dataclass(frozen=True, slots=True)
class _Subject:
    subject: str
    at: datetime
    detail: str


_SERVICE_LIFE = """
SELECT e.code AS subject,
       (e.installed_on + make_interval(years => e.service_life_years))::timestamptz AS at,
       format('installed %%s, safe service life %%s years', e.installed_on, e.service_life_years)
           AS detail
FROM equipment e
WHERE e.service_status <> 'retired'
  AND (e.installed_on + make_interval(years => e.service_life_years))::timestamptz
      <= %(now)s + %(ahead)s
  AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.subject = e.code AND a.rule = %(rule)s
                  AND a.status <> 'closed')
  AND ((e.installed_on + make_interval(years => e.service_life_years))::timestamptz <= %(now)s)
      = %(past)s
"""


def check_service_life(
    conn: psycopg.Connection[Any], now: datetime, settings: MaintenanceSettings
) -> int:
    """Items past their safe service life (an alert and a ticket: inspect, repair or replace),
    and items within the warning time of it (an alert for planning)."""
    raised = 0
    for rule, past, ahead in (
        ("service_life_past", True, timedelta(0)),
        ("service_life_near", False, timedelta(days=settings.service_life_warning_days)),
    ):
        with conn.cursor(row_factory=class_row(_Subject)) as cur:
            due = cur.execute(
                _SERVICE_LIFE, {"now": now, "ahead": ahead, "rule": rule, "past": past}
            ).fetchall()
        for item in due:
            seen = Raise(
                item.subject,
                rule,
                "major" if past else "minor",
                item.at,
                detail=item.detail,
                needs_ticket=past,
            )
            raise_alert(conn, now, settings, seen, Actor.rule(rule))
            raised += 1
    return raised


_INSPECTIONS_DUE = """
SELECT s.code AS subject,
       coalesce(max(i.inspected_at), s.created_at)
           + make_interval(days => s.inspection_interval_days) AS at,
       format('last inspected %%s; every %%s days',
              coalesce(max(i.inspected_at)::date::text, 'never'), s.inspection_interval_days)
           AS detail
FROM sites s LEFT JOIN inspections i ON i.site_code = s.code
GROUP BY s.code
HAVING coalesce(max(i.inspected_at), s.created_at)
       + make_interval(days => s.inspection_interval_days) < %(now)s
"""

_INSPECTED = """
UPDATE alerts a SET status = 'closed', closed_at = %(now)s, close_reason = 'cleared'
WHERE a.rule = 'inspection_overdue' AND a.status <> 'closed'
  AND EXISTS (SELECT 1 FROM inspections i WHERE i.site_code = a.subject
              AND i.inspected_at >= a.raised_at)
RETURNING a.id
"""


def check_inspections(
    conn: psycopg.Connection[Any], now: datetime, settings: MaintenanceSettings
) -> int:
    """Sites whose inspection is overdue get an alert; an inspection closes it."""
    for (alert_id,) in conn.execute(_INSPECTED, {"now": now}).fetchall():
        record(
            conn,
            now,
            Actor.rule("inspection_overdue"),
            "alert",
            alert_id,
            "closed",
            to_state="closed",
            detail="the site was inspected",
        )
    with conn.cursor(row_factory=class_row(_Subject)) as cur:
        due = cur.execute(_INSPECTIONS_DUE, {"now": now}).fetchall()
    for site in due:
        seen = Raise(
            site.subject,
            "inspection_overdue",
            "minor",
            site.at,
            detail=site.detail,
            needs_ticket=False,
        )
        raise_alert(conn, now, settings, seen, Actor.rule("inspection_overdue"))
    return len(due)


# An online, in-service item unused since its last session, where its own mean sessions per hour
# of week (over the history weeks) sum to `expected` over that gap: P(no session) = e^-expected.
_UNUSED = """
WITH last_use AS (
    SELECT e.code, max(h.hour) + interval '1 hour' AS since
    FROM equipment e JOIN device_state d ON d.code = e.code AND d.online
    JOIN usage_hourly h ON h.code = e.code AND h.sessions > 0
                       AND h.hour >= %(now)s - %(history)s
    WHERE e.service_status = 'in_service'
    GROUP BY e.code
), rate AS (
    SELECT h.code, extract(isodow FROM h.hour AT TIME ZONE 'Asia/Shanghai') AS dow,
           extract(hour FROM h.hour AT TIME ZONE 'Asia/Shanghai') AS hod,
           sum(h.sessions)::float8 / %(weeks)s AS mean
    FROM usage_hourly h JOIN last_use USING (code)
    WHERE h.hour >= %(now)s - %(history)s
    GROUP BY 1, 2, 3
), gap AS (
    SELECT l.code, l.since, g.hour
    FROM last_use l, generate_series(l.since, %(now)s - interval '1 hour', interval '1 hour')
        AS g(hour)
)
SELECT g.code AS subject, g.since AS at,
       format('no use since %%s, where %%s sessions were to be expected',
              g.since, round(sum(r.mean)::numeric, 1)) AS detail
FROM gap g JOIN rate r ON r.code = g.code
    AND r.dow = extract(isodow FROM g.hour AT TIME ZONE 'Asia/Shanghai')
    AND r.hod = extract(hour FROM g.hour AT TIME ZONE 'Asia/Shanghai')
GROUP BY g.code, g.since
HAVING exp(-sum(r.mean)) < %(probability)s
"""

_USED_AGAIN = """
UPDATE alerts a SET clearing_since = %(now)s
WHERE a.rule = 'unused' AND a.status <> 'closed' AND a.clearing_since IS NULL
  AND EXISTS (SELECT 1 FROM usage_hourly h WHERE h.code = a.subject AND h.sessions > 0
              AND h.hour >= date_trunc('hour', a.raised_at))
RETURNING a.id
"""


def check_unused(
    conn: psycopg.Connection[Any], now: datetime, settings: MaintenanceSettings
) -> int:
    """The "heartbeat fine, machine broken" case: an alert (and a ticket to look at it) for an
    online item unused where its own history says it would almost surely have been used."""
    for (alert_id,) in conn.execute(_USED_AGAIN, {"now": now}).fetchall():
        record(
            conn,
            now,
            Actor.rule("unused"),
            "alert",
            alert_id,
            "cleared",
            detail="the item is used again",
        )
    weeks = settings.unused_history_weeks
    params = {
        "now": now,
        "history": timedelta(weeks=weeks),
        "weeks": weeks,
        "probability": settings.unused_probability,
    }
    with conn.cursor(row_factory=class_row(_Subject)) as cur:
        unused = cur.execute(_UNUSED, params).fetchall()
    for item in unused:
        seen = Raise(item.subject, "unused", "major", item.at, detail=item.detail)
        raise_alert(conn, now, settings, seen, Actor.rule("unused"))
    return len(unused)


_BACK_ONLINE = """
UPDATE alerts a SET clearing_since = %(now)s
WHERE a.status <> 'closed' AND a.clearing_since IS NULL AND (
    (a.rule = 'device_offline' AND EXISTS (
        SELECT 1 FROM device_state d
        WHERE d.code = a.subject AND d.online AND d.online_changed_at >= a.raised_at))
    OR (a.rule = 'gateway_offline' AND EXISTS (
        SELECT 1 FROM gateway_state g
        WHERE g.site_code = a.subject AND g.online AND g.online_changed_at >= a.raised_at)))
RETURNING a.id
"""


def clear_back_online(
    conn: psycopg.Connection[Any], now: datetime, settings: MaintenanceSettings
) -> int:
    """A device or gateway heard again since its offline alert starts that alert's clear.
    (Ingest tells only of going offline: a device's traffic is not an event for the inbox.)"""
    cleared = conn.execute(_BACK_ONLINE, {"now": now}).fetchall()
    for (alert_id,) in cleared:
        record(
            conn,
            now,
            Actor.rule("back_online"),
            "alert",
            alert_id,
            "cleared",
            detail="heard from again",
        )
    return len(cleared)


@dataclass(frozen=True, slots=True)
class _Due:
    id: int
    person_id: int | None
    round: int


_REMINDERS = """
SELECT t.id, t.assignee_id AS person_id, 0 AS round FROM tickets t
WHERE t.status IN ('assigned', 'in_progress', 'reopened', 'open', 'on_hold')
  AND t.due_at - %(before)s <= %(now)s AND %(now)s < t.due_at
"""

_ESCALATIONS = """
SELECT t.id, c.supervisor_id AS person_id,
       floor(extract(epoch FROM %(now)s - t.due_at) / %(every_s)s)::int AS round
FROM tickets t LEFT JOIN crews c ON c.id = t.crew_id
WHERE t.status IN ('assigned', 'in_progress', 'reopened', 'open', 'on_hold')
  AND t.due_at <= %(now)s
"""

_NOTICE = """
INSERT INTO ticket_notices (ticket_id, kind, person_id, round, created_at)
VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id
"""


def check_deadlines(
    conn: psycopg.Connection[Any], now: datetime, settings: MaintenanceSettings
) -> int:
    """A reminder to the assignee before the deadline; past it, an escalation to the crew's
    supervisor, again every `escalate_every_h` while the ticket is not resolved. Each notice is
    made once (its key is the ticket, the kind and the round)."""
    made = 0
    for kind, sql, params in (
        (
            "reminder",
            _REMINDERS,
            {"now": now, "before": timedelta(hours=settings.reminder_before_h)},
        ),
        ("escalation", _ESCALATIONS, {"now": now, "every_s": settings.escalate_every_h * 3600}),
    ):
        with conn.cursor(row_factory=class_row(_Due)) as cur:
            due = cur.execute(sql, params).fetchall()
        for ticket in due:
            row = conn.execute(_NOTICE, (ticket.id, kind, ticket.person_id, ticket.round, now))
            if row.fetchone() is not None:
                made += 1
                record(
                    conn,
                    now,
                    Actor.rule("deadline"),
                    "ticket",
                    ticket.id,
                    kind,
                    detail=f"round {ticket.round}, to person {ticket.person_id}",
                )
    return made


_USED_AFTER_REPAIR = """
SELECT t.id FROM tickets t
WHERE t.status = 'resolved'
  AND EXISTS (SELECT 1 FROM usage_sessions u WHERE u.code = t.code AND u.started_at > t.resolved_at
              AND u.started_at <= %(now)s)
  AND NOT EXISTS (SELECT 1 FROM device_fault_state f WHERE f.code = t.code AND f.state = 'raised'
                  AND f.ts > t.resolved_at)
"""


def close_used_after_repair(
    conn: psycopg.Connection[Any], now: datetime, settings: MaintenanceSettings
) -> int:
    """A resolved ticket closes by itself once its device reports normal use again."""
    ids = [ticket_id for (ticket_id,) in conn.execute(_USED_AFTER_REPAIR, {"now": now})]
    for ticket_id in ids:
        act(conn, now, ticket_id, TicketAction.AUTO_CLOSE, Actor.rule("used_after_repair"))
    return len(ids)
