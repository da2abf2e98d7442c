"""Alerts and tickets written straight into the test database, at the times a figure test needs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg


def add_alert(
    conn: psycopg.Connection[Any],
    code: str,
    *,
    raised_at: datetime,
    closed_at: datetime | None = None,
    rule: str = "device_fault",
    fault: str = "MECH_JAM",
    severity: str = "critical",
) -> int:
    row = conn.execute(
        "INSERT INTO alerts (subject, site_code, rule, fault, severity, status, raised_at, "
        "closed_at, close_reason) VALUES (%s, left(%s, 11), %s, %s, %s, %s, %s, %s, %s) "
        "RETURNING id",
        (
            code,
            code,
            rule,
            fault,
            severity,
            "open" if closed_at is None else "closed",
            raised_at,
            closed_at,
            None if closed_at is None else "cleared",
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])


def add_ticket(
    conn: psycopg.Connection[Any],
    code: str,
    *,
    crew_id: int | None,
    opened_at: datetime,
    due_at: datetime,
    resolved_at: datetime | None = None,
    closed_at: datetime | None = None,
) -> int:
    status = "closed" if closed_at else "resolved" if resolved_at else "assigned"
    row = conn.execute(
        "INSERT INTO tickets (code, site_code, crew_id, status, severity, title, opened_at, "
        "due_at, resolved_at, closed_at, last_activity_at) "
        "VALUES (%s, left(%s, 11), %s, %s, 'major', 'test', %s, %s, %s, %s, %s) RETURNING id",
        (code, code, crew_id, status, opened_at, due_at, resolved_at, closed_at, opened_at),
    ).fetchone()
    assert row is not None
    return int(row[0])
