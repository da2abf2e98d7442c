"""Alerts and tickets as people look for them: filtered lists, newest first, kept to the districts
the reader may see (`districts`: None for all)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

from maintenance.tickets import Ticket

OPEN_TICKET_STATES = ("open", "assigned", "in_progress", "on_hold", "reopened")


@dataclass(frozen=True, slots=True)
class AlertRow:
    id: int
    subject: str
    site_code: str
    rule: str
    fault: str
    severity: str
    status: str
    detail: str | None
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: int | None
    clearing_since: datetime | None
    closed_at: datetime | None
    close_reason: str | None
    silenced: bool
    ticket_id: int | None


@dataclass(frozen=True, slots=True)
class AlertFilter:
    status: str | None = None
    rule: str | None = None
    severity: str | None = None
    site: str | None = None
    district: str | None = None
    since: datetime | None = None
    ticket_id: int | None = None


_ALERT_COLUMNS = """id, subject, site_code, rule, fault, severity, status, detail, raised_at,
acknowledged_at, acknowledged_by, clearing_since, closed_at, close_reason, silenced, ticket_id"""
_SEES = "(%(districts)s::text[] IS NULL OR left(site_code, 6) = ANY(%(districts)s))"
_LIST_ALERTS = f"""
SELECT {_ALERT_COLUMNS} FROM alerts
WHERE {_SEES}
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(rule)s::text IS NULL OR rule = %(rule)s)
  AND (%(severity)s::text IS NULL OR severity = %(severity)s)
  AND (%(site)s::text IS NULL OR site_code = %(site)s)
  AND (%(district)s::text IS NULL OR left(site_code, 6) = %(district)s)
  AND (%(since)s::timestamptz IS NULL OR raised_at >= %(since)s)
  AND (%(ticket)s::bigint IS NULL OR ticket_id = %(ticket)s)
ORDER BY raised_at DESC, id DESC
LIMIT %(limit)s OFFSET %(offset)s
"""
_GET_ALERT = f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id = %(id)s AND {_SEES}"


def _seen(districts: Iterable[str] | None) -> list[str] | None:
    return None if districts is None else sorted(districts)


def list_alerts(
    conn: psycopg.Connection[Any],
    where: AlertFilter,
    *,
    districts: Iterable[str] | None,
    limit: int = 100,
    offset: int = 0,
) -> list[AlertRow]:
    params = {
        "districts": _seen(districts),
        "status": where.status,
        "rule": where.rule,
        "severity": where.severity,
        "site": where.site,
        "district": where.district,
        "since": where.since,
        "ticket": where.ticket_id,
        "limit": limit,
        "offset": offset,
    }
    with conn.cursor(row_factory=class_row(AlertRow)) as cur:
        return cur.execute(_LIST_ALERTS, params).fetchall()


def get_alert(
    conn: psycopg.Connection[Any], alert_id: int, *, districts: Iterable[str] | None
) -> AlertRow | None:
    with conn.cursor(row_factory=class_row(AlertRow)) as cur:
        return cur.execute(_GET_ALERT, {"id": alert_id, "districts": _seen(districts)}).fetchone()


@dataclass(frozen=True, slots=True)
class TicketRow(Ticket):
    """A ticket as listed: with whether it is past its deadline."""

    overdue: bool


@dataclass(frozen=True, slots=True)
class TicketFilter:
    status: str | None = None
    crew_id: int | None = None
    assignee_id: int | None = None
    site: str | None = None
    district: str | None = None
    overdue: bool | None = None


_TICKET_COLUMNS = f"""id, code, site_code, crew_id, assignee_id, status, severity, title,
hold_reason, takes_out_of_service, opened_at, due_at, resolved_at, closed_at, last_activity_at,
(status IN {OPEN_TICKET_STATES!r} AND due_at <= %(now)s) AS overdue"""
_LIST_TICKETS = f"""
SELECT {_TICKET_COLUMNS} FROM tickets
WHERE {_SEES}
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(crew)s::bigint IS NULL OR crew_id = %(crew)s)
  AND (%(assignee)s::bigint IS NULL OR assignee_id = %(assignee)s)
  AND (%(site)s::text IS NULL OR site_code = %(site)s)
  AND (%(district)s::text IS NULL OR left(site_code, 6) = %(district)s)
  AND (%(overdue)s::boolean IS NULL
       OR (status IN {OPEN_TICKET_STATES!r} AND due_at <= %(now)s) = %(overdue)s)
ORDER BY opened_at DESC, id DESC
LIMIT %(limit)s OFFSET %(offset)s
"""
_GET_TICKET = f"SELECT {_TICKET_COLUMNS} FROM tickets WHERE id = %(id)s AND {_SEES}"


def list_tickets(
    conn: psycopg.Connection[Any],
    now: datetime,
    where: TicketFilter,
    *,
    districts: Iterable[str] | None,
    limit: int = 100,
    offset: int = 0,
) -> list[TicketRow]:
    params = {
        "now": now,
        "districts": _seen(districts),
        "status": where.status,
        "crew": where.crew_id,
        "assignee": where.assignee_id,
        "site": where.site,
        "district": where.district,
        "overdue": where.overdue,
        "limit": limit,
        "offset": offset,
    }
    with conn.cursor(row_factory=class_row(TicketRow)) as cur:
        return cur.execute(_LIST_TICKETS, params).fetchall()


def get_ticket_row(
    conn: psycopg.Connection[Any],
    now: datetime,
    ticket_id: int,
    *,
    districts: Iterable[str] | None,
) -> TicketRow | None:
    params = {"id": ticket_id, "now": now, "districts": _seen(districts)}
    with conn.cursor(row_factory=class_row(TicketRow)) as cur:
        return cur.execute(_GET_TICKET, params).fetchone()
