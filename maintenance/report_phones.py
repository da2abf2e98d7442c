"""A citizen's phone number is kept only while a ticket needs the follow-up call: the ticker erases
it once its item has no unclosed ticket and a ticket closed after the report (the call is over),
or, when no ticket ever came of it, PHONE_KEPT_WITHOUT_TICKET after the report. Never commits."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg

from maintenance.audit import Actor, record
from maintenance.settings import MaintenanceSettings

PHONE_KEPT_WITHOUT_TICKET = timedelta(days=30)

_ERASE = """
UPDATE citizen_reports r SET phone = NULL, phone_erased_at = %(now)s
WHERE r.phone IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.code = r.code AND t.status <> 'closed')
  AND (EXISTS (SELECT 1 FROM tickets t WHERE t.code = r.code AND t.closed_at >= r.received_at)
       OR r.received_at < %(cutoff)s)
RETURNING r.id, r.code
"""


def erase_report_phones(
    conn: psycopg.Connection[Any], now: datetime, settings: MaintenanceSettings
) -> int:
    """Erase the phone numbers no ticket needs any more; returns how many."""
    params = {"now": now, "cutoff": now - PHONE_KEPT_WITHOUT_TICKET}
    erased = conn.execute(_ERASE, params).fetchall()
    for report_id, code in erased:
        record(
            conn,
            now,
            Actor.rule("report_phones"),
            "equipment",
            code,
            "report phone erased",
            detail=f"report {report_id}",
        )
    return len(erased)


def mask_phone(phone: str) -> str:
    """138****8000 for a mobile number; otherwise all but the last four digits hidden."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) == 11:
        return f"{digits[:3]}****{digits[-4:]}"
    return "*" * max(0, len(digits) - 4) + digits[-4:]
