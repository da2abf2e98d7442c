"""Tickets: opened (or joined) by alerts that need work, routed to the crew of the site's
district and its least loaded member, moved through their states by people and by the system,
and taking their item out of service and back. Never commits: the caller owns the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

from maintenance.audit import Actor, record
from maintenance.settings import MaintenanceSettings
from maintenance.ticket_states import (
    NEEDS_REASON,
    TicketAction,
    TicketStatus,
    TransitionError,
    next_status,
)

_SEVERITY_RANK = {"minor": 0, "major": 1, "critical": 2}


@dataclass(frozen=True, slots=True)
class Ticket:
    id: int
    code: str
    site_code: str
    crew_id: int | None
    assignee_id: int | None
    status: str
    severity: str
    title: str
    hold_reason: str | None
    takes_out_of_service: bool
    opened_at: datetime
    due_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    last_activity_at: datetime


_COLUMNS = """id, code, site_code, crew_id, assignee_id, status, severity, title, hold_reason,
takes_out_of_service, opened_at, due_at, resolved_at, closed_at, last_activity_at"""

_OPEN_FOR_ITEM = f"SELECT {_COLUMNS} FROM tickets WHERE code = %s AND status <> 'closed' FOR UPDATE"
_LOCK = f"SELECT {_COLUMNS} FROM tickets WHERE id = %s FOR UPDATE"

# The crew that covers the site's district, and its member with the fewest unclosed tickets.
_ROUTE = """
SELECT c.id AS crew_id,
       (SELECT m.person_id FROM crew_members m JOIN people p ON p.id = m.person_id
        WHERE m.crew_id = c.id AND p.active
        ORDER BY (SELECT count(*) FROM tickets t
                  WHERE t.assignee_id = m.person_id AND t.status <> 'closed'), m.person_id
        LIMIT 1) AS assignee_id
FROM crew_districts d JOIN crews c ON c.id = d.crew_id
WHERE d.district = left(%s, 6)
"""

_INSERT = f"""
INSERT INTO tickets (code, site_code, crew_id, assignee_id, status, severity, title,
                     takes_out_of_service, opened_at, due_at, last_activity_at)
VALUES (%(code)s, left(%(code)s, 11), %(crew)s, %(assignee)s, %(status)s, %(severity)s,
        %(title)s, %(oos)s, %(now)s, %(due)s, %(now)s)
RETURNING {_COLUMNS}
"""

_ESCALATE = f"""
UPDATE tickets SET severity = %(severity)s, due_at = least(due_at, %(due)s),
                   takes_out_of_service = takes_out_of_service OR %(oos)s
WHERE id = %(id)s RETURNING {_COLUMNS}
"""

_MOVE = f"""
UPDATE tickets SET status = %(status)s, assignee_id = %(assignee)s, hold_reason = %(hold)s,
    resolved_at = CASE WHEN %(status)s = 'resolved' THEN %(now)s ELSE resolved_at END,
    closed_at = CASE WHEN %(status)s = 'closed' THEN %(now)s END,
    last_activity_at = %(now)s
WHERE id = %(id)s RETURNING {_COLUMNS}
"""

_OUT_OF_SERVICE = """
UPDATE equipment SET service_status = 'out_of_service', updated_at = %(now)s
WHERE code = %(code)s AND service_status = 'in_service' RETURNING code
"""
_BACK_IN_SERVICE = """
UPDATE equipment SET service_status = 'in_service', updated_at = %(now)s
WHERE code = %(code)s AND service_status = 'out_of_service' RETURNING code
"""
_CLOSE_ALERTS = """
UPDATE alerts SET status = 'closed', closed_at = %(now)s, close_reason = 'resolved'
WHERE ticket_id = %(id)s AND status <> 'closed' RETURNING id, status
"""
_NOTICE = """
INSERT INTO ticket_notices (ticket_id, kind, person_id, round, created_at)
VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id
"""


@dataclass(frozen=True, slots=True)
class _Route:
    crew_id: int
    assignee_id: int | None


def _one(conn: psycopg.Connection[Any], sql: str, params: Any) -> Ticket | None:
    with conn.cursor(row_factory=class_row(Ticket)) as cur:
        return cur.execute(sql, params).fetchone()


def get_ticket(
    conn: psycopg.Connection[Any], ticket_id: int, *, lock: bool = False
) -> Ticket | None:
    sql = _LOCK if lock else _LOCK.replace(" FOR UPDATE", "")
    return _one(conn, sql, (ticket_id,))


def open_or_join(
    conn: psycopg.Connection[Any],
    now: datetime,
    settings: MaintenanceSettings,
    *,
    code: str,
    severity: str,
    title: str,
    out_of_service: bool,
    actor: Actor,
) -> Ticket:
    """The item's unclosed ticket, made at least as urgent as `severity` asks, or a new one."""
    due = now + settings.deadline(severity)
    found = _one(conn, _OPEN_FOR_ITEM, (code,))
    if found is not None:
        ticket = found
        if _SEVERITY_RANK[severity] > _SEVERITY_RANK[ticket.severity] or (
            out_of_service and not ticket.takes_out_of_service
        ):
            raised = _one(
                conn,
                _ESCALATE,
                {
                    "id": ticket.id,
                    "severity": max(severity, ticket.severity, key=_SEVERITY_RANK.__getitem__),
                    "due": due,
                    "oos": out_of_service,
                },
            )
            assert raised is not None
            record(
                conn,
                now,
                actor,
                "ticket",
                ticket.id,
                "made more urgent",
                from_state=ticket.severity,
                to_state=raised.severity,
                detail=title,
            )
            ticket = raised
    else:
        with conn.cursor(row_factory=class_row(_Route)) as cur:
            route = cur.execute(_ROUTE, (code,)).fetchone()
        assignee = route.assignee_id if route else None
        status = TicketStatus.ASSIGNED if assignee is not None else TicketStatus.OPEN
        created = _one(
            conn,
            _INSERT,
            {
                "code": code,
                "crew": route.crew_id if route else None,
                "assignee": assignee,
                "status": status.value,
                "severity": severity,
                "title": title,
                "oos": out_of_service,
                "now": now,
                "due": due,
            },
        )
        assert created is not None
        ticket = created
        record(conn, now, actor, "ticket", ticket.id, "opened", to_state=status.value, detail=title)
        if assignee is not None:
            _notice(conn, ticket.id, "assigned", assignee, 0, now)
    if ticket.takes_out_of_service:
        take_out_of_service(conn, now, code, actor, f"ticket {ticket.id}: {title}")
    return ticket


def take_out_of_service(
    conn: psycopg.Connection[Any], now: datetime, code: str, actor: Actor, why: str
) -> None:
    if conn.execute(_OUT_OF_SERVICE, {"code": code, "now": now}).fetchone() is not None:
        record(
            conn,
            now,
            actor,
            "equipment",
            code,
            "taken out of service",
            from_state="in_service",
            to_state="out_of_service",
            detail=why,
        )


def act(
    conn: psycopg.Connection[Any],
    now: datetime,
    ticket_id: int,
    action: TicketAction,
    actor: Actor,
    *,
    assignee_id: int | None = None,
    reason: str | None = None,
) -> Ticket:
    """Move a ticket by `action`; raises LookupError for no such ticket, TransitionError for an
    action its state does not allow, ValueError for a missing reason or assignee."""
    ticket = get_ticket(conn, ticket_id, lock=True)
    if ticket is None:
        raise LookupError(f"no ticket {ticket_id}")
    status = TicketStatus(ticket.status)
    target = next_status(status, action)
    if action in NEEDS_REASON and not (reason and reason.strip()):
        raise ValueError(f"to {action.value} a ticket, give a reason")
    if action is TicketAction.ASSIGN and assignee_id is None:
        raise ValueError("to assign a ticket, name the person")
    assignee = assignee_id if action is TicketAction.ASSIGN else ticket.assignee_id
    if action is TicketAction.RESUME and assignee is None:
        target = TicketStatus.OPEN
    moved = _one(
        conn,
        _MOVE,
        {
            "id": ticket_id,
            "status": target.value,
            "assignee": assignee,
            "hold": reason if target is TicketStatus.ON_HOLD else None,
            "now": now,
        },
    )
    assert moved is not None
    record(
        conn,
        now,
        actor,
        "ticket",
        ticket_id,
        action.value,
        from_state=status.value,
        to_state=target.value,
        detail=reason,
    )
    if action is TicketAction.ASSIGN and assignee is not None:
        _notice(conn, ticket_id, "assigned", assignee, _next_round(conn, ticket_id), now)
    if target is TicketStatus.CLOSED:
        for alert_id, before in conn.execute(_CLOSE_ALERTS, {"id": ticket_id, "now": now}):
            record(
                conn,
                now,
                actor,
                "alert",
                alert_id,
                "closed with its ticket",
                from_state=before,
                to_state="closed",
            )
        if (
            moved.takes_out_of_service
            and conn.execute(_BACK_IN_SERVICE, {"code": moved.code, "now": now}).fetchone()
        ):
            record(
                conn,
                now,
                actor,
                "equipment",
                moved.code,
                "back in service",
                from_state="out_of_service",
                to_state="in_service",
                detail=f"ticket {ticket_id} closed",
            )
    elif target is TicketStatus.REOPENED and moved.takes_out_of_service:
        take_out_of_service(conn, now, moved.code, actor, f"ticket {ticket_id} reopened")
    return moved


def _next_round(conn: psycopg.Connection[Any], ticket_id: int) -> int:
    row = conn.execute(
        "SELECT coalesce(max(round), -1) + 1 FROM ticket_notices "
        "WHERE ticket_id = %s AND kind = 'assigned'",
        (ticket_id,),
    ).fetchone()
    return int(row[0]) if row else 0


def _notice(
    conn: psycopg.Connection[Any],
    ticket_id: int,
    kind: str,
    person: int | None,
    rnd: int,
    now: datetime,
) -> bool:
    return conn.execute(_NOTICE, (ticket_id, kind, person, rnd, now)).fetchone() is not None


__all__ = ["Ticket", "TransitionError", "act", "get_ticket", "open_or_join", "take_out_of_service"]
