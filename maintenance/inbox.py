"""Taking the events ingest and the intakes left in maintenance_inbox: device faults, devices and
gateways going offline or back online, citizens' reports, inspections' defects. Each is taken
once: the rows are deleted in the transaction that acts on them, which holds the maintenance
lock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
import structlog
from psycopg.rows import class_row

from maintenance.alerts import Raise, clear_alert, raise_alert
from maintenance.audit import Actor, record
from maintenance.settings import MaintenanceSettings

log = structlog.get_logger(__name__)

# One maintenance transaction at a time, across every instance of the service and the API.
MAINTENANCE_LOCK = 0x666974_6D61696E  # "fitmain"


@dataclass(frozen=True, slots=True)
class InboxEvent:
    id: int
    kind: str
    subject: str
    boot: int | None
    seq: int | None
    at: datetime
    fault: str | None
    severity: str | None
    state: str | None
    detail: str | None
    report_id: int | None
    inspection_id: int | None


_TAKE = """
DELETE FROM maintenance_inbox WHERE id IN (
    SELECT id FROM maintenance_inbox ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
) RETURNING id, kind, subject, boot, seq, at, fault, severity, state, detail, report_id,
    inspection_id
"""

# The latest device event per item and fault code wins; an older one is history only.
_FAULT_STATE = """
INSERT INTO device_fault_state AS s (code, fault, boot, seq, state, ts)
VALUES (%(code)s, %(fault)s, %(boot)s, %(seq)s, %(state)s, %(ts)s)
ON CONFLICT (code, fault) DO UPDATE SET boot = excluded.boot, seq = excluded.seq,
    state = excluded.state, ts = excluded.ts
WHERE (s.boot, s.seq) < (excluded.boot, excluded.seq)
RETURNING state
"""

_ITEM_STATUS = "SELECT service_status FROM equipment WHERE code = %s"

_REPORT = """
SELECT r.id, r.code, r.category, r.hazard, r.description FROM citizen_reports r WHERE r.id = %s
"""


@dataclass(frozen=True, slots=True)
class _Report:
    id: int
    code: str
    category: str
    hazard: bool
    description: str


def lock(conn: psycopg.Connection[Any]) -> None:
    """Take the maintenance lock for the rest of the transaction."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (MAINTENANCE_LOCK,))


def take_inbox(
    conn: psycopg.Connection[Any], now: datetime, settings: MaintenanceSettings, limit: int = 500
) -> int:
    """Act on up to `limit` waiting events, in order per device (boot, seq); returns how many.
    The caller commits."""
    lock(conn)
    with conn.cursor(row_factory=class_row(InboxEvent)) as cur:
        events = cur.execute(_TAKE, (limit,)).fetchall()
    events.sort(key=lambda e: (e.subject, e.boot or 0, e.seq or 0, e.at, e.id))
    for event in events:
        if event.kind == "fault":
            _take_fault(conn, now, settings, event)
        elif event.kind == "presence":
            _take_presence(conn, now, settings, event)
        elif event.kind == "gateway":
            _take_gateway(conn, now, settings, event)
        elif event.kind == "inspection":
            _take_defect(conn, now, settings, event)
        else:
            _take_report(conn, now, settings, event)
    return len(events)


def _retired(conn: psycopg.Connection[Any], now: datetime, event: InboxEvent) -> bool:
    row = conn.execute(_ITEM_STATUS, (event.subject,)).fetchone()
    if row is not None and row[0] != "retired":
        return False
    why = "retired" if row is not None else "not registered"
    record(
        conn,
        now,
        Actor.device(event.subject),
        "equipment",
        event.subject,
        f"{event.kind} ignored",
        detail=f"the item is {why}: {event.state} {event.fault or ''}",
    )
    log.info("event for an item out of the registry ignored", code=event.subject, item=why)
    return True


def _take_fault(
    conn: psycopg.Connection[Any], now: datetime, settings: MaintenanceSettings, e: InboxEvent
) -> None:
    assert e.fault is not None
    assert e.boot is not None
    assert e.seq is not None
    newest = conn.execute(
        _FAULT_STATE,
        {
            "code": e.subject,
            "fault": e.fault,
            "boot": e.boot,
            "seq": e.seq,
            "state": e.state,
            "ts": e.at,
        },
    ).fetchone()
    actor = Actor.device(e.subject)
    if newest is None:  # an event older than one already taken: history only
        record(
            conn,
            now,
            actor,
            "equipment",
            e.subject,
            "fault event out of order",
            detail=f"{e.fault} {e.state} (boot {e.boot}, seq {e.seq}) is older than the latest",
        )
        return
    if _retired(conn, now, e):
        return
    if e.state == "raised":
        raise_alert(conn, now, settings, _raised(e, "device_fault"), actor)
    else:
        clear_alert(
            conn, now, subject=e.subject, rule="device_fault", fault=e.fault, at=now, actor=actor
        )


def _take_presence(
    conn: psycopg.Connection[Any], now: datetime, settings: MaintenanceSettings, e: InboxEvent
) -> None:
    actor = Actor.rule(f"device_{e.detail}")  # traffic, birth, will, silent
    if e.state == "online":
        clear_alert(conn, now, subject=e.subject, rule="device_offline", at=now, actor=actor)
        return
    if _retired(conn, now, e):
        return
    how = "its last will" if e.detail == "will" else "silent past its heartbeat allowance"
    seen = Raise(e.subject, "device_offline", "minor", e.at, detail=f"offline: {how}")
    raise_alert(conn, now, settings, seen, actor)


def _take_gateway(
    conn: psycopg.Connection[Any], now: datetime, settings: MaintenanceSettings, e: InboxEvent
) -> None:
    actor = Actor.rule("gateway_presence")
    if e.state == "online":
        clear_alert(conn, now, subject=e.subject, rule="gateway_offline", at=now, actor=actor)
        return
    seen = Raise(
        e.subject,
        "gateway_offline",
        "major",
        e.at,
        detail="the site's gateway is offline: its items cannot report",
        needs_ticket=False,
    )
    raise_alert(conn, now, settings, seen, actor)


def _take_report(
    conn: psycopg.Connection[Any], now: datetime, settings: MaintenanceSettings, e: InboxEvent
) -> None:
    with conn.cursor(row_factory=class_row(_Report)) as cur:
        report = cur.execute(_REPORT, (e.report_id,)).fetchone()
    if report is None or _retired(conn, now, e):
        return
    seen = Raise(
        subject=report.code,
        rule="citizen_report",
        severity="critical" if report.hazard else "major",
        at=e.at,
        fault=report.category,
        detail=f"report {report.id}: {report.description[:200]}",
        out_of_service=report.hazard,
    )
    raise_alert(conn, now, settings, seen, Actor.rule(f"citizen_report_{report.id}"))


def _take_defect(
    conn: psycopg.Connection[Any], now: datetime, settings: MaintenanceSettings, e: InboxEvent
) -> None:
    """An inspection's failed check of an item (maintenance.inspections): an alert whose fault is
    the check's key, so the same defect found again joins the open alert."""
    if _retired(conn, now, e):
        return
    seen = _raised(e, "inspection_defect")
    raise_alert(conn, now, settings, seen, Actor.rule(f"inspection_{e.inspection_id}"))


def _raised(e: InboxEvent, rule: str) -> Raise:
    """What a raised device fault or an inspection's defect asks for: an alert of `rule`, which
    a critical one takes the item out of service."""
    assert e.fault is not None
    assert e.severity is not None
    return Raise(
        subject=e.subject,
        rule=rule,
        severity=e.severity,
        at=e.at,
        fault=e.fault,
        detail=e.detail,
        out_of_service=e.severity == "critical",
    )
