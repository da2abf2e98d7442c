"""Alerts: one open alert per subject, rule and fault code (a unique index holds it). A raise
opens one, or finds the open one; a clear starts its settle time and closes it once the clear
has held; a raise after it closed opens a new one. Alerts that need work open or join their
item's ticket. Never commits: the caller owns the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import class_row

from devices.codes import site_of
from maintenance.audit import Actor, record
from maintenance.settings import MaintenanceSettings
from maintenance.tickets import open_or_join

_SEVERITY_RANK = {"minor": 0, "major": 1, "critical": 2}


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    subject: str
    site_code: str
    rule: str
    fault: str
    severity: str
    status: str
    detail: str | None
    raised_at: datetime
    clearing_since: datetime | None
    closed_at: datetime | None
    silenced: bool
    ticket_id: int | None


@dataclass(frozen=True, slots=True)
class Raise:
    """What a rule saw: `subject` (an equipment code, or a site code) has `rule`'s problem."""

    subject: str
    rule: str
    severity: str
    at: datetime  # when it started (device time for a device's fault)
    fault: str = ""
    detail: str | None = None
    needs_ticket: bool = True
    out_of_service: bool = False  # a safety hazard: the item is not to be used until repaired

    @property
    def site_code(self) -> str:
        return site_of(self.subject)

    @property
    def title(self) -> str:
        what = f"{self.rule} {self.fault}".strip()
        return f"{what}: {self.detail}" if self.detail else what


_COLUMNS = """id, subject, site_code, rule, fault, severity, status, detail, raised_at,
clearing_since, closed_at, silenced, ticket_id"""

_OPEN = f"""
SELECT {_COLUMNS} FROM alerts WHERE subject = %s AND rule = %s AND fault = %s AND status <> 'closed'
FOR UPDATE
"""

_SILENCED = """
SELECT EXISTS (SELECT 1 FROM maintenance_windows
               WHERE site_code = %(site)s AND (code IS NULL OR code = %(subject)s)
                 AND starts_at <= %(now)s AND %(now)s < ends_at)
"""

_INSERT = f"""
INSERT INTO alerts (subject, site_code, rule, fault, severity, detail, raised_at, silenced)
VALUES (%(subject)s, %(site)s, %(rule)s, %(fault)s, %(severity)s, %(detail)s, %(at)s, %(silenced)s)
ON CONFLICT (subject, rule, fault) WHERE status <> 'closed' DO NOTHING
RETURNING {_COLUMNS}
"""

_RAISED_AGAIN = f"""
UPDATE alerts SET clearing_since = NULL, severity = %(severity)s,
                  detail = coalesce(%(detail)s, detail)
WHERE id = %(id)s RETURNING {_COLUMNS}
"""

_LINK = f"UPDATE alerts SET ticket_id = %s WHERE id = %s RETURNING {_COLUMNS}"

_CLEARING = f"""
UPDATE alerts SET clearing_since = %(at)s
WHERE subject = %(subject)s AND rule = %(rule)s AND fault = %(fault)s AND status <> 'closed'
  AND clearing_since IS NULL
RETURNING {_COLUMNS}
"""

_SETTLED = f"""
UPDATE alerts SET status = 'closed', closed_at = %(now)s, close_reason = 'cleared'
WHERE status <> 'closed' AND clearing_since IS NOT NULL AND clearing_since <= %(settled)s
RETURNING {_COLUMNS}
"""

_ACKNOWLEDGE = f"""
UPDATE alerts SET status = 'acknowledged', acknowledged_at = %(now)s, acknowledged_by = %(person)s
WHERE id = %(id)s AND status = 'open' RETURNING {_COLUMNS}
"""


def _one(conn: psycopg.Connection[Any], sql: str, params: Any) -> Alert | None:
    with conn.cursor(row_factory=class_row(Alert)) as cur:
        return cur.execute(sql, params).fetchone()


def raise_alert(
    conn: psycopg.Connection[Any],
    now: datetime,
    settings: MaintenanceSettings,
    seen: Raise,
    actor: Actor,
) -> Alert:
    """Open an alert for what `seen` says, or find the open one (a raise while its clear is
    settling cancels the clear); then open or join the item's ticket if it needs work."""
    alert = _one(conn, _OPEN, (seen.subject, seen.rule, seen.fault))
    if alert is None:
        silenced = bool(
            conn.execute(
                _SILENCED, {"site": seen.site_code, "subject": seen.subject, "now": now}
            ).fetchone()[0]  # type: ignore[index]
        )
        alert = _one(
            conn,
            _INSERT,
            {
                "subject": seen.subject,
                "site": seen.site_code,
                "rule": seen.rule,
                "fault": seen.fault,
                "severity": seen.severity,
                "detail": seen.detail,
                "at": seen.at,
                "silenced": silenced,
            },
        )
        if alert is None:  # another transaction opened it first: take that one
            alert = _one(conn, _OPEN, (seen.subject, seen.rule, seen.fault))
            assert alert is not None
        else:
            record(
                conn,
                now,
                actor,
                "alert",
                alert.id,
                "raised",
                to_state="open",
                detail=seen.title + (" (silenced: maintenance window)" if silenced else ""),
            )
    elif (
        alert.clearing_since is not None
        or _SEVERITY_RANK[seen.severity] > _SEVERITY_RANK[alert.severity]
    ):
        severity = max(seen.severity, alert.severity, key=_SEVERITY_RANK.__getitem__)
        again = _one(
            conn, _RAISED_AGAIN, {"id": alert.id, "severity": severity, "detail": seen.detail}
        )
        assert again is not None
        record(
            conn,
            now,
            actor,
            "alert",
            alert.id,
            "raised again",
            from_state=alert.status,
            to_state=again.status,
            detail=seen.title,
        )
        alert = again
    if seen.needs_ticket and not alert.silenced and alert.ticket_id is None:
        if seen.subject == seen.site_code:
            raise ValueError(f"rule {seen.rule} needs a ticket, which is per item, not per site")
        ticket = open_or_join(
            conn,
            now,
            settings,
            code=seen.subject,
            severity=alert.severity,
            title=seen.title,
            out_of_service=seen.out_of_service,
            actor=actor,
        )
        linked = _one(conn, _LINK, (ticket.id, alert.id))
        assert linked is not None
        alert = linked
    return alert


def clear_alert(
    conn: psycopg.Connection[Any],
    now: datetime,
    *,
    subject: str,
    rule: str,
    fault: str = "",
    at: datetime,
    actor: Actor,
) -> Alert | None:
    """Start the settle time of the open alert, if any; settle_clears closes it once it held."""
    alert = _one(conn, _CLEARING, {"subject": subject, "rule": rule, "fault": fault, "at": at})
    if alert is not None:
        record(
            conn,
            now,
            actor,
            "alert",
            alert.id,
            "cleared",
            from_state=alert.status,
            to_state=alert.status,
            detail="closes once the clear has held",
        )
    return alert


def settle_clears(
    conn: psycopg.Connection[Any], now: datetime, settings: MaintenanceSettings
) -> list[Alert]:
    """Close every alert whose clear has held for the settle time (a job of `now`)."""
    settled = now - timedelta(seconds=settings.clear_settle_s)
    with conn.cursor(row_factory=class_row(Alert)) as cur:
        closed = cur.execute(_SETTLED, {"now": now, "settled": settled}).fetchall()
    for alert in closed:
        record(
            conn,
            now,
            Actor.rule("clear_settled"),
            "alert",
            alert.id,
            "closed",
            from_state="open",
            to_state="closed",
            detail="the clear held",
        )
    return closed


def acknowledge(
    conn: psycopg.Connection[Any], now: datetime, alert_id: int, person_id: int
) -> Alert | None:
    alert = _one(conn, _ACKNOWLEDGE, {"id": alert_id, "now": now, "person": person_id})
    if alert is not None:
        record(
            conn,
            now,
            Actor.person(person_id),
            "alert",
            alert_id,
            "acknowledged",
            from_state="open",
            to_state="acknowledged",
        )
    return alert
