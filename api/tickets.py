"""Tickets: listed and filtered within the caller's districts, each with its alerts and history,
and moved through their states. A crew member acts on the tickets of their crew's districts with
the crew's actions (start, hold, resume, resolve); the crew's supervisor, the district's managers
and admins with every action. Each action takes the maintenance lock first, so it comes before or
after the service's work on the same ticket, never inside it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from api.alerts import DISTRICT_PATTERN, SITE_PATTERN, AlertOut, HistoryEntry, Limit, Offset
from api.auth import STAFF, Principal, forbidden_unless_seen
from api.database import DbConnection
from api.problems import Problem, problem_responses
from maintenance.audit import Actor, history
from maintenance.crews import works_in_crew
from maintenance.inbox import lock
from maintenance.listing import (
    AlertFilter,
    TicketFilter,
    TicketRow,
    get_ticket_row,
    list_alerts,
    list_tickets,
)
from maintenance.ticket_states import CREW_ACTIONS, TicketAction, TicketStatus, allowed_actions
from maintenance.tickets import TransitionError, act, get_ticket

router = APIRouter(
    prefix="/api/v1/tickets", tags=["tickets"], responses=problem_responses(401, 403, 404, 409, 422)
)
Staff = Annotated[Principal, Depends(STAFF)]
# auto_close is the system's alone: it closes a repaired ticket once the item is used again.
PersonAction = Literal[
    "assign", "start", "hold", "resume", "resolve", "verify", "dismiss", "reopen"
]


class TicketOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

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
    overdue: bool = Field(description="unresolved past its deadline")


class TicketDetail(TicketOut):
    allowed_actions: list[str] = Field(description="what its state allows (whoever may do it)")
    alerts: list[AlertOut]
    history: list[HistoryEntry]


class ActionIn(BaseModel):
    action: PersonAction
    assignee_id: int | None = Field(default=None, description="for assign: a crew member")
    reason: str | None = Field(
        default=None, max_length=2000, description="for hold, dismiss and reopen"
    )


def person_actions(status: str) -> set[TicketAction]:
    """What the ticket's state allows a person, whoever may do it (auto_close is the system's)."""
    return allowed_actions(TicketStatus(status)) - {TicketAction.AUTO_CLOSE}


def _detail(conn: DbConnection, ticket: TicketRow) -> TicketDetail:
    alerts = list_alerts(conn, AlertFilter(ticket_id=ticket.id), districts=None, limit=1000)
    return TicketDetail(
        **TicketOut.model_validate(ticket).model_dump(),
        allowed_actions=sorted(a.value for a in person_actions(ticket.status)),
        alerts=[AlertOut.model_validate(a) for a in alerts],
        history=[HistoryEntry.model_validate(e) for e in history(conn, "ticket", ticket.id)],
    )


@router.get("", openapi_extra=STAFF.openapi_extra)
def read_tickets(
    conn: DbConnection,
    principal: Staff,
    status: TicketStatus | None = None,
    crew: Annotated[int | None, Query(description="a crew's id")] = None,
    assignee: Annotated[int | None, Query(description="a person's id")] = None,
    site: Annotated[str | None, Query(pattern=SITE_PATTERN)] = None,
    district: Annotated[str | None, Query(pattern=DISTRICT_PATTERN)] = None,
    overdue: Annotated[bool | None, Query(description="unresolved past the deadline")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[TicketOut]:
    """Newest first, within your districts."""
    where = TicketFilter(status and status.value, crew, assignee, site, district, overdue)
    found = list_tickets(
        conn,
        datetime.now(UTC),
        where,
        districts=principal.districts,
        limit=limit,
        offset=offset,
    )
    return [TicketOut.model_validate(t) for t in found]


@router.get("/{ticket_id}", openapi_extra=STAFF.openapi_extra)
def read_ticket(ticket_id: int, conn: DbConnection, principal: Staff) -> TicketDetail:
    ticket = get_ticket_row(conn, datetime.now(UTC), ticket_id, districts=principal.districts)
    if ticket is None:
        raise Problem(404, "Not found", f"there is no ticket {ticket_id}")
    return _detail(conn, ticket)


def may_take_every_action(principal: Principal, crew_id: int | None) -> bool:
    """Admins, managers and the crew's supervisor; other crew members take CREW_ACTIONS only."""
    return principal.role in ("admin", "manager") or (
        crew_id is not None and crew_id in principal.supervises
    )


def move_ticket(
    conn: DbConnection, principal: Principal, ticket_id: int, body: ActionIn
) -> datetime:
    """The moment it acted, once it had the lock. Raises Problem: 404 for no such ticket, 403 for
    a ticket of another district or an action that is not the caller's to take, 409 for one its
    state does not allow (naming those it does), 422 for a missing reason or assignee. The crew
    pages act through it too."""
    lock(conn)
    now = datetime.now(UTC)
    ticket = get_ticket(conn, ticket_id)
    if ticket is None:
        raise Problem(404, "Not found", f"there is no ticket {ticket_id}")
    forbidden_unless_seen(principal, ticket.site_code, f"ticket {ticket_id}")
    action = TicketAction(body.action)
    if not may_take_every_action(principal, ticket.crew_id) and action not in CREW_ACTIONS:
        crew_may = ", ".join(sorted(a.value for a in CREW_ACTIONS))
        raise Problem(
            403,
            "Not allowed",
            f"a crew member may {crew_may}; to {action.value} a ticket is for the crew's "
            "supervisor, the district's managers and admins",
        )
    assignee, crew = body.assignee_id, ticket.crew_id
    if (
        action is TicketAction.ASSIGN
        and assignee is not None
        and crew is not None
        and not works_in_crew(conn, crew, assignee)
    ):
        raise Problem(
            422, "Not in the crew", f"person {assignee} is not an active member of crew {crew}"
        )
    try:
        act(
            conn,
            now,
            ticket_id,
            action,
            Actor.person(principal.person_id),
            assignee_id=body.assignee_id,
            reason=body.reason,
        )
    except TransitionError as exc:
        raise Problem(409, "Not allowed in this state", str(exc)) from None
    except LookupError as exc:
        raise Problem(404, "Not found", str(exc)) from None
    except ValueError as exc:
        raise Problem(422, "Incomplete action", str(exc)) from None
    return now


@router.post("/{ticket_id}/actions", openapi_extra=STAFF.openapi_extra)
def act_on_ticket(
    ticket_id: int, body: ActionIn, conn: DbConnection, principal: Staff
) -> TicketDetail:
    """Move the ticket: 404 for no such ticket, 403 for a ticket of another district or an
    action that is not yours to take, 409 for one its state does not allow (naming those it
    does), 422 for a missing reason or assignee."""
    now = move_ticket(conn, principal, ticket_id, body)
    moved = get_ticket_row(conn, now, ticket_id, districts=None)
    assert moved is not None
    return _detail(conn, moved)
