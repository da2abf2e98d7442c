"""The figures managers are judged on, computed in SQL as of `now` and over a period: the share of
items in good order (完好率), mean time to repair, mean time between failures, the share of tickets
closed within their deadline, and open tickets by age and crew. Read-only; never commits.

Every function takes a `Scope`: the districts the caller may see (None: all) and optionally one
district or site. Months are China's (Asia/Shanghai), as the bureaus report them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

import psycopg
from psycopg.rows import class_row

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Scope:
    """Which sites a figure covers: those in `districts` (None: every district), narrowed to one
    `district` or one `site` when given."""

    districts: Collection[str] | None = None
    district: str | None = None
    site: str | None = None

    def params(self) -> dict[str, Any]:
        return {
            "districts": None if self.districts is None else sorted(self.districts),
            "district": self.district,
            "site": self.site,
        }


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end): the tickets closed and the failures raised in it."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"a period ends after it starts: {self.start} .. {self.end}")

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


def _in_scope(column: str) -> str:
    """The WHERE clause of a scope over a site code column."""
    return f"""(%(districts)s::text[] IS NULL OR left({column}, 6) = ANY(%(districts)s::text[]))
  AND (%(district)s::text IS NULL OR left({column}, 6) = %(district)s::text)
  AND (%(site)s::text IS NULL OR {column} = %(site)s::text)"""


def _run(conn: psycopg.Connection[Any], row: type[T], sql: str, params: dict[str, Any]) -> list[T]:
    with conn.cursor(row_factory=class_row(row)) as cur:
        return cur.execute(sql, params).fetchall()


# --- good order (完好率) ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GoodOrder:
    """Items installed on or before `now` and not retired; good: in service, and no critical
    alert open at `now` (a safety fault). `district` and `site` are None on the total row, and
    `site` is None on a district's row. `share` is None when there are no items."""

    district: str | None
    site: str | None
    items: int
    good: int
    share: float | None


# GROUPING() names the total rows: PostgreSQL before 18 may show a grouping expression the WHERE
# clause fixes to a constant (a district filter) with that constant on the total row too.
# Service status is the item's current one (the store keeps its history only in the audit
# trail); an alert counts as open at `now` if it was raised by then and not closed by then.
_GOOD_ORDER = f"""
WITH item AS (
    SELECT e.code, e.site_code,
           e.service_status = 'in_service'
           AND NOT EXISTS (SELECT 1 FROM alerts a
                           WHERE a.subject = e.code AND a.severity = 'critical'
                             AND a.raised_at <= %(now)s
                             AND (a.closed_at IS NULL OR a.closed_at > %(now)s)) AS good
    FROM equipment e
    WHERE e.service_status <> 'retired'
      AND e.installed_on <= (%(now)s AT TIME ZONE 'Asia/Shanghai')::date
      AND {_in_scope("e.site_code")}
)
SELECT CASE WHEN GROUPING(left(site_code, 6)) = 0 THEN left(site_code, 6) END AS district,
       {{site}} AS site,
       count(*)::int AS items, count(*) FILTER (WHERE good)::int AS good,
       (count(*) FILTER (WHERE good))::float8 / nullif(count(*), 0) AS share
FROM item
GROUP BY GROUPING SETS ({{sets}})
ORDER BY GROUPING(left(site_code, 6)) DESC, district, {{site_order}}
"""
_GOOD_ORDER_BY_DISTRICT = _GOOD_ORDER.format(
    site="NULL::text", sets="(left(site_code, 6)), ()", site_order="1"
)
_GOOD_ORDER_BY_SITE = _GOOD_ORDER.format(
    site="CASE WHEN GROUPING(site_code) = 0 THEN site_code END",
    sets="(left(site_code, 6), site_code), (left(site_code, 6)), ()",
    site_order="GROUPING(site_code) DESC, site",
)


def good_order(
    conn: psycopg.Connection[Any], now: datetime, scope: Scope, *, by_site: bool = False
) -> list[GoodOrder]:
    """The share of items in good order per district (and per site with `by_site`), and in total
    (the first row, its district None). An item installed on `now`'s day (China time) counts."""
    sql = _GOOD_ORDER_BY_SITE if by_site else _GOOD_ORDER_BY_DISTRICT
    return _run(conn, GoodOrder, sql, {"now": now, **scope.params()})


# --- mean time to repair ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RepairTimes:
    """Tickets closed in the period, per district (None: all): the mean hours from opening to
    closing, and from opening to the (last) resolve over those that were resolved (a dismissed
    ticket never was)."""

    district: str | None
    closed: int
    mean_hours_to_close: float | None
    resolved: int
    mean_hours_to_resolve: float | None


_REPAIR_TIMES = f"""
SELECT CASE WHEN GROUPING(left(t.site_code, 6)) = 0 THEN left(t.site_code, 6) END AS district,
       count(*)::int AS closed,
       avg(extract(epoch FROM t.closed_at - t.opened_at))::float8 / 3600 AS mean_hours_to_close,
       count(t.resolved_at)::int AS resolved,
       avg(extract(epoch FROM t.resolved_at - t.opened_at))::float8 / 3600
           AS mean_hours_to_resolve
FROM tickets t
WHERE t.closed_at >= %(start)s AND t.closed_at < %(end)s AND {_in_scope("t.site_code")}
GROUP BY GROUPING SETS ((left(t.site_code, 6)), ())
ORDER BY GROUPING(left(t.site_code, 6)) DESC, district
"""


def repair_times(conn: psycopg.Connection[Any], period: Period, scope: Scope) -> list[RepairTimes]:
    """Mean time to repair; the first row is the total (also when no ticket closed)."""
    params = {"start": period.start, "end": period.end, **scope.params()}
    return _run(conn, RepairTimes, _REPAIR_TIMES, params)


# --- mean time between failures --------------------------------------------------------------

# A failure is a device_fault, citizen_report or inspection_defect alert raised in the period
# (any severity: a low battery is a failure of the item too). An item's exposure is the part of
# the period after its installation (midnight China time of installed_on); MTBF = exposure /
# failures, None without failures. Retired items are left out.
_EXPOSED = f"""
WITH item AS (
    SELECT e.code, e.site_code, e.kind,
           extract(epoch FROM %(end)s - greatest(%(start)s,
               e.installed_on::timestamp AT TIME ZONE 'Asia/Shanghai'))::float8 / 3600 AS hours,
           (SELECT count(*) FROM alerts a
            WHERE a.subject = e.code
              AND a.rule IN ('device_fault', 'citizen_report', 'inspection_defect')
              AND a.raised_at >= %(start)s AND a.raised_at < %(end)s)::int AS failures
    FROM equipment e
    WHERE e.service_status <> 'retired'
      AND (e.installed_on::timestamp AT TIME ZONE 'Asia/Shanghai') < %(end)s
      AND {_in_scope("e.site_code")}
)
"""


@dataclass(frozen=True, slots=True)
class ItemMtbf:
    code: str
    kind: str
    exposure_hours: float
    failures: int
    mtbf_hours: float | None


_MTBF_PER_ITEM = (
    _EXPOSED
    + """
SELECT code, kind, hours AS exposure_hours, failures,
       hours / nullif(failures, 0) AS mtbf_hours
FROM item WHERE failures > 0
ORDER BY failures DESC, code LIMIT %(limit)s
"""
)


def mtbf_per_item(
    conn: psycopg.Connection[Any], period: Period, scope: Scope, *, limit: int = 100
) -> list[ItemMtbf]:
    """The items that failed in the period, most failures first (at most `limit`)."""
    params = {"start": period.start, "end": period.end, "limit": limit, **scope.params()}
    return _run(conn, ItemMtbf, _MTBF_PER_ITEM, params)


@dataclass(frozen=True, slots=True)
class KindMtbf:
    """Per equipment type (None: all): the items' summed exposure per failure."""

    kind: str | None
    items: int
    exposure_hours: float
    failures: int
    mtbf_hours: float | None


_MTBF_PER_KIND = (
    _EXPOSED
    + """
SELECT CASE WHEN GROUPING(kind) = 0 THEN kind END AS kind, count(*)::int AS items,
       coalesce(sum(hours), 0)::float8 AS exposure_hours,
       coalesce(sum(failures), 0)::int AS failures,
       sum(hours) / nullif(sum(failures), 0) AS mtbf_hours
FROM item
GROUP BY GROUPING SETS ((kind), ())
ORDER BY GROUPING(kind) DESC, kind
"""
)


def mtbf_per_kind(conn: psycopg.Connection[Any], period: Period, scope: Scope) -> list[KindMtbf]:
    """MTBF per equipment type; the first row is the total (kind None)."""
    params = {"start": period.start, "end": period.end, **scope.params()}
    return _run(conn, KindMtbf, _MTBF_PER_KIND, params)


# --- tickets closed within their deadline ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OnTime:
    """Tickets closed in the period, and those closed at or before their deadline (due_at), per
    month of closing (China time) and crew; `total` marks the one row over the whole period and
    every crew (month and crew None). A ticket of no crew has crew_id None on its own rows."""

    total: bool
    month: date | None
    crew_id: int | None
    crew_name: str | None
    closed: int
    on_time: int
    share: float | None


_ON_TIME = f"""
SELECT GROUPING(month, t.crew_id) <> 0 AS total,
       CASE WHEN GROUPING(month, t.crew_id) = 0 THEN month END AS month,
       CASE WHEN GROUPING(month, t.crew_id) = 0 THEN t.crew_id END AS crew_id,
       CASE WHEN GROUPING(month, t.crew_id) = 0 THEN min(c.name) END AS crew_name,
       count(*)::int AS closed, count(*) FILTER (WHERE t.closed_at <= t.due_at)::int AS on_time,
       (count(*) FILTER (WHERE t.closed_at <= t.due_at))::float8 / nullif(count(*), 0) AS share
FROM tickets t LEFT JOIN crews c ON c.id = t.crew_id,
     LATERAL (SELECT date_trunc('month', t.closed_at AT TIME ZONE 'Asia/Shanghai')::date AS month) m
WHERE t.closed_at >= %(start)s AND t.closed_at < %(end)s AND {_in_scope("t.site_code")}
GROUP BY GROUPING SETS ((month, t.crew_id), ())
ORDER BY GROUPING(month, t.crew_id) DESC, m.month, t.crew_id NULLS LAST
"""


def closed_on_time(conn: psycopg.Connection[Any], period: Period, scope: Scope) -> list[OnTime]:
    """The share of tickets closed within their deadline; the total row comes first (and is the
    only row, with share None, when no ticket closed)."""
    params = {"start": period.start, "end": period.end, **scope.params()}
    return _run(conn, OnTime, _ON_TIME, params)


# --- open tickets by age and crew --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenTickets:
    """Tickets open at `now` (opened by then, not closed by then) of one crew, or of all (`total`),
    by age: under 24 h, 1-3 days, 3-7 days, over 7 days (each bucket holds its lower bound);
    `overdue`: past their deadline at `now`."""

    total: bool
    crew_id: int | None
    crew_name: str | None
    tickets: int
    under_1d: int
    from_1d_to_3d: int
    from_3d_to_7d: int
    over_7d: int
    overdue: int


_OPEN_TICKETS = f"""
SELECT GROUPING(t.crew_id) <> 0 AS total,
       CASE WHEN GROUPING(t.crew_id) = 0 THEN t.crew_id END AS crew_id,
       CASE WHEN GROUPING(t.crew_id) = 0 THEN min(c.name) END AS crew_name,
       count(*)::int AS tickets,
       count(*) FILTER (WHERE %(now)s - t.opened_at < interval '1 day')::int AS under_1d,
       count(*) FILTER (WHERE %(now)s - t.opened_at >= interval '1 day'
                          AND %(now)s - t.opened_at < interval '3 days')::int AS from_1d_to_3d,
       count(*) FILTER (WHERE %(now)s - t.opened_at >= interval '3 days'
                          AND %(now)s - t.opened_at < interval '7 days')::int AS from_3d_to_7d,
       count(*) FILTER (WHERE %(now)s - t.opened_at >= interval '7 days')::int AS over_7d,
       count(*) FILTER (WHERE t.due_at < %(now)s)::int AS overdue
FROM tickets t LEFT JOIN crews c ON c.id = t.crew_id
WHERE t.opened_at <= %(now)s AND (t.closed_at IS NULL OR t.closed_at > %(now)s)
  AND {_in_scope("t.site_code")}
GROUP BY GROUPING SETS ((t.crew_id), ())
ORDER BY GROUPING(t.crew_id) DESC, t.crew_id NULLS LAST
"""


def open_tickets(conn: psycopg.Connection[Any], now: datetime, scope: Scope) -> list[OpenTickets]:
    """Open tickets by age bucket, per crew; the total row comes first."""
    return _run(conn, OpenTickets, _OPEN_TICKETS, {"now": now, **scope.params()})
