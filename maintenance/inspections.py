"""Inspections of a site (the weekly patrol, the monthly check, the twice-yearly full one): each
recorded one restarts the site's inspection interval and closes its overdue alert on the next
tick. Never commits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from maintenance.audit import Actor, record

# A phone's clock may run a little ahead; further ahead is a mistake.
CLOCK_SKEW = timedelta(minutes=5)


class InspectionError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Inspection:
    id: int
    site_code: str
    inspected_at: datetime
    inspector_id: int | None
    findings: dict[str, Any]
    note: str | None


_COLUMNS = "id, site_code, inspected_at, inspector_id, findings, note"
_INSERT = f"""
INSERT INTO inspections (site_code, inspected_at, inspector_id, findings, note)
VALUES (%(site)s, %(at)s, %(inspector)s, %(findings)s, %(note)s) RETURNING {_COLUMNS}
"""
_LIST = f"""
SELECT {_COLUMNS} FROM inspections
WHERE (%(districts)s::text[] IS NULL OR left(site_code, 6) = ANY(%(districts)s))
  AND (%(site)s::text IS NULL OR site_code = %(site)s)
  AND (%(since)s::timestamptz IS NULL OR inspected_at >= %(since)s)
ORDER BY inspected_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s
"""


def record_inspection(
    conn: psycopg.Connection[Any],
    now: datetime,
    *,
    site_code: str,
    inspector_id: int | None,
    inspected_at: datetime | None = None,
    findings: dict[str, Any] | None = None,
    note: str | None = None,
) -> Inspection:
    """Raises LookupError for an unknown site, InspectionError for a time in the future."""
    at = inspected_at or now
    if at > now + CLOCK_SKEW:
        raise InspectionError(f"an inspection cannot be in the future ({at.isoformat()})")
    if conn.execute("SELECT 1 FROM sites WHERE code = %s", (site_code,)).fetchone() is None:
        raise LookupError(f"no site is registered as {site_code}")
    params = {
        "site": site_code,
        "at": at,
        "inspector": inspector_id,
        "findings": Jsonb(findings or {}),
        "note": note,
    }
    with conn.cursor(row_factory=class_row(Inspection)) as cur:
        inspection = cur.execute(_INSERT, params).fetchone()
    assert inspection is not None
    actor = Actor.person(inspector_id) if inspector_id is not None else Actor.rule("api")
    record(conn, now, actor, "inspection", inspection.id, "recorded", detail=site_code)
    return inspection


def list_inspections(
    conn: psycopg.Connection[Any],
    *,
    districts: Iterable[str] | None,
    site_code: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Inspection]:
    params = {
        "districts": None if districts is None else sorted(districts),
        "site": site_code,
        "since": since,
        "limit": limit,
        "offset": offset,
    }
    with conn.cursor(row_factory=class_row(Inspection)) as cur:
        return cur.execute(_LIST, params).fetchall()
