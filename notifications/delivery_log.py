"""Reading the deliveries and their attempts, for the API: what is pending, delivered or dead,
and every attempt with the receiver's answer. Secrets never appear: a lane names its channel."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: int
    event: str
    alert_id: int | None
    ticket_id: int | None
    kind: str
    lane: str
    crew_id: int | None
    crew_channel_id: int | None
    person_id: int | None
    severity: str
    site_code: str
    status: str
    attempts: int
    created_at: datetime
    due_at: datetime
    delivered_at: datetime | None
    message_key: str | None
    last_code: str | None
    last_detail: str | None


@dataclass(frozen=True, slots=True)
class AttemptRow:
    attempt: int
    at: datetime
    took_ms: int
    ok: bool
    code: str
    detail: str
    message_key: str
    grouped: int


_SELECT = """
SELECT d.id, o.kind AS event, o.alert_id, coalesce(o.ticket_id, a.ticket_id) AS ticket_id, d.kind,
       d.lane, d.crew_id, d.crew_channel_id, d.person_id, d.severity, d.site_code, d.status,
       d.attempts, d.created_at, d.due_at, d.delivered_at, d.message_key, d.last_code,
       d.last_detail
FROM notification_deliveries d JOIN notification_outbox o ON o.id = d.outbox_id
LEFT JOIN alerts a ON a.id = o.alert_id
"""

_LIST = (
    _SELECT
    + """
WHERE (%(status)s::text IS NULL OR d.status = %(status)s)
  AND (%(crew)s::bigint IS NULL OR d.crew_id = %(crew)s)
  AND (%(kind)s::text IS NULL OR d.kind = %(kind)s)
  AND (%(districts)s::text[] IS NULL OR left(d.site_code, 6) = ANY (%(districts)s))
  AND (%(before)s::bigint IS NULL OR d.id < %(before)s)
ORDER BY d.id DESC LIMIT %(limit)s
"""
)

_ATTEMPTS = """
SELECT attempt, at, took_ms, ok, code, detail, message_key, grouped FROM notification_attempts
WHERE delivery_id = %s ORDER BY attempt, id
"""


def list_deliveries(
    conn: psycopg.Connection[Any],
    *,
    status: str | None = None,
    crew_id: int | None = None,
    kind: str | None = None,
    districts: Iterable[str] | None = None,
    before: int | None = None,
    limit: int = 100,
) -> list[DeliveryRow]:
    """Newest first; `before` (a delivery id) pages back."""
    params = {
        "status": status,
        "crew": crew_id,
        "kind": kind,
        "districts": None if districts is None else sorted(districts),
        "before": before,
        "limit": limit,
    }
    with conn.cursor(row_factory=class_row(DeliveryRow)) as cur:
        return cur.execute(_LIST, params).fetchall()


def get_delivery(conn: psycopg.Connection[Any], delivery_id: int) -> DeliveryRow | None:
    with conn.cursor(row_factory=class_row(DeliveryRow)) as cur:
        return cur.execute(_SELECT + " WHERE d.id = %s", (delivery_id,)).fetchone()


def delivery_attempts(conn: psycopg.Connection[Any], delivery_id: int) -> list[AttemptRow]:
    with conn.cursor(row_factory=class_row(AttemptRow)) as cur:
        return cur.execute(_ATTEMPTS, (delivery_id,)).fetchall()
