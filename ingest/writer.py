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
from datetime import datetime
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from ingest.decode import USAGE_ROW_FIELDS, DeadLetter, DecodedBatch, WillEvent

# Plan every statement with its real arguments. psycopg prepares a statement after 5 runs, and
# after 5 more PostgreSQL may switch to a generic plan, which assumes unnest() of an array
# parameter yields 10 rows: for _DEVICES_SEEN that is a nested loop over the batch's devices,
# quadratic in their number (190 ms instead of 11 ms for 1,000 devices).
_SESSION = "SET plan_cache_mode = force_custom_plan"

_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS stage_usage (LIKE usage_sessions) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_status (LIKE status_reports) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_faults (LIKE fault_events) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_births (LIKE device_births) ON COMMIT DELETE ROWS;
"""

_USAGE_COLUMNS = ", ".join(USAGE_ROW_FIELDS)
_USAGE_TYPES = [
    "text",
    "int8",
    "int8",
    "int8",  # ts and started_at: timestamptz columns, sent in their binary form (decode.pg_micros)
    "int8",
    "float8",
    "int4",
    "float8",
    "float8",
    "float8",
    "timestamptz",
]
_STATUS_COLUMNS = (
    "code, boot, seq, ts, online, battery_pct, rssi_dbm, temp_c, tilt_deg, received_at"
)
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
_FAULT_COLUMNS = "code, boot, seq, ts, fault, severity, state, detail, received_at"
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
_BIRTH_COLUMNS = "code, boot, seq, ts, fw, model, kind, heartbeat_s, received_at"
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
    SELECT {_USAGE_COLUMNS} FROM stage_usage
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
)
SELECT count(*) FROM ins
"""

# The rollup of rows known to be new (the direct COPY took them all), summed by the caller.
_ROLLUP = """
INSERT INTO usage_hourly AS h (code, hour, sessions, reps, duration_s, energy_wh)
SELECT code, to_timestamp(hour * 3600), sessions, reps, duration, energy
FROM unnest(%(codes)b::text[], %(hours)b::int8[], %(sessions)b::int4[], %(reps)b::int8[],
            %(duration)b::float8[], %(energy)b::float8[])
    AS s(code, hour, sessions, reps, duration, energy)
ON CONFLICT (code, hour) DO UPDATE SET
    sessions = h.sessions + excluded.sessions, reps = h.reps + excluded.reps,
    duration_s = h.duration_s + excluded.duration_s, energy_wh = h.energy_wh + excluded.energy_wh
"""

_INSERT_STATUS = f"""
WITH ins AS (
    INSERT INTO status_reports ({_STATUS_COLUMNS}) SELECT {_STATUS_COLUMNS} FROM stage_status
    ON CONFLICT DO NOTHING RETURNING 1
) SELECT count(*) FROM ins
"""

_INSERT_FAULTS = f"""
WITH ins AS (
    INSERT INTO fault_events ({_FAULT_COLUMNS}) SELECT {_FAULT_COLUMNS} FROM stage_faults
    ON CONFLICT DO NOTHING RETURNING 1
) SELECT count(*) FROM ins
"""

_INSERT_BIRTHS = f"""
INSERT INTO device_births ({_BIRTH_COLUMNS}) SELECT {_BIRTH_COLUMNS} FROM stage_births
ON CONFLICT DO NOTHING RETURNING code, boot, ts, fw, model, heartbeat_s, received_at
"""

# Traffic means online. `prev` reads the state before this statement (one snapshot for all of
# a WITH), so a presence row is written only when a device comes (back) online.
_DEVICES_SEEN = """
WITH seen AS (
    SELECT * FROM unnest(%(codes)b::text[], %(boots)b::int8[], %(at)b::timestamptz[])
        AS s(code, boot, at)
), prev AS (
    SELECT d.code, d.online FROM device_state d JOIN seen USING (code)
), up AS (
    INSERT INTO device_state AS d (code, boot, online, last_seen_at, online_changed_at)
    SELECT code, boot, true, at, at FROM seen
    ON CONFLICT (code) DO UPDATE SET
        boot = greatest(d.boot, excluded.boot),
        last_seen_at = greatest(d.last_seen_at, excluded.last_seen_at),
        online = true, offline_reason = NULL,
        online_changed_at = CASE WHEN d.online THEN d.online_changed_at
                                 ELSE excluded.online_changed_at END
)
INSERT INTO device_presence (code, at, online, reason, boot)
SELECT seen.code, seen.at, true, 'traffic', seen.boot
FROM seen LEFT JOIN prev USING (code) WHERE prev.online IS NOT TRUE
"""

_DEVICES_BORN = """
UPDATE device_state AS d
SET fw = b.fw, model = b.model, heartbeat_s = b.heartbeat_s, last_birth_at = b.ts
FROM unnest(%(codes)s::text[], %(boots)s::int8[], %(ts)s::timestamptz[], %(fw)s::text[],
            %(model)s::text[], %(hb)s::int4[]) AS b(code, boot, ts, fw, model, heartbeat_s)
WHERE d.code = b.code AND b.boot >= d.boot
  AND (d.last_birth_at IS NULL OR b.boot > d.boot OR b.ts >= d.last_birth_at)
"""

# PROTOCOL.md: a will whose boot is older than the device's latest boot is stale and ignored.
_DEVICE_WILLS = """
WITH w AS (
    SELECT * FROM unnest(%(codes)s::text[], %(boots)s::int8[], %(at)s::timestamptz[])
        AS w(code, boot, at)
), prev AS (
    SELECT d.code, d.online FROM device_state d JOIN w USING (code)
), up AS (
    INSERT INTO device_state AS d (code, boot, online, online_changed_at, offline_reason)
    SELECT code, boot, false, at, 'will' FROM w
    ON CONFLICT (code) DO UPDATE SET
        online = false, offline_reason = 'will', boot = excluded.boot,
        online_changed_at = CASE WHEN d.online THEN excluded.online_changed_at
                                 ELSE d.online_changed_at END
    WHERE d.boot <= excluded.boot
    RETURNING d.code
), presence AS (
    INSERT INTO device_presence (code, at, online, reason, boot)
    SELECT w.code, w.at, false, 'will', w.boot
    FROM w JOIN up USING (code) LEFT JOIN prev USING (code) WHERE prev.online IS DISTINCT FROM false
)
SELECT count(*) FROM up
"""

_GATEWAYS_SEEN = """
INSERT INTO gateway_state AS g (site_code, online, last_seen_at, online_changed_at)
SELECT site, true, at, at FROM unnest(%(sites)b::text[], %(at)b::timestamptz[]) AS s(site, at)
ON CONFLICT (site_code) DO UPDATE SET
    online = true, last_seen_at = greatest(g.last_seen_at, excluded.last_seen_at),
    online_changed_at = CASE WHEN g.online THEN g.online_changed_at
                             ELSE excluded.online_changed_at END
"""

_GATEWAY_WILLS = """
WITH up AS (
    INSERT INTO gateway_state AS g (site_code, boot, online, online_changed_at)
    SELECT site, boot, false, at
    FROM unnest(%(sites)s::text[], %(boots)s::int8[], %(at)s::timestamptz[]) AS s(site, boot, at)
    ON CONFLICT (site_code) DO UPDATE SET
        online = false, boot = excluded.boot,
        online_changed_at = CASE WHEN g.online THEN excluded.online_changed_at
                                 ELSE g.online_changed_at END
    WHERE g.boot IS NULL OR g.boot <= excluded.boot
    RETURNING 1
) SELECT count(*) FROM up
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

_MARK_SILENT_OFFLINE = """
WITH gone AS (
    UPDATE device_state SET online = false, offline_reason = 'silent', online_changed_at = %(now)s
    WHERE online
      AND last_seen_at < %(now)s
                         - make_interval(secs => %(beats)s * coalesce(heartbeat_s, %(hb)s)
                                                 + %(lag)s)
    RETURNING code, boot
), presence AS (
    INSERT INTO device_presence (code, at, online, reason, boot)
    SELECT code, %(now)s, false, 'silent', boot FROM gone
)
SELECT count(*) FROM gone
"""


@dataclass(slots=True)
class WriteResult:
    stored: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    wills_applied: int = 0
    wills_stale: int = 0
    # Devices written online by this transaction: (code, boot, arrival in epoch seconds), for
    # the writer's PresenceCache once it commits.
    seen_written: list[tuple[str, int, float]] = field(default_factory=list)


# How far device_state.last_seen_at may lag behind a device's latest traffic (PresenceCache).
SEEN_LAG_S = 1.0


class PresenceCache:
    """The devices a worker wrote online lately, so that their traffic need not be written again
    within `window_s` of arrival time: last_seen_at is then at most that much behind, which
    matters when a backlog drains and a device's messages come in a burst.

    Safe because one worker sees all of a device's messages (ingest shares them out by site), so
    its will or a new boot reaches this cache before anything else, and because the silent-device
    check allows for the lag (a device is marked offline after three heartbeat intervals plus
    SEEN_LAG_S without traffic). Update it only with writes that committed.
    """

    def __init__(self, window_s: float = SEEN_LAG_S, max_devices: int = 500_000) -> None:
        self._window_s = window_s
        self._max_devices = max_devices
        self._written: dict[str, tuple[int, float]] = {}  # code -> (boot, arrival written)

    def fresh(self, code: str, boot: int, at_s: float) -> bool:
        known = self._written.get(code)
        return known is not None and known[0] == boot and 0 <= at_s - known[1] < self._window_s

    def committed(self, written: list[tuple[str, int, float]]) -> None:
        if len(self._written) + len(written) > self._max_devices:
            self._written.clear()
        for code, boot, at_s in written:
            self._written[code] = (boot, at_s)

    def forget(self, codes: list[str]) -> None:
        for code in codes:
            self._written.pop(code, None)


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
    stage: str,
    columns: str,
    types: list[str],
    rows: Sequence[Sequence[object]],
    insert_sql: str,
) -> int:
    """Store the rows not stored yet; returns how many were new."""
    if _copy_new(conn, table, columns, types, rows):
        return len(rows)
    _copy(conn, stage, columns, types, rows)
    return _count(conn, insert_sql)


def _add_to_rollup(
    conn: psycopg.Connection[Any], rows: Sequence[Sequence[Any]], hours: Sequence[int]
) -> None:
    """Add new usage rows (code, boot, seq, ts, started_at, duration_s, reps, energy_wh, ...) to
    usage_hourly, by item and `hours`, the UTC hour of each row's started_at in epoch hours."""
    sums: dict[tuple[str, int], list[Any]] = {}
    for row, hour in zip(rows, hours, strict=True):
        key = (row[0], hour)
        total = sums.get(key)
        if total is None:
            sums[key] = [1, row[6], row[5], row[7] or 0.0]
        else:
            total[0] += 1
            total[1] += row[6]
            total[2] += row[5]
            total[3] += row[7] or 0.0
    keys = sorted(sums)
    conn.execute(
        _ROLLUP,
        {
            "codes": [code for code, _ in keys],
            "hours": [hour for _, hour in keys],  # epoch hours
            "sessions": [sums[key][0] for key in keys],
            "reps": [sums[key][1] for key in keys],
            "duration": [sums[key][2] for key in keys],
            "energy": [sums[key][3] for key in keys],
        },
    )


def _count(conn: psycopg.Connection[Any], sql: str, params: dict[str, Any] | None = None) -> int:
    row = conn.execute(sql, params).fetchone()
    return int(row[0]) if row else 0


def dead_letter_digest(topic: str, payload: bytes) -> bytes:
    return hashlib.sha256(topic.encode() + b"\x00" + payload).digest()


def write_batch(
    conn: psycopg.Connection[Any], batch: DecodedBatch, presence: PresenceCache | None = None
) -> WriteResult:
    result = WriteResult()
    rows: list[tuple[object, ...]]
    if batch.usage:
        if _copy_new(conn, "usage_sessions", _USAGE_COLUMNS, _USAGE_TYPES, batch.usage):
            _add_to_rollup(conn, batch.usage, batch.usage_hours)
            inserted = len(batch.usage)
        else:  # some were stored already: the staging insert rolls up what it inserts
            _copy(conn, "stage_usage", _USAGE_COLUMNS, _USAGE_TYPES, batch.usage)
            inserted = _count(conn, _INSERT_USAGE)
        _record(result, "usage", len(batch.usage), inserted)
    if batch.status:
        rows = [
            (
                m.code,
                m.boot,
                m.seq,
                m.ts,
                m.online,
                m.battery_pct,
                m.rssi_dbm,
                m.temp_c,
                m.tilt_deg,
                at,
            )
            for m, at in batch.status
        ]
        inserted = _store(
            conn,
            "status_reports",
            "stage_status",
            _STATUS_COLUMNS,
            _STATUS_TYPES,
            rows,
            _INSERT_STATUS,
        )
        _record(result, "status", len(batch.status), inserted)
    if batch.faults:
        rows = [
            (
                m.code,
                m.boot,
                m.seq,
                m.ts,
                m.fault,
                m.severity.value,
                m.state,
                m.detail,
                at,
            )
            for m, at in batch.faults
        ]
        inserted = _store(
            conn,
            "fault_events",
            "stage_faults",
            _FAULT_COLUMNS,
            _FAULT_TYPES,
            rows,
            _INSERT_FAULTS,
        )
        _record(result, "fault", len(batch.faults), inserted)
    births: list[tuple[Any, ...]] = []
    if batch.births:
        rows = [
            (
                m.code,
                m.boot,
                m.seq,
                m.ts,
                m.fw,
                m.model,
                m.kind,
                m.heartbeat_s,
                at,
            )
            for m, at in batch.births
        ]
        _copy(conn, "stage_births", _BIRTH_COLUMNS, _BIRTH_TYPES, rows)
        births = conn.execute(_INSERT_BIRTHS).fetchall()
        _record(result, "birth", len(batch.births), len(births))
    _write_presence(conn, batch, births, result, presence)
    if batch.dead:
        write_dead_letters(conn, batch.dead)
    return result


def _record(result: WriteResult, kind: str, received: int, inserted: int) -> None:
    result.stored[kind] = inserted
    result.duplicates[kind] = received - inserted


def _write_presence(
    conn: psycopg.Connection[Any],
    batch: DecodedBatch,
    births: list[tuple[Any, ...]],
    result: WriteResult,
    presence: PresenceCache | None,
) -> None:
    seen = sorted(
        (code, event) for code, event in batch.presence.items() if isinstance(event, tuple)
    )
    if presence is not None:
        written = [(code, event[1], event[0].timestamp()) for code, event in seen]
        keep = [not presence.fresh(code, boot, at_s) for code, boot, at_s in written]
        seen = [entry for entry, kept in zip(seen, keep, strict=True) if kept]
        result.seen_written = [entry for entry, kept in zip(written, keep, strict=True) if kept]
        presence.forget(
            [code for code, event in batch.presence.items() if isinstance(event, WillEvent)]
        )
    if seen:
        conn.execute(
            _DEVICES_SEEN,
            {
                "codes": [code for code, _ in seen],
                "boots": [event[1] for _, event in seen],
                "at": [event[0] for _, event in seen],
            },
        )
    if births:
        latest: dict[str, tuple[Any, ...]] = {}
        for row in births:  # (code, boot, ts, fw, model, heartbeat_s, received_at)
            known = latest.get(row[0])
            if known is None or (row[1], row[2]) > (known[1], known[2]):
                latest[row[0]] = row
        rows = sorted(latest.values())
        conn.execute(
            _DEVICES_BORN,
            {
                "codes": [r[0] for r in rows],
                "boots": [r[1] for r in rows],
                "ts": [r[2] for r in rows],
                "fw": [r[3] for r in rows],
                "model": [r[4] for r in rows],
                "hb": [r[5] for r in rows],
            },
        )
    wills = sorted(
        (code, event) for code, event in batch.presence.items() if isinstance(event, WillEvent)
    )
    if wills:
        applied = _count(
            conn,
            _DEVICE_WILLS,
            {
                "codes": [code for code, _ in wills],
                "boots": [w.boot for _, w in wills],
                "at": [w.received_at for _, w in wills],
            },
        )
        result.wills_applied += applied
        result.wills_stale += len(wills) - applied
    gateways_seen = sorted(
        (site, at) for site, at in batch.gateway_presence.items() if isinstance(at, datetime)
    )
    if gateways_seen:
        conn.execute(
            _GATEWAYS_SEEN,
            {
                "sites": [s for s, _ in gateways_seen],
                "at": [at for _, at in gateways_seen],
            },
        )
    gateway_wills = sorted(
        (site, w) for site, w in batch.gateway_presence.items() if isinstance(w, WillEvent)
    )
    if gateway_wills:
        applied = _count(
            conn,
            _GATEWAY_WILLS,
            {
                "sites": [s for s, _ in gateway_wills],
                "boots": [w.boot for _, w in gateway_wills],
                "at": [w.received_at for _, w in gateway_wills],
            },
        )
        result.wills_applied += applied
        result.wills_stale += len(gateway_wills) - applied


def write_dead_letters(conn: psycopg.Connection[Any], dead: list[DeadLetter]) -> int:
    """Store dead letters, returning how many are new; the same bytes on a topic add to `copies`."""
    merged: dict[bytes, tuple[DeadLetter, int]] = {}
    for letter in dead:
        digest = dead_letter_digest(letter.topic, letter.payload)
        known = merged.get(digest)
        merged[digest] = (known[0] if known else letter, (known[1] if known else 0) + 1)
    items = sorted(merged.items())
    rows = conn.execute(
        _DEAD_LETTERS,
        {
            "at": [letter.received_at for _, (letter, _) in items],
            "topics": [letter.topic for _, (letter, _) in items],
            "payloads": [letter.payload for _, (letter, _) in items],
            "categories": [letter.category for _, (letter, _) in items],
            "reasons": [letter.reason for _, (letter, _) in items],
            "codes": [letter.code for _, (letter, _) in items],
            "digests": [digest for digest, _ in items],
            "copies": [copies for _, (_, copies) in items],
        },
    ).fetchall()
    return sum(1 for (inserted,) in rows if inserted)


def mark_silent_devices_offline(
    conn: psycopg.Connection[Any], now: datetime, heartbeats: int, default_heartbeat_s: int
) -> int:
    params = {"now": now, "beats": heartbeats, "hb": default_heartbeat_s, "lag": SEEN_LAG_S}
    return _count(conn, _MARK_SILENT_OFFLINE, params)
