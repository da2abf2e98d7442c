"""Writing a decoded batch in one transaction, each message stored once by its (code, boot, seq).

Rows are COPYed straight into their table (under a savepoint, unless nothing precedes them in
the transaction). When any of them is already stored (a redelivery after a crash, a device
resending), that COPY fails as a whole and is rolled back; the rows then go through a staging
table and `INSERT ... ON CONFLICT DO NOTHING`. The hourly rollup adds exactly the rows that were
inserted either way, so duplicates never count twice. The caller owns the transaction and commits
it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import class_row

from ingest.decoded import BirthRow, DeadLetter, DecodedBatch, FaultRow, StatusRow, UsageRow
from ingest.presence import PresenceCache, SeenWrite, write_presence

# Plan every statement with its real arguments. psycopg prepares a statement after 5 runs, and
# after 5 more PostgreSQL may switch to a generic plan, which assumes unnest() of an array
# parameter yields 10 rows: for _DEVICES_SEEN that is a nested loop over the batch's devices,
# quadratic in their number (190 ms instead of 11 ms for 1,000 devices).
_SESSION = "SET plan_cache_mode = force_custom_plan"

_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS stage_usage_sessions (LIKE usage_sessions) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_status_reports (LIKE status_reports) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_fault_events (LIKE fault_events) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_device_births (LIKE device_births) ON COMMIT DELETE ROWS;
"""

_USAGE_COLUMNS = ", ".join(UsageRow._fields)
_USAGE_TYPES = [
    "text",
    "int8",
    "int8",
    "int8",  # ts and started_at: timestamptz in binary form (ingest.decoded.pg_micros)
    "int8",
    "float8",
    "int4",
    "float8",
    "float8",
    "float8",
    "timestamptz",
]
_STATUS_COLUMNS = ", ".join(StatusRow._fields)
_STATUS_TYPES = [
    "text",
    "int8",
    "int8",
    "timestamptz",
    "bool",
    "float8",
    "float8",
    "float8",
    "float8",
    "timestamptz",
]
_FAULT_COLUMNS = ", ".join(FaultRow._fields)
_FAULT_TYPES = [
    "text",
    "int8",
    "int8",
    "timestamptz",
    "text",
    "text",
    "text",
    "text",
    "timestamptz",
]
_BIRTH_COLUMNS = ", ".join(BirthRow._fields)
_BIRTH_TYPES = [
    "text",
    "int8",
    "int8",
    "timestamptz",
    "text",
    "text",
    "text",
    "int4",
    "timestamptz",
]

_INSERT_USAGE = f"""
WITH ins AS (
    INSERT INTO usage_sessions ({_USAGE_COLUMNS})
    SELECT {_USAGE_COLUMNS} FROM stage_usage_sessions
    ON CONFLICT DO NOTHING
    RETURNING code, started_at, duration_s, reps, energy_wh
), rollup AS (
    INSERT INTO usage_hourly AS h (code, hour, sessions, reps, duration_s, energy_wh)
    SELECT code, date_trunc('hour', started_at, 'UTC'), count(*), sum(reps), sum(duration_s),
           coalesce(sum(energy_wh), 0)
    FROM ins GROUP BY 1, 2
    ON CONFLICT (code, hour) DO UPDATE SET
        sessions = h.sessions + excluded.sessions, reps = h.reps + excluded.reps,
        duration_s = h.duration_s + excluded.duration_s,
        energy_wh = h.energy_wh + excluded.energy_wh
), pending AS (
    INSERT INTO usage_rollup_pending (hour)
    SELECT DISTINCT date_trunc('hour', started_at, 'UTC') FROM ins
)
SELECT count(*) FROM ins
"""

# The rollup of rows known to be new (the direct COPY took them all), summed by the caller.
# Both rollup statements note the hours they added to in usage_rollup_pending, from which the
# dashboards' rollups are refreshed off this path (db/rollups.py).
_ROLLUP = """
WITH rollup AS (
    INSERT INTO usage_hourly AS h (code, hour, sessions, reps, duration_s, energy_wh)
    SELECT code, to_timestamp(hour * 3600), sessions, reps, duration, energy
    FROM unnest(%(codes)b::text[], %(hours)b::int8[], %(sessions)b::int4[], %(reps)b::int8[],
                %(duration)b::float8[], %(energy)b::float8[])
        AS s(code, hour, sessions, reps, duration, energy)
    ON CONFLICT (code, hour) DO UPDATE SET
        sessions = h.sessions + excluded.sessions, reps = h.reps + excluded.reps,
        duration_s = h.duration_s + excluded.duration_s,
        energy_wh = h.energy_wh + excluded.energy_wh
)
INSERT INTO usage_rollup_pending (hour)
SELECT to_timestamp(hour * 3600) FROM unnest(%(distinct_hours)b::int8[]) AS p(hour)
"""

_INSERT_STATUS = f"""
WITH ins AS (
    INSERT INTO status_reports ({_STATUS_COLUMNS})
    SELECT {_STATUS_COLUMNS} FROM stage_status_reports
    ON CONFLICT DO NOTHING RETURNING 1
) SELECT count(*) FROM ins
"""

_INSERT_FAULTS = f"""
WITH ins AS (
    INSERT INTO fault_events ({_FAULT_COLUMNS})
    SELECT {_FAULT_COLUMNS} FROM stage_fault_events
    ON CONFLICT DO NOTHING RETURNING 1
) SELECT count(*) FROM ins
"""

_INSERT_BIRTHS = f"""
INSERT INTO device_births ({_BIRTH_COLUMNS}) SELECT {_BIRTH_COLUMNS} FROM stage_device_births
ON CONFLICT DO NOTHING RETURNING {_BIRTH_COLUMNS}
"""

_DEAD_LETTERS = """
INSERT INTO dead_letters AS dl
    (received_at, topic, payload, category, reason, code, digest, copies)
SELECT * FROM unnest(%(at)s::timestamptz[], %(topics)s::text[], %(payloads)s::bytea[],
                     %(categories)s::text[], %(reasons)s::text[], %(codes)s::text[],
                     %(digests)s::bytea[], %(copies)s::int4[])
ON CONFLICT (digest) DO UPDATE SET copies = dl.copies + excluded.copies
RETURNING (xmax = 0) AS inserted
"""


@dataclass(slots=True)
class WriteResult:
    stored: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    wills_applied: int = 0
    wills_stale: int = 0
    # Devices written online by this transaction, for the writer's PresenceCache once it commits.
    seen_written: list[SeenWrite] = field(default_factory=list)

    def add(self, other: WriteResult) -> None:
        for kind, count in other.stored.items():
            self.stored[kind] = self.stored.get(kind, 0) + count
        for kind, count in other.duplicates.items():
            self.duplicates[kind] = self.duplicates.get(kind, 0) + count
        self.wills_applied += other.wills_applied
        self.wills_stale += other.wills_stale


# What the rollup sums of a usage row, by the row's field names (itemgetter: as fast as unpacking).
_ROLLED_UP = itemgetter(
    *(UsageRow._fields.index(name) for name in ("code", "duration_s", "reps", "energy_wh"))
)


@dataclass(slots=True)
class _HourSums:
    sessions: int
    reps: int
    duration_s: float
    energy_wh: float


@dataclass(frozen=True, slots=True)
class _Inserted:
    inserted: bool


@dataclass(frozen=True, slots=True)
class _Count:
    count: int


def prepare_connection(conn: psycopg.Connection[Any]) -> None:
    with conn.transaction():
        conn.execute(_SESSION)
        conn.execute(_STAGING)


def _copy(
    conn: psycopg.Connection[Any],
    table: str,
    columns: str,
    types: list[str],
    rows: Sequence[Sequence[object]],
) -> None:
    with (
        conn.cursor() as cur,
        cur.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def _copy_new(
    conn: psycopg.Connection[Any],
    table: str,
    columns: str,
    types: list[str],
    rows: Sequence[Sequence[object]],
) -> bool:
    """COPY `rows` straight into `table` if none of them is stored yet: True when they all went
    in, False (and nothing written) when one already was.

    The first write of a transaction needs no savepoint: the whole transaction is rolled back.
    """
    savepoint = conn.info.transaction_status != TransactionStatus.IDLE
    if savepoint:
        conn.execute("SAVEPOINT copy_new")
    try:
        _copy(conn, table, columns, types, rows)
    except psycopg.errors.UniqueViolation:
        if savepoint:
            conn.execute("ROLLBACK TO SAVEPOINT copy_new")
        else:
            conn.rollback()
        return False
    if savepoint:
        conn.execute("RELEASE SAVEPOINT copy_new")
    return True


def _store(
    conn: psycopg.Connection[Any],
    table: str,
    columns: str,
    types: list[str],
    rows: Sequence[Sequence[object]],
    insert_sql: str,
) -> int:
    """Store the rows not stored yet; returns how many were new."""
    if _copy_new(conn, table, columns, types, rows):
        return len(rows)
    _copy(conn, f"stage_{table}", columns, types, rows)
    return _count(conn, insert_sql)


def _add_to_rollup(
    conn: psycopg.Connection[Any], rows: Sequence[UsageRow], hours: Sequence[int]
) -> None:
    """Add new usage rows to usage_hourly, by item and `hours`, the UTC hour of each row's
    started_at in epoch hours."""
    sums: dict[tuple[str, int], _HourSums] = {}
    for row, hour in zip(rows, hours, strict=True):
        code, duration, reps, energy = _ROLLED_UP(row)
        total = sums.get((code, hour))
        if total is None:
            sums[code, hour] = _HourSums(1, reps, duration, energy or 0.0)
        else:
            total.sessions += 1
            total.reps += reps
            total.duration_s += duration
            total.energy_wh += energy or 0.0
    keys = sorted(sums)
    conn.execute(
        _ROLLUP,
        {
            "codes": [code for code, _ in keys],
            "hours": [hour for _, hour in keys],  # epoch hours
            "sessions": [sums[key].sessions for key in keys],
            "reps": [sums[key].reps for key in keys],
            "duration": [sums[key].duration_s for key in keys],
            "energy": [sums[key].energy_wh for key in keys],
            "distinct_hours": sorted({hour for _, hour in keys}),
        },
    )


def _count(conn: psycopg.Connection[Any], sql: str) -> int:
    with conn.cursor(row_factory=class_row(_Count)) as cur:
        row = cur.execute(sql).fetchone()
    return row.count if row else 0


def dead_letter_digest(topic: str, payload: bytes) -> bytes:
    """What makes a dead letter a copy of another: the same topic and the same bytes. The topic
    goes in with its length, so that no topic and payload can join alike with another pair."""
    name = topic.encode("utf-8", "surrogatepass")
    return hashlib.sha256(len(name).to_bytes(4, "big") + name + payload).digest()


def write_batch(
    conn: psycopg.Connection[Any], batch: DecodedBatch, presence: PresenceCache | None = None
) -> WriteResult:
    """Write everything in `batch`; the caller commits (and then tells `presence`)."""
    result = WriteResult()
    if batch.usage:
        if _copy_new(conn, "usage_sessions", _USAGE_COLUMNS, _USAGE_TYPES, batch.usage):
            _add_to_rollup(conn, batch.usage, batch.usage_hours)
            inserted = len(batch.usage)
        else:  # some were stored already: the staging insert rolls up what it inserts
            _copy(conn, "stage_usage_sessions", _USAGE_COLUMNS, _USAGE_TYPES, batch.usage)
            inserted = _count(conn, _INSERT_USAGE)
        _record(result, "usage", len(batch.usage), inserted)
    if batch.status:
        table, columns, types = "status_reports", _STATUS_COLUMNS, _STATUS_TYPES
        inserted = _store(conn, table, columns, types, batch.status, _INSERT_STATUS)
        _record(result, "status", len(batch.status), inserted)
    if batch.faults:
        table, columns, types = "fault_events", _FAULT_COLUMNS, _FAULT_TYPES
        inserted = _store(conn, table, columns, types, batch.faults, _INSERT_FAULTS)
        _record(result, "fault", len(batch.faults), inserted)
    born: list[BirthRow] = []
    if batch.births:
        _copy(conn, "stage_device_births", _BIRTH_COLUMNS, _BIRTH_TYPES, batch.births)
        with conn.cursor(row_factory=class_row(BirthRow)) as cur:
            born = cur.execute(_INSERT_BIRTHS).fetchall()
        _record(result, "birth", len(batch.births), len(born))
    wills = write_presence(conn, batch, born, presence)
    result.wills_applied, result.wills_stale = wills.applied, wills.stale
    result.seen_written = wills.seen_written
    if batch.dead:
        write_dead_letters(conn, batch.dead)
    return result


def _record(result: WriteResult, kind: str, received: int, inserted: int) -> None:
    result.stored[kind] = inserted
    result.duplicates[kind] = received - inserted


def storable_text(text: str) -> str:
    """`text` as PostgreSQL text can hold it: a NUL, or a lone surrogate (not UTF-8), written as
    its backslash escape. Only a dead letter's topic or claimed code can hold them: a broker
    refuses such topics (MQTT 5 section 1.5.4), and the payload models refuse such values."""
    if "\x00" not in text:
        try:
            text.encode()
        except UnicodeEncodeError:
            pass
        else:
            return text
    return text.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\x00")


def write_dead_letters(conn: psycopg.Connection[Any], dead: list[DeadLetter]) -> int:
    """Store dead letters, returning how many are new; the same bytes on a topic add to `copies`."""
    merged: dict[bytes, tuple[DeadLetter, int]] = {}
    for letter in dead:
        digest = dead_letter_digest(letter.topic, letter.payload)
        known = merged.get(digest)
        merged[digest] = (known[0] if known else letter, (known[1] if known else 0) + 1)
    items = sorted(merged.items())
    letters = [letter for _, (letter, _) in items]
    with conn.cursor(row_factory=class_row(_Inserted)) as cur:
        rows = cur.execute(
            _DEAD_LETTERS,
            {
                "at": [letter.received_at for letter in letters],
                "topics": [storable_text(letter.topic) for letter in letters],
                "payloads": [letter.payload for letter in letters],
                "categories": [letter.category for letter in letters],
                "reasons": [storable_text(letter.reason) for letter in letters],
                "codes": [
                    None if letter.code is None else storable_text(letter.code)
                    for letter in letters
                ],
                "digests": [digest for digest, _ in items],
                "copies": [copies for _, (_, copies) in items],
            },
        ).fetchall()
    return sum(1 for row in rows if row.inserted)
