"""What a tag prints about an item: its type, installation and service life, its site's name and
hotline. Retired items and the items of retired sites get no new tags."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
from psycopg.rows import class_row, scalar_row


@dataclass(frozen=True, slots=True)
class TagRow:
    code: str
    kind: str
    installed_on: date
    service_life_years: int
    service_status: str
    site_name: str
    hotline: str | None
    site_retired: bool


_COLUMNS = """e.code, e.kind, e.installed_on, e.service_life_years, e.service_status,
s.name AS site_name, s.hotline, s.retired_at IS NOT NULL AS site_retired"""
_GET_TAG_ROW = f"""
SELECT {_COLUMNS} FROM equipment e JOIN sites s ON s.code = e.site_code WHERE e.code = %s
"""
_PRINTABLE = """
FROM equipment e JOIN sites s ON s.code = e.site_code
WHERE e.service_status <> 'retired' AND s.retired_at IS NULL
  AND (%(site)s::text IS NULL OR e.site_code = %(site)s)
  AND (%(district)s::text IS NULL OR left(e.site_code, 6) = %(district)s)
"""
_LIST_TAG_ROWS = f"""
SELECT {_COLUMNS} {_PRINTABLE} ORDER BY e.code LIMIT %(limit)s OFFSET %(offset)s
"""
_COUNT_TAG_ROWS = f"SELECT count(*) {_PRINTABLE}"
_DISTRICT_HAS_SITES = "SELECT EXISTS (SELECT 1 FROM sites WHERE left(code, 6) = %s)"


def get_tag_row(conn: psycopg.Connection[Any], code: str) -> TagRow | None:
    with conn.cursor(row_factory=class_row(TagRow)) as cur:
        return cur.execute(_GET_TAG_ROW, (code,)).fetchone()


def list_tag_rows(
    conn: psycopg.Connection[Any],
    *,
    site: str | None = None,
    district: str | None = None,
    limit: int,
    offset: int = 0,
) -> list[TagRow]:
    """The items to print tags for, by code: a site's or a district's, retired ones left out."""
    params = {"site": site, "district": district, "limit": limit, "offset": offset}
    with conn.cursor(row_factory=class_row(TagRow)) as cur:
        return cur.execute(_LIST_TAG_ROWS, params).fetchall()


def count_tag_rows(
    conn: psycopg.Connection[Any], *, site: str | None = None, district: str | None = None
) -> int:
    with conn.cursor(row_factory=scalar_row) as cur:
        found = cur.execute(_COUNT_TAG_ROWS, {"site": site, "district": district}).fetchone()
    return int(found or 0)


def district_has_sites(conn: psycopg.Connection[Any], district: str) -> bool:
    with conn.cursor(row_factory=scalar_row) as cur:
        return bool(cur.execute(_DISTRICT_HAS_SITES, (district,)).fetchone())
