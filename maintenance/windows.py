"""Maintenance windows: while one is on, new alerts for its site (or only its item) are kept but
silenced, so planned work raises no tickets. Never commits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import class_row

from maintenance.audit import Actor, record

LONGEST_WINDOW = timedelta(days=90)


class WindowError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Window:
    id: int
    site_code: str
    code: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: int | None


_COLUMNS = "id, site_code, code, starts_at, ends_at, reason, created_by"
_INSERT = f"""
INSERT INTO maintenance_windows (site_code, code, starts_at, ends_at, reason, created_by)
VALUES (%(site)s, %(code)s, %(starts)s, %(ends)s, %(reason)s, %(by)s) RETURNING {_COLUMNS}
"""
_SEES = "(%(districts)s::text[] IS NULL OR left(site_code, 6) = ANY(%(districts)s))"
_LIST = f"""
SELECT {_COLUMNS} FROM maintenance_windows
WHERE {_SEES} AND (%(site)s::text IS NULL OR site_code = %(site)s)
  AND (NOT %(current)s OR ends_at > %(now)s)
ORDER BY starts_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s
"""
_GET = f"SELECT {_COLUMNS} FROM maintenance_windows WHERE id = %(id)s AND {_SEES}"
_END = f"""
UPDATE maintenance_windows SET ends_at = greatest(starts_at + interval '1 microsecond', %(now)s)
WHERE id = %(id)s AND ends_at > %(now)s RETURNING {_COLUMNS}
"""


def create_window(
    conn: psycopg.Connection[Any],
    now: datetime,
    *,
    site_code: str,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    created_by: int,
    code: str | None = None,
) -> Window:
    """Raises LookupError for an unknown site or item, WindowError for times or a reason that
    make no window."""
    if ends_at <= starts_at:
        raise WindowError("a window must end after it starts")
    if ends_at <= now:
        raise WindowError(f"a window that ended already ({ends_at.isoformat()}) silences nothing")
    if ends_at - starts_at > LONGEST_WINDOW:
        raise WindowError(f"a window lasts at most {LONGEST_WINDOW.days} days")
    if not reason.strip():
        raise WindowError("a window needs a reason")
    if conn.execute("SELECT 1 FROM sites WHERE code = %s", (site_code,)).fetchone() is None:
        raise LookupError(f"no site is registered as {site_code}")
    if code is not None:
        item = conn.execute("SELECT site_code FROM equipment WHERE code = %s", (code,)).fetchone()
        if item is None:
            raise LookupError(f"no equipment is registered as {code}")
        if item[0] != site_code:
            raise WindowError(f"item {code} is at site {item[0]}, not {site_code}")
    params = {
        "site": site_code,
        "code": code,
        "starts": starts_at,
        "ends": ends_at,
        "reason": reason.strip(),
        "by": created_by,
    }
    with conn.cursor(row_factory=class_row(Window)) as cur:
        window = cur.execute(_INSERT, params).fetchone()
    assert window is not None
    what = f"{site_code} {code or '(whole site)'} until {ends_at.isoformat()}: {reason.strip()}"
    record(conn, now, Actor.person(created_by), "window", window.id, "created", detail=what)
    return window


def get_window(
    conn: psycopg.Connection[Any], window_id: int, *, districts: Iterable[str] | None
) -> Window | None:
    params = {"id": window_id, "districts": None if districts is None else sorted(districts)}
    with conn.cursor(row_factory=class_row(Window)) as cur:
        return cur.execute(_GET, params).fetchone()


def list_windows(
    conn: psycopg.Connection[Any],
    now: datetime,
    *,
    districts: Iterable[str] | None,
    site_code: str | None = None,
    current: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> list[Window]:
    params = {
        "now": now,
        "districts": None if districts is None else sorted(districts),
        "site": site_code,
        "current": current,
        "limit": limit,
        "offset": offset,
    }
    with conn.cursor(row_factory=class_row(Window)) as cur:
        return cur.execute(_LIST, params).fetchall()


def end_window(
    conn: psycopg.Connection[Any], now: datetime, window_id: int, actor: Actor
) -> Window | None:
    """End the window now; None when it had ended already (or does not exist)."""
    with conn.cursor(row_factory=class_row(Window)) as cur:
        ended = cur.execute(_END, {"id": window_id, "now": now}).fetchone()
    if ended is not None:
        record(conn, now, actor, "window", window_id, "ended")
    return ended
