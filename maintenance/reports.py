"""Citizens' fault reports (扫码报修): stored with their inbox row in the caller's transaction, and
the maintenance service woken to raise the alert (critical, out of service, for a hazard)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.rows import class_row

from db.queries.equipment import get_equipment_site
from devices.codes import parse_equipment_code

Category = Literal["broken", "unsafe", "missing_part", "dirty", "other"]
CATEGORIES: tuple[Category, ...] = ("broken", "unsafe", "missing_part", "dirty", "other")
DESCRIPTION_MAX = 2000
WAKE = "SELECT pg_notify('fitmon_maintenance', '')"  # the channel the service LISTENs on


@dataclass(frozen=True, slots=True)
class Report:
    id: int
    code: str
    category: str
    hazard: bool
    description: str
    received_at: datetime


_INSERT = """
INSERT INTO citizen_reports (code, category, hazard, description, phone, received_at)
VALUES (%(code)s, %(category)s, %(hazard)s, %(description)s, %(phone)s, %(now)s)
RETURNING id, code, category, hazard, description, received_at
"""
_INBOX = """
INSERT INTO maintenance_inbox (kind, subject, at, report_id) VALUES ('report', %s, %s, %s)
"""


def file_report(
    conn: psycopg.Connection[Any],
    now: datetime,
    *,
    code: str,
    category: Category,
    hazard: bool,
    description: str,
    phone: str | None = None,
) -> Report:
    """Raises CodeError for a malformed code or a wrong check character, LookupError for a code
    no item is registered as, ValueError for an empty or oversize description. The notification
    is sent when the caller commits."""
    parse_equipment_code(code)
    if get_equipment_site(conn, code) is None:
        raise LookupError(f"no equipment is registered as {code}")
    if category not in CATEGORIES:
        raise ValueError(f"category must be one of {', '.join(CATEGORIES)}; not {category!r}")
    text = description.strip()
    if not 1 <= len(text) <= DESCRIPTION_MAX:
        raise ValueError(f"a description has 1 to {DESCRIPTION_MAX} characters")
    params = {
        "code": code,
        "category": category,
        "hazard": hazard,
        "description": text,
        "phone": phone,
        "now": now,
    }
    with conn.cursor(row_factory=class_row(Report)) as cur:
        report = cur.execute(_INSERT, params).fetchone()
    assert report is not None
    conn.execute(_INBOX, (code, now, report.id))
    conn.execute(WAKE)
    return report
