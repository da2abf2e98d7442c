"""What `fitmon verify` reads from fitmon's store: each query beside the typed function running it.

Read-only; the caller holds one read-only transaction, so every read sees the same snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.rows import class_row, scalar_row

_ITERSIZE = 10_000  # rows per round trip of the server-side cursors

CountedTable = Literal["device_births", "status_reports"]


@dataclass(frozen=True, slots=True)
class StoredHour:
    """Usage of one item in one hour (UTC), as the rollup holds it or as summed from sessions."""

    code: str
    hour: datetime
    sessions: int
    reps: int
    duration_s: float
    energy_wh: float | None


@dataclass(frozen=True, slots=True)
class StoredFault:
    code: str
    boot: int
    seq: int
    ts: datetime
    fault: str
    severity: str
    state: str
    detail: str | None


@dataclass(frozen=True, slots=True)
class StoredDeadLetter:
    topic: str
    sha256: str  # of the payload, hex
    received_at: datetime


@dataclass(frozen=True, slots=True)
class OfflineMark:
    code: str
    at: datetime


@dataclass(frozen=True, slots=True)
class _CodeCount:
    code: str
    messages: int


_MISSING_EQUIPMENT = """
SELECT c FROM unnest(%(codes)s::text[]) AS c
WHERE NOT EXISTS (SELECT 1 FROM equipment e WHERE e.code = c) ORDER BY c
"""


def missing_equipment(conn: psycopg.Connection[Any], codes: Sequence[str]) -> list[str]:
    """The codes among `codes` that no registered item has, in order."""
    with conn.cursor(row_factory=scalar_row) as cur:
        return [str(code) for code in cur.execute(_MISSING_EQUIPMENT, {"codes": list(codes)})]


_HOURLY = """
SELECT code, hour, sessions, reps, duration_s, energy_wh FROM usage_hourly
WHERE code = ANY(%(codes)s) AND hour >= %(start)s AND hour < %(end)s
ORDER BY hour, code COLLATE "C"
"""
_SESSIONS_BY_HOUR = """
SELECT code, date_trunc('hour', started_at, 'UTC') AS hour, count(*) AS sessions,
       sum(reps) AS reps, sum(duration_s) AS duration_s, coalesce(sum(energy_wh), 0) AS energy_wh
FROM usage_sessions
WHERE code = ANY(%(codes)s) AND started_at >= %(start)s AND started_at < %(end)s
GROUP BY 1, 2 ORDER BY 2, code COLLATE "C"
"""


def stored_hours(
    conn: psycopg.Connection[Any],
    source: Literal["usage_hourly", "usage_sessions"],
    params: dict[str, Any],
) -> Iterator[StoredHour]:
    """Per item and hour from the rollup or summed from the sessions, sorted by (hour, code).

    A server-side cursor streams them: constant memory for a month of a city. It needs the
    caller's transaction (the connection must not be in autocommit)."""
    query = _HOURLY if source == "usage_hourly" else _SESSIONS_BY_HOUR
    with conn.cursor(name=f"verify_{source}", row_factory=class_row(StoredHour)) as cursor:
        cursor.itersize = _ITERSIZE
        cursor.execute(query, params)
        yield from cursor


_FAULTS = """
SELECT code, boot, seq, ts, fault, severity, state, detail FROM fault_events
WHERE code = ANY(%(codes)s) AND ts >= %(start)s AND ts < %(end)s
"""


def stored_faults(conn: psycopg.Connection[Any], params: dict[str, Any]) -> list[StoredFault]:
    with conn.cursor(row_factory=class_row(StoredFault)) as cur:
        return cur.execute(_FAULTS, params).fetchall()


_COUNT_PER_CODE = """
SELECT code, count(*) AS messages FROM {table}
WHERE code = ANY(%(codes)s) AND ts >= %(start)s AND ts < %(end)s GROUP BY code
"""


def messages_per_code(
    conn: psycopg.Connection[Any],
    table: CountedTable,
    params: dict[str, Any],
) -> dict[str, int]:
    with conn.cursor(row_factory=class_row(_CodeCount)) as cur:
        rows = cur.execute(_COUNT_PER_CODE.format(table=table), params)
        return {row.code: row.messages for row in rows}


_DEAD_LETTERS = r"""
SELECT topic, encode(sha256(payload), 'hex') AS sha256, received_at FROM dead_letters
WHERE topic LIKE %(pattern)s ESCAPE '\'
"""


def dead_letters_under(conn: psycopg.Connection[Any], topic_root: str) -> list[StoredDeadLetter]:
    """Every dead letter whose topic lies under `topic_root` (taken literally, not as a pattern)."""
    escaped = topic_root.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
    with conn.cursor(row_factory=class_row(StoredDeadLetter)) as cur:
        return cur.execute(_DEAD_LETTERS, {"pattern": escaped + "/%"}).fetchall()


_OFFLINE_MARKS = """
SELECT code, at FROM device_presence
WHERE code = ANY(%(codes)s) AND NOT online AND at >= %(start)s AND at < %(end)s ORDER BY code, at
"""


def offline_marks(conn: psycopg.Connection[Any], params: dict[str, Any]) -> list[OfflineMark]:
    with conn.cursor(row_factory=class_row(OfflineMark)) as cur:
        return cur.execute(_OFFLINE_MARKS, params).fetchall()


# --- what the maintenance service made of the faults ------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """A device_fault alert, with its ticket (if any) and its item's service status now."""

    id: int
    code: str
    fault: str
    severity: str
    status: str
    raised_at: datetime
    clearing_since: datetime | None
    close_reason: str | None
    silenced: bool
    ticket_id: int | None
    ticket_takes_out_of_service: bool | None
    ticket_closed: bool | None
    service_status: str | None


_FAULT_ALERTS = """
SELECT a.id, a.subject AS code, a.fault, a.severity, a.status, a.raised_at, a.clearing_since,
       a.close_reason, a.silenced, a.ticket_id,
       t.takes_out_of_service AS ticket_takes_out_of_service,
       t.status = 'closed' AS ticket_closed, e.service_status
FROM alerts a LEFT JOIN tickets t ON t.id = a.ticket_id LEFT JOIN equipment e ON e.code = a.subject
WHERE a.rule = 'device_fault' AND a.subject = ANY(%(codes)s)
  AND a.raised_at >= %(start)s AND a.raised_at < %(end)s
ORDER BY a.id
"""


def fault_alerts(conn: psycopg.Connection[Any], params: dict[str, Any]) -> list[StoredAlert]:
    with conn.cursor(row_factory=class_row(StoredAlert)) as cur:
        return cur.execute(_FAULT_ALERTS, params).fetchall()


_TAKEN_OUT_OF_SERVICE = """
SELECT DISTINCT entity_id FROM audit_trail
WHERE entity = 'equipment' AND entity_id = ANY(%(codes)s) AND action = 'taken out of service'
"""


def taken_out_of_service(conn: psycopg.Connection[Any], params: dict[str, Any]) -> set[str]:
    """The codes the audit trail says were taken out of service at some time."""
    with conn.cursor(row_factory=scalar_row) as cur:
        return {str(code) for code in cur.execute(_TAKEN_OUT_OF_SERVICE, params)}


@dataclass(frozen=True, slots=True)
class _Slack:
    code: str
    fault: str
    events: int


# Why a raise episode may not have an alert of its own: it came while the previous alert's clear
# was settling ('raised again'), or an event of that fault arrived older than one already taken
# ('fault event out of order', its detail starting with the fault code).
_MERGED_OR_OUT_OF_ORDER = """
SELECT a.subject AS code, a.fault, count(*)::int AS events
FROM alerts a JOIN audit_trail au ON au.entity = 'alert' AND au.entity_id = a.id::text
WHERE a.rule = 'device_fault' AND a.subject = ANY(%(codes)s) AND au.action = 'raised again'
GROUP BY 1, 2
UNION ALL
SELECT entity_id AS code, split_part(detail, ' ', 1) AS fault, count(*)::int AS events
FROM audit_trail
WHERE entity = 'equipment' AND entity_id = ANY(%(codes)s) AND action = 'fault event out of order'
GROUP BY 1, 2
"""


def merged_or_out_of_order(
    conn: psycopg.Connection[Any], params: dict[str, Any]
) -> dict[tuple[str, str], int]:
    """Per (code, fault): the audit trail's raises that joined an alert still open, and its
    events taken out of order."""
    found: dict[tuple[str, str], int] = {}
    with conn.cursor(row_factory=class_row(_Slack)) as cur:
        for row in cur.execute(_MERGED_OR_OUT_OF_ORDER, params):
            found[row.code, row.fault] = found.get((row.code, row.fault), 0) + row.events
    return found


_INBOX_FAULTS = """
SELECT count(*) FROM maintenance_inbox WHERE kind = 'fault' AND subject = ANY(%(codes)s)
"""
_FAULT_STATES = "SELECT count(*) FROM device_fault_state WHERE code = ANY(%(codes)s)"


def inbox_faults(conn: psycopg.Connection[Any], codes: Sequence[str]) -> int:
    """Fault events of `codes` the maintenance service has still to take."""
    row = conn.execute(_INBOX_FAULTS, {"codes": list(codes)}).fetchone()
    return int(row[0]) if row else 0


def faults_taken(conn: psycopg.Connection[Any], codes: Sequence[str]) -> int:
    """How many (code, fault) of `codes` the maintenance service has taken an event of."""
    row = conn.execute(_FAULT_STATES, {"codes": list(codes)}).fetchone()
    return int(row[0]) if row else 0
