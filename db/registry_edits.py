"""One site or item at a time: create, change and retire, each in the audit trail. Nothing with
history is deleted: a retired site or item stays, with its telemetry, alerts and tickets.
The caller owns the transaction (and, for retiring an item, takes the maintenance lock first)."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import scalar_row

from db.registry_writes import (
    AuditActor,
    audit,
    changes,
    division_problems,
    stored_items,
    stored_sites,
)
from devices.registry_rows import EquipmentRow, SiteRow, opening_hours_problem


class RegistryRefused(ValueError):
    """A change the registry refuses; `status` says how an API answers it."""

    status = 422


class NotRegistered(RegistryRefused):
    status = 404


class Conflict(RegistryRefused):
    status = 409


def _stored_site(conn: psycopg.Connection[Any], code: str) -> tuple[SiteRow, bool] | None:
    """The site locked for the change, with whether it is retired."""
    return stored_sites(conn, [code], for_update=True).get(code)


def _stored_item(conn: psycopg.Connection[Any], code: str) -> tuple[EquipmentRow, str] | None:
    """The item locked for the change, with its service status."""
    return stored_items(conn, [code], for_update=True).get(code)


def _inserted(conn: psycopg.Connection[Any], table: str, row: SiteRow | EquipmentRow) -> bool:
    """Insert `row` unless its code is taken; whether it was."""
    names = [f.name for f in fields(row)]
    return (
        conn.execute(
            f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))}) "
            "ON CONFLICT (code) DO NOTHING RETURNING code",
            [getattr(row, name) for name in names],
        ).fetchone()
        is not None
    )


def _update(
    conn: psycopg.Connection[Any],
    table: str,
    now: datetime,
    row: SiteRow | EquipmentRow,
    *,
    keys: int,
) -> None:
    """Write every field of `row` but its first `keys` (the code, and an item's site)."""
    names = [f.name for f in fields(row)]
    conn.execute(
        f"UPDATE {table} SET {', '.join(f'{n} = %({n})s' for n in names[keys:])}, "
        "updated_at = %(now)s WHERE code = %(code)s",
        {**{n: getattr(row, n) for n in names}, "now": now},
    )


def _checked_hours(site: SiteRow) -> None:
    problem = opening_hours_problem(site.opens_at, site.closes_at)
    if problem is not None:
        raise RegistryRefused(problem)


def create_site(
    conn: psycopg.Connection[Any], now: datetime, site: SiteRow, actor: AuditActor
) -> None:
    _checked_hours(site)
    problem = division_problems(conn, [site.code[:6]]).get(site.code[:6])
    if problem is not None:
        raise RegistryRefused(problem)
    if not _inserted(conn, "sites", site):
        raise Conflict(f"site {site.code} is already registered")
    audit(conn, now, actor, [("site", site.code, "created", None, None, None)])


def update_site(
    conn: psycopg.Connection[Any],
    now: datetime,
    code: str,
    given: dict[str, Any],
    actor: AuditActor,
) -> None:
    """Change the fields in `given` (a field to None clears it)."""
    stored = _stored_site(conn, code)
    if stored is None:
        raise NotRegistered(f"no site is registered as {code}")
    before, retired = stored
    if retired:
        raise Conflict(f"site {code} is retired")
    after = replace(before, **given)
    _checked_hours(after)
    if after == before:
        return
    _update(conn, "sites", now, after, keys=1)
    audit(conn, now, actor, [("site", code, "updated", None, None, changes(before, after))])


_OPEN_TICKET = "SELECT id FROM tickets WHERE code = %s AND status <> 'closed'"
_CLOSE_ALERTS = """
UPDATE alerts a SET status = 'closed', closed_at = %(now)s, close_reason = 'retired'
FROM (SELECT id, status FROM alerts WHERE {key} = %(code)s AND status <> 'closed'
      FOR UPDATE) before
WHERE a.id = before.id RETURNING a.id, before.status
"""


def retire_site(
    conn: psycopg.Connection[Any], now: datetime, code: str, actor: AuditActor, reason: str
) -> None:
    """Retire a site whose items are all retired; it stays, with its history."""
    stored = _stored_site(conn, code)
    if stored is None:
        raise NotRegistered(f"no site is registered as {code}")
    if stored[1]:
        raise Conflict(f"site {code} is already retired")
    with conn.cursor(row_factory=scalar_row) as cur:
        active = cur.execute(
            "SELECT count(*) FROM equipment WHERE site_code = %s AND service_status <> 'retired'",
            (code,),
        ).fetchone()
    if active:
        raise Conflict(f"site {code} has {active} item(s) not retired: retire them first")
    conn.execute(
        "UPDATE sites SET retired_at = %s, updated_at = %s WHERE code = %s", (now, now, code)
    )
    # what is left open is about the site itself (its gateway, its inspections)
    closed = conn.execute(_CLOSE_ALERTS.format(key="site_code"), {"now": now, "code": code})
    trail = [("alert", str(a), "closed with its site", was, "closed", reason) for a, was in closed]
    trail.append(("site", code, "retired", "active", "retired", reason))
    audit(conn, now, actor, trail)


def create_item(
    conn: psycopg.Connection[Any], now: datetime, item: EquipmentRow, actor: AuditActor
) -> None:
    site = _stored_site(conn, item.site_code)
    if site is None:
        raise RegistryRefused(f"no site is registered as {item.site_code}")
    if site[1]:
        raise Conflict(f"site {item.site_code} is retired")
    if not _inserted(conn, "equipment", item):
        raise Conflict(f"item {item.code} is already registered")
    audit(conn, now, actor, [("equipment", item.code, "created", None, "in_service", None)])


def update_item(
    conn: psycopg.Connection[Any],
    now: datetime,
    code: str,
    given: dict[str, Any],
    actor: AuditActor,
) -> None:
    stored = _stored_item(conn, code)
    if stored is None:
        raise NotRegistered(f"no equipment is registered as {code}")
    before, status = stored
    if status == "retired":
        raise Conflict(f"item {code} is retired")
    after = replace(before, **given)
    if after == before:
        return
    _update(conn, "equipment", now, after, keys=2)
    audit(conn, now, actor, [("equipment", code, "updated", None, None, changes(before, after))])


def retire_item(
    conn: psycopg.Connection[Any], now: datetime, code: str, actor: AuditActor, reason: str
) -> list[int]:
    """Take an item out of use for good: its open alerts close (reason 'retired'); an open
    ticket must be closed or dismissed first. Returns the alerts closed."""
    stored = _stored_item(conn, code)
    if stored is None:
        raise NotRegistered(f"no equipment is registered as {code}")
    status = stored[1]
    if status == "retired":
        raise Conflict(f"item {code} is already retired")
    with conn.cursor(row_factory=scalar_row) as cur:
        ticket = cur.execute(_OPEN_TICKET, (code,)).fetchone()
    if ticket is not None:
        raise Conflict(f"item {code} has open ticket {ticket}: close or dismiss it first")
    closed = conn.execute(
        _CLOSE_ALERTS.format(key="subject"), {"now": now, "code": code}
    ).fetchall()
    conn.execute(
        "UPDATE equipment SET service_status = 'retired', updated_at = %s WHERE code = %s",
        (now, code),
    )
    trail = [("alert", str(a), "closed with its item", was, "closed", reason) for a, was in closed]
    trail.append(("equipment", code, "retired", status, "retired", reason))
    audit(conn, now, actor, trail)
    return [int(a) for a, _ in closed]
