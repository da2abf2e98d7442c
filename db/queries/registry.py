"""Reading the registry: sites and equipment listed with filters, sorting and pages, within the
districts a caller sees; the rows an export writes; the division list."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime, time
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import class_row, scalar_row

from devices.registry_rows import EquipmentRow, SiteRow

_Row = TypeVar("_Row")

# The orders a list may be asked for: name -> column (a leading '-' in the request: descending).
SITE_SORTS = {"code": "s.code", "name": "s.name", "created_at": "s.created_at"}
EQUIPMENT_SORTS = {
    "code": "e.code",
    "kind": "e.kind",
    "installed_on": "e.installed_on",
    "service_end": "e.installed_on + make_interval(years => e.service_life_years)",
    "created_at": "e.created_at",
}


@dataclass(frozen=True, slots=True)
class Site:
    code: str
    name: str
    division: str
    division_name: str | None
    address: str | None
    latitude: float | None
    longitude: float | None
    opens_at: time | None
    closes_at: time | None
    inspection_interval_days: int
    responsible_unit: str | None
    hotline: str | None
    created_at: datetime
    updated_at: datetime
    retired_at: datetime | None
    items: int  # not retired


@dataclass(frozen=True, slots=True)
class Item:
    code: str
    site_code: str
    site_name: str
    kind: str
    model: str | None
    maker: str | None
    installed_on: date
    service_life_years: int
    service_ends_on: date
    location: str | None
    service_status: str
    created_at: datetime
    updated_at: datetime


_SITE_SELECT = """
SELECT s.code, s.name, s.division, d.name AS division_name, s.address, s.latitude, s.longitude,
       s.opens_at, s.closes_at, s.inspection_interval_days, s.responsible_unit, s.hotline,
       s.created_at, s.updated_at, s.retired_at,
       (SELECT count(*) FROM equipment e
        WHERE e.site_code = s.code AND e.service_status <> 'retired')::int AS items
FROM sites s LEFT JOIN divisions d ON d.code = s.division
"""
_ITEM_SELECT = """
SELECT e.code, e.site_code, s.name AS site_name, e.kind, e.model, e.maker, e.installed_on,
       e.service_life_years,
       (e.installed_on + make_interval(years => e.service_life_years))::date AS service_ends_on,
       e.location, e.service_status, e.created_at, e.updated_at
FROM equipment e JOIN sites s ON s.code = e.site_code
"""


@dataclass(frozen=True, slots=True)
class SiteFilter:
    district: str | None = None
    name: str | None = None  # a part of the name, any case
    retired: bool | None = None


@dataclass(frozen=True, slots=True)
class ItemFilter:
    site: str | None = None
    district: str | None = None
    kind: str | None = None
    status: str | None = None
    service_ends_before: date | None = None


def _order(sort: str, sorts: dict[str, str], tiebreak: str) -> sql.Composable:
    column = sorts[sort.removeprefix("-")]
    direction = "DESC" if sort.startswith("-") else "ASC"
    return sql.SQL(f"ORDER BY {column} {direction}, {tiebreak} {direction}")


def _where(conditions: list[str]) -> str:
    return ("WHERE " + " AND ".join(conditions)) if conditions else ""


def _filters(given: Iterable[tuple[str, str, object]]) -> tuple[list[str], dict[str, Any]]:
    """The conditions of the (parameter, condition, value) whose value is not None, and their
    parameters."""
    kept = [(name, condition, value) for name, condition, value in given if value is not None]
    return [condition for _, condition, _ in kept], {name: value for name, _, value in kept}


def _seen(districts: frozenset[str] | None) -> list[str] | None:
    return None if districts is None else sorted(districts)


def _page(
    conn: psycopg.Connection[Any],
    row: type[_Row],
    select: str,
    count_from: str,
    filters: tuple[list[str], dict[str, Any]],
    order: sql.Composable,
    limit: int,
    offset: int,
) -> tuple[list[_Row], int]:
    """A page of `select` under the filters, and how many rows of `count_from` match in all."""
    condition, params = _where(filters[0]), filters[1]
    query = f"{select} {condition} {order.as_string(conn)} LIMIT %(limit)s OFFSET %(offset)s"
    with conn.cursor(row_factory=class_row(row)) as cur:
        found = cur.execute(query, {**params, "limit": limit, "offset": offset}).fetchall()
    with conn.cursor(row_factory=scalar_row) as cur:
        total = cur.execute(f"SELECT count(*) {count_from} {condition}", params).fetchone()
    return found, int(total or 0)


def list_sites(
    conn: psycopg.Connection[Any],
    where: SiteFilter,
    *,
    districts: frozenset[str] | None,
    sort: str = "code",
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Site], int]:
    """A page of sites and how many match in all."""
    name = None if where.name is None else where.name.replace("\\", "\\\\").replace("%", r"\%")
    filters = _filters(
        [
            ("districts", "s.division = ANY(%(districts)s)", _seen(districts)),
            ("district", "s.division = %(district)s", where.district),
            ("name", "s.name ILIKE %(name)s", None if name is None else f"%{name}%"),
            ("retired", "(s.retired_at IS NOT NULL) = %(retired)s", where.retired),
        ]
    )
    order = _order(sort, SITE_SORTS, "s.code")
    return _page(conn, Site, _SITE_SELECT, "FROM sites s", filters, order, limit, offset)


def get_site(conn: psycopg.Connection[Any], code: str) -> Site | None:
    with conn.cursor(row_factory=class_row(Site)) as cur:
        return cur.execute(f"{_SITE_SELECT} WHERE s.code = %s", (code,)).fetchone()


def list_items(
    conn: psycopg.Connection[Any],
    where: ItemFilter,
    *,
    districts: frozenset[str] | None,
    sort: str = "code",
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Item], int]:
    """A page of items and how many match in all."""
    filters = _filters(
        [
            ("districts", "left(e.site_code, 6) = ANY(%(districts)s)", _seen(districts)),
            ("site", "e.site_code = %(site)s", where.site),
            ("district", "left(e.site_code, 6) = %(district)s", where.district),
            ("kind", "e.kind = %(kind)s", where.kind),
            ("status", "e.service_status = %(status)s", where.status),
            (
                "service_ends_before",
                "e.installed_on + make_interval(years => e.service_life_years)"
                " < %(service_ends_before)s",
                where.service_ends_before,
            ),
        ]
    )
    order = _order(sort, EQUIPMENT_SORTS, "e.code")
    return _page(conn, Item, _ITEM_SELECT, "FROM equipment e", filters, order, limit, offset)


def get_item(conn: psycopg.Connection[Any], code: str) -> Item | None:
    with conn.cursor(row_factory=class_row(Item)) as cur:
        return cur.execute(f"{_ITEM_SELECT} WHERE e.code = %s", (code,)).fetchone()


_SITE_FIELDS = ", ".join(f"s.{f.name}" for f in fields(SiteRow))
_EQUIPMENT_FIELDS = ", ".join(f"e.{f.name}" for f in fields(EquipmentRow))


def export_rows(
    conn: psycopg.Connection[Any],
    *,
    districts: frozenset[str] | None,
    district: str | None = None,
    site: str | None = None,
) -> tuple[list[SiteRow], list[EquipmentRow]]:
    """The registry as an import file holds it: the items not retired, and their sites."""
    conditions, params = _filters(
        [
            ("districts", "s.division = ANY(%(districts)s)", _seen(districts)),
            ("district", "s.division = %(district)s", district),
            ("site", "s.code = %(site)s", site),
        ]
    )
    condition = _where(["e.service_status <> 'retired'", "s.retired_at IS NULL", *conditions])
    with conn.cursor(row_factory=class_row(EquipmentRow)) as cur:
        items = cur.execute(
            f"SELECT {_EQUIPMENT_FIELDS} FROM equipment e JOIN sites s ON s.code = e.site_code "
            f"{condition} ORDER BY e.code",
            params,
        ).fetchall()
    with conn.cursor(row_factory=class_row(SiteRow)) as cur:
        sites = cur.execute(
            f"SELECT {_SITE_FIELDS} FROM sites s WHERE s.code = ANY(%s) ORDER BY s.code",
            (sorted({i.site_code for i in items}),),
        ).fetchall()
    return sites, items


@dataclass(frozen=True, slots=True)
class Division:
    code: str
    name: str
    parent: str | None
    level: str
    in_force: bool
    population: int | None


def list_divisions(
    conn: psycopg.Connection[Any],
    *,
    parent: str | None = None,
    name: str | None = None,
    in_force: bool | None = True,
    limit: int = 100,
    offset: int = 0,
) -> list[Division]:
    conditions, params = _filters(
        [
            ("parent", "parent = %(parent)s", parent),
            ("name", "strpos(name, %(name)s) > 0", name),
            ("in_force", "in_force = %(in_force)s", in_force),
        ]
    )
    query = (
        "SELECT code, name, parent, level, in_force, population FROM divisions "
        f"{_where(conditions)} ORDER BY code LIMIT %(limit)s OFFSET %(offset)s"
    )
    with conn.cursor(row_factory=class_row(Division)) as cur:
        return cur.execute(query, {**params, "limit": limit, "offset": offset}).fetchall()
