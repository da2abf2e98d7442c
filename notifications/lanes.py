"""The database side of a lane (one recipient channel): its pending deliveries, where they go,
and what became of each attempt. Never commits: the lane's pass does, after each message."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

from notifications.channels.base import Answer, ChannelKind, Target
from notifications.sealed import Sealer, SealError


@dataclass(frozen=True, slots=True)
class DueLane:
    lane: str
    kind: ChannelKind
    due_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    lane: str
    kind: ChannelKind
    crew_id: int | None
    crew_channel_id: int | None
    person_id: int | None
    language: str
    severity: str
    site_code: str
    attempts: int
    created_at: datetime
    facts: dict[str, Any]


_DUE_LANES = """
SELECT lane, min(kind) AS kind, min(due_at) AS due_at FROM notification_deliveries
WHERE status = 'pending' GROUP BY lane
"""

_PENDING = """
SELECT d.id, d.lane, d.kind, d.crew_id, d.crew_channel_id, d.person_id, d.language, d.severity,
       d.site_code, d.attempts, d.created_at, o.facts
FROM notification_deliveries d JOIN notification_outbox o ON o.id = d.outbox_id
WHERE d.lane = %(lane)s AND d.status = 'pending' AND d.due_at <= %(now)s
ORDER BY severity_rank(d.severity) DESC, d.id
LIMIT %(limit)s
FOR UPDATE OF d SKIP LOCKED
"""

_ATTEMPT = """
INSERT INTO notification_attempts (delivery_id, attempt, at, took_ms, ok, code, detail,
                                   message_key, grouped)
VALUES (%(id)s, %(attempt)s, %(at)s, %(took_ms)s, %(ok)s, %(code)s, %(detail)s, %(key)s,
        %(grouped)s)
"""

_OUTCOME = """
UPDATE notification_deliveries
SET attempts = %(attempt)s, status = %(status)s, due_at = %(due)s, message_key = %(key)s,
    delivered_at = CASE WHEN %(status)s = 'delivered' THEN %(at)s END,
    last_code = %(code)s, last_detail = %(detail)s
WHERE id = %(id)s
"""

_CHANNEL = "SELECT kind, url_sealed, secret, active FROM crew_channels WHERE id = %s"
_EMAIL = "SELECT email FROM people WHERE id = %s AND active"
_WEBHOOK = """
SELECT np.webhook_url, np.webhook_secret FROM notification_preferences np
JOIN people p ON p.id = np.person_id WHERE np.person_id = %s AND p.active
"""
DETAIL_MAX = 500


def due_lanes(conn: psycopg.Connection[Any]) -> list[DueLane]:
    with conn.cursor(row_factory=class_row(DueLane)) as cur:
        return cur.execute(_DUE_LANES).fetchall()


def pending_in_lane(
    conn: psycopg.Connection[Any], lane: str, now: datetime, limit: int = 500
) -> list[Delivery]:
    """The lane's deliveries due by `now`, most severe first, locked for this pass."""
    with conn.cursor(row_factory=class_row(Delivery)) as cur:
        return cur.execute(_PENDING, {"lane": lane, "now": now, "limit": limit}).fetchall()


def resolve_target(
    conn: psycopg.Connection[Any], delivery: Delivery, sealer: Sealer, topic_root: str
) -> Target | str:
    """Where the lane's deliveries go, or why they cannot go anywhere (a channel removed, a
    person without an address any more, a secret this key cannot open)."""
    prefix, _, rest = delivery.lane.partition(":")
    try:
        if prefix == "channel":
            row = conn.execute(_CHANNEL, (delivery.crew_channel_id,)).fetchone()
            if row is None or not row[3]:
                return f"crew channel {delivery.crew_channel_id} was removed or turned off"
            secret = sealer.open(row[2]) if row[2] is not None else None
            return Target(row[0], sealer.open(row[1]), secret)
        if prefix == "mqtt":
            return Target("mqtt", f"{topic_root}/crews/{delivery.crew_id}")
        if prefix == "email":
            row = conn.execute(_EMAIL, (delivery.person_id,)).fetchone()
            if row is None or not row[0]:
                return f"person {delivery.person_id} has no e-mail address (or is inactive)"
            return Target("email", str(row[0]))
        if prefix == "webhook":
            row = conn.execute(_WEBHOOK, (delivery.person_id,)).fetchone()
            if row is None or not row[0]:
                return f"person {delivery.person_id} has no webhook (or is inactive)"
            secret = sealer.open(row[1]) if row[1] is not None else None
            return Target("webhook", str(row[0]), secret)
    except SealError as exc:
        return str(exc)
    return f"unknown lane {delivery.lane!r} ({rest})"


def record_attempt(
    conn: psycopg.Connection[Any],
    deliveries: Sequence[Delivery],
    answer: Answer,
    *,
    at: datetime,
    took_s: float,
    key: str,
    retry_at: Sequence[datetime | None],
) -> list[str]:
    """Log the attempt for each delivery the message carried and set what became of it:
    delivered; pending again at its `retry_at`; or dead (`retry_at` None). Returns the states."""
    detail = answer.detail[:DETAIL_MAX]
    states: list[str] = []
    attempts, outcomes = [], []
    for delivery, retry in zip(deliveries, retry_at, strict=True):
        attempt = delivery.attempts + 1
        status = "delivered" if answer.ok else ("pending" if retry is not None else "dead")
        states.append(status)
        common = {"id": delivery.id, "attempt": attempt, "at": at, "code": answer.code}
        attempts.append(
            common
            | {
                "took_ms": max(0, round(took_s * 1000)),
                "ok": answer.ok,
                "detail": detail,
                "key": key,
                "grouped": len(deliveries),
            }
        )
        outcomes.append(
            common | {"status": status, "due": retry or at, "key": key, "detail": detail}
        )
    with conn.cursor() as cur:
        cur.executemany(_ATTEMPT, attempts)
        cur.executemany(_OUTCOME, outcomes)
    return states


def dead_without_attempt(
    conn: psycopg.Connection[Any], deliveries: Sequence[Delivery], at: datetime, why: str
) -> None:
    """Deliveries that cannot be tried (no target, no adapter, a template that does not render)
    are dead at once, with the reason logged as an attempt that reached no receiver."""
    record_attempt(
        conn,
        deliveries,
        Answer(False, False, "undeliverable", why),
        at=at,
        took_s=0.0,
        key="-",
        retry_at=[None] * len(deliveries),
    )
