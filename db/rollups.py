"""The dashboards' usage rollups, brought up to date from usage_hourly off ingest's path.

Ingest adds each new session to usage_hourly and, in the same transaction, notes the UTC hour in
usage_rollup_pending. `refresh_usage_rollups` takes those notes and recomputes, from usage_hourly,
the hours of usage_site_hourly and the China days of usage_daily they fall in (on TimescaleDB
usage_daily is a real-time continuous aggregate, which keeps itself). A recomputation replaces
rows rather than adding to them, so a refresh run twice, or cut short, never counts twice; a note
committed while a refresh runs stays for the next one. Two refreshes never run at once (an
advisory lock), and readers see the old rows or the new ones, never a mix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

# Bureaus count days in China's time (UTC+8 all year, so a day is 24 hours whatever the session's
# time zone): `day` is the local midnight.
LOCAL_DAYS = "Asia/Shanghai"
_LOCK_KEY = 0x666974_726F6C  # "fitrol": one refresh at a time

# Distinct in the database: while no refresh runs (the maintenance service down), notes pile up,
# one per ingest transaction and hour.
_TAKE_PENDING = """
WITH taken AS (DELETE FROM usage_rollup_pending RETURNING hour) SELECT DISTINCT hour FROM taken
"""
_ALL_HOURS = "SELECT DISTINCT hour FROM usage_hourly"

_SITE_HOURS_DELETE = "DELETE FROM usage_site_hourly WHERE %(everything)s OR hour = ANY(%(hours)s)"
_SITE_HOURS_INSERT = """
INSERT INTO usage_site_hourly (hour, site_code, kind, sessions, reps, duration_s, energy_wh)
SELECT h.hour, e.site_code, e.kind, sum(h.sessions), sum(h.reps), sum(h.duration_s),
       sum(h.energy_wh)
FROM usage_hourly h
JOIN equipment e ON e.code = h.code
WHERE h.hour = ANY(%(hours)s)
GROUP BY 1, 2, 3
"""

_DAYS_DELETE = "DELETE FROM usage_daily WHERE %(everything)s OR day = ANY(%(days)s)"
_DAYS_INSERT = f"""
INSERT INTO usage_daily (code, day, sessions, reps, duration_s, energy_wh)
SELECT code, date_trunc('day', hour, '{LOCAL_DAYS}'), sum(sessions), sum(reps), sum(duration_s),
       sum(energy_wh)
FROM usage_hourly
WHERE hour >= %(first)s AND hour < %(last)s::timestamptz + interval '24 hours'
  AND date_trunc('day', hour, '{LOCAL_DAYS}') = ANY(%(days)s)
GROUP BY 1, 2
"""
_LOCAL_DAYS_OF = f"""
SELECT DISTINCT date_trunc('day', hour, '{LOCAL_DAYS}') AS day
FROM unnest(%(hours)s::timestamptz[]) AS h (hour)
ORDER BY 1
"""
# usage_daily is a table kept here on plain PostgreSQL, a continuous aggregate on TimescaleDB.
_DAILY_IS_TABLE = (
    "SELECT relkind = 'r' AS is_table FROM pg_class WHERE oid = 'usage_daily'::regclass"
)


@dataclass(frozen=True)
class RollupRefresh:
    hours: int
    days: int


@dataclass(frozen=True)
class _Hour:
    hour: datetime


@dataclass(frozen=True)
class _Day:
    day: datetime


@dataclass(frozen=True)
class _Kind:
    is_table: bool


def refresh_usage_rollups(
    conn: psycopg.Connection[Any], *, everything: bool = False
) -> RollupRefresh:
    """Bring the rollups up to date with usage_hourly, in one transaction; with `everything`,
    recompute them whole (after usage_hourly was written other than by ingest, or an item's kind
    was corrected)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        with conn.cursor(row_factory=class_row(_Hour)) as cur:
            taken = cur.execute(_TAKE_PENDING).fetchall()
            if everything:
                taken += cur.execute(_ALL_HOURS).fetchall()
        hours = sorted({row.hour for row in taken})
        if not hours and not everything:
            return RollupRefresh(hours=0, days=0)
        conn.execute(_SITE_HOURS_DELETE, {"hours": hours, "everything": everything})
        conn.execute(_SITE_HOURS_INSERT, {"hours": hours})
        with conn.cursor(row_factory=class_row(_Kind)) as cur:
            kind = cur.execute(_DAILY_IS_TABLE).fetchone()
        if kind is None or not kind.is_table:
            return RollupRefresh(hours=len(hours), days=0)
        with conn.cursor(row_factory=class_row(_Day)) as cur:
            days = [row.day for row in cur.execute(_LOCAL_DAYS_OF, {"hours": hours})]
        conn.execute(_DAYS_DELETE, {"days": days, "everything": everything})
        if days:
            conn.execute(_DAYS_INSERT, {"days": days, "first": days[0], "last": days[-1]})
        return RollupRefresh(hours=len(hours), days=len(days))
