"""What the crew pages read beyond the tickets' own lists: a crew member's work, a ticket's item
and site, the citizens' reports behind a ticket, and the sites due for inspection."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

from maintenance.listing import OPEN_TICKET_STATES


@dataclass(frozen=True, slots=True)
class WorkTicket:
    id: int
    code: str
    site_name: str
    kind: str
    status: str
    severity: str
    title: str
    due_at: datetime
    overdue: bool
    assignee_id: int | None


_WORK = f"""
SELECT t.id, t.code, s.name AS site_name, e.kind, t.status, t.severity, t.title, t.due_at,
       t.due_at <= %(now)s AS overdue, t.assignee_id
FROM tickets t JOIN equipment e ON e.code = t.code JOIN sites s ON s.code = t.site_code
WHERE t.status IN {OPEN_TICKET_STATES!r}
  AND (%(districts)s::text[] IS NULL OR left(t.site_code, 6) = ANY(%(districts)s))
  AND (t.assignee_id = %(me)s OR (%(unassigned)s AND t.assignee_id IS NULL))
ORDER BY t.due_at, t.id LIMIT 200
"""


def work_of(
    conn: psycopg.Connection[Any],
    now: datetime,
    person_id: int,
    districts: Iterable[str] | None,
    *,
    unassigned: bool,
) -> list[WorkTicket]:
    """Unclosed tickets assigned to the person (or, with `unassigned`, to nobody yet) in
    `districts`, the soonest due first."""
    params = {
        "now": now,
        "me": person_id,
        "districts": None if districts is None else sorted(districts),
        "unassigned": unassigned,
    }
    with conn.cursor(row_factory=class_row(WorkTicket)) as cur:
        return cur.execute(_WORK, params).fetchall()


@dataclass(frozen=True, slots=True)
class TicketPlace:
    kind: str
    model: str | None
    installed_on: date
    service_status: str
    site_name: str
    address: str | None
    latitude: float | None
    longitude: float | None
    hotline: str | None


_PLACE = """
SELECT e.kind, e.model, e.installed_on, e.service_status, s.name AS site_name, s.address,
       s.latitude, s.longitude, s.hotline
FROM equipment e JOIN sites s ON s.code = e.site_code WHERE e.code = %s
"""


def place_of(conn: psycopg.Connection[Any], code: str) -> TicketPlace:
    with conn.cursor(row_factory=class_row(TicketPlace)) as cur:
        found = cur.execute(_PLACE, (code,)).fetchone()
    assert found is not None  # a ticket's item is never deleted (tickets reference it)
    return found


@dataclass(frozen=True, slots=True)
class TicketReport:
    id: int
    category: str
    hazard: bool
    description: str
    phone: str | None
    received_at: datetime


# The reports of the item made since its previous ticket closed, up to this one's close.
_REPORTS = """
SELECT r.id, r.category, r.hazard, r.description, r.phone, r.received_at
FROM tickets t JOIN citizen_reports r ON r.code = t.code
WHERE t.id = %(id)s
  AND r.received_at <= coalesce(t.closed_at, %(now)s)
  AND r.received_at > coalesce((SELECT max(p.closed_at) FROM tickets p
                                WHERE p.code = t.code AND p.id <> t.id
                                  AND p.closed_at <= t.opened_at), '-infinity')
ORDER BY r.received_at, r.id
"""


def reports_of_ticket(
    conn: psycopg.Connection[Any], now: datetime, ticket_id: int
) -> list[TicketReport]:
    with conn.cursor(row_factory=class_row(TicketReport)) as cur:
        return cur.execute(_REPORTS, {"id": ticket_id, "now": now}).fetchall()


@dataclass(frozen=True, slots=True)
class SiteDue:
    code: str
    name: str
    last_inspected_at: datetime | None
    due_at: datetime | None  # None: never inspected
    overdue: bool


_SITES_DUE = """
SELECT s.code, s.name, i.last AS last_inspected_at,
       i.last + make_interval(days => s.inspection_interval_days) AS due_at,
       coalesce(i.last + make_interval(days => s.inspection_interval_days) <= %(now)s, true)
           AS overdue
FROM sites s
LEFT JOIN LATERAL (SELECT max(inspected_at) AS last FROM inspections
                   WHERE site_code = s.code) i ON true
WHERE s.retired_at IS NULL
  AND (%(districts)s::text[] IS NULL OR s.division = ANY(%(districts)s))
ORDER BY due_at NULLS FIRST, s.code LIMIT %(limit)s
"""


def sites_due(
    conn: psycopg.Connection[Any], now: datetime, districts: Iterable[str] | None, limit: int = 50
) -> list[SiteDue]:
    params = {
        "now": now,
        "districts": None if districts is None else sorted(districts),
        "limit": limit,
    }
    with conn.cursor(row_factory=class_row(SiteDue)) as cur:
        return cur.execute(_SITES_DUE, params).fetchall()


@dataclass(frozen=True, slots=True)
class SiteItem:
    code: str
    kind: str
    service_status: str


def site_items(conn: psycopg.Connection[Any], site_code: str) -> list[SiteItem]:
    with conn.cursor(row_factory=class_row(SiteItem)) as cur:
        return cur.execute(
            "SELECT code, kind, service_status FROM equipment "
            "WHERE site_code = %s AND service_status <> 'retired' ORDER BY code",
            (site_code,),
        ).fetchall()


def site_name(conn: psycopg.Connection[Any], site_code: str) -> str | None:
    row = conn.execute("SELECT name FROM sites WHERE code = %s", (site_code,)).fetchone()
    return None if row is None else str(row[0])
