"""Usage rows on the usage_sessions hypertable: idempotent inserts and hourly time_bucket counts.

PGlite crashes on COPY and pipelined executemany, so rows go in one parameterised INSERT at a time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from db.migrate import Migration
from devices.codes import make_equipment_code
from tests.support import new_site_code
from tests.timescale.pglite import connect

_INSERT_USAGE = """
INSERT INTO usage_sessions (code, boot, seq, ts, started_at, duration_s, reps, energy_wh,
                            avg_cadence_rpm, max_load_kg, received_at)
VALUES (%(code)s, %(boot)s, %(seq)s, %(ts)s, %(started_at)s, %(duration_s)s, %(reps)s,
        %(energy_wh)s, NULL, NULL, %(received_at)s)
ON CONFLICT DO NOTHING
"""

_SESSIONS_PER_HOUR = """
SELECT time_bucket('1 hour', started_at) AS hour, count(*)
FROM usage_sessions WHERE code = %s GROUP BY hour ORDER BY hour
"""


def new_equipment_code() -> str:
    return str(make_equipment_code(new_site_code(), 1))


def insert_usage(
    conn: psycopg.Connection[tuple[Any, ...]],
    *,
    code: str,
    seq: int,
    started_at: datetime,
    boot: int = 1,
    duration_s: float = 90.0,
) -> int:
    """Insert one usage session as a device reports it; returns rows really inserted (0 or 1)."""
    ended = started_at + timedelta(seconds=duration_s)
    cursor = conn.execute(
        _INSERT_USAGE,
        {
            "code": code,
            "boot": boot,
            "seq": seq,
            "ts": ended,
            "started_at": started_at,
            "duration_s": duration_s,
            "reps": 20,
            "energy_wh": 1.5,
            "received_at": ended + timedelta(seconds=1),
        },
    )
    return cursor.rowcount


def test_duplicate_usage_is_stored_once_on_the_hypertable(
    timescale_migrated: list[Migration], timescale_url: str
) -> None:
    code = new_equipment_code()
    started_at = datetime(2025, 6, 1, 10, 5, tzinfo=UTC)
    with connect(timescale_url) as conn:
        inserted = [insert_usage(conn, code=code, seq=7, started_at=started_at) for _ in range(2)]
        stored = conn.execute(
            "SELECT tableoid::regclass::text, started_at FROM usage_sessions WHERE code = %s",
            (code,),
        ).fetchall()
    assert inserted == [1, 0]
    assert len(stored) == 1
    chunk, stored_started_at = stored[0]
    assert chunk.startswith("_timescaledb_internal._hyper_"), chunk
    assert stored_started_at == started_at


def test_time_bucket_counts_sessions_per_hour(
    timescale_migrated: list[Migration], timescale_url: str
) -> None:
    code = new_equipment_code()
    day = datetime(2025, 6, 2, tzinfo=UTC)
    minutes = [10 * 60 + 5, 10 * 60 + 20, 10 * 60 + 59, 11 * 60, 11 * 60 + 30, 13 * 60 + 15]
    with connect(timescale_url) as conn:
        for seq, minute in enumerate(minutes, start=1):
            insert_usage(conn, code=code, seq=seq, started_at=day + timedelta(minutes=minute))
        # a redelivered copy of the second session must not count twice
        insert_usage(conn, code=code, seq=2, started_at=day + timedelta(minutes=10 * 60 + 20))
        buckets = conn.execute(_SESSIONS_PER_HOUR, (code,)).fetchall()
    assert buckets == [
        (day + timedelta(hours=10), 3),
        (day + timedelta(hours=11), 2),
        (day + timedelta(hours=13), 1),
    ]
