"""The crew pages, for phones, signed in: my tickets and the sites due for inspection; a ticket
with its item, site, map link, the citizens' reports behind it, its history, the actions it allows
this person, and photos of the repair. Actions go through the API's own ticket route, so a page
may do exactly what the API lets the same person do."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import psycopg
from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.auth import Principal, forbidden_unless_seen, hidden_unless_seen
from api.database import DbConnection
from api.pages.crew_queries import place_of, reports_of_ticket, sites_due, work_of
from api.pages.i18n import choose_lang, kind_name
from api.pages.photos import (
    PHOTO_MAX_MB,
    PHOTOS_MAX,
    PhotoError,
    get_photo,
    insert_photo,
    photos_of_reports,
    photos_of_ticket,
    prepare_photo,
    read_form,
)
from api.pages.rendering import page_error, render, wants_html
from api.pages.routing import page_router
from api.pages.signin import CREW_PAGES, Staff
from api.problems import Problem
from api.tickets import ActionIn, may_take_every_action, move_ticket, person_actions
from maintenance.audit import Actor, history, record
from maintenance.crews import get_crew
from maintenance.listing import AlertFilter, get_ticket_row, list_alerts
from maintenance.ticket_states import CREW_ACTIONS, TicketAction

router = page_router()
ROLES = CREW_PAGES.openapi_extra


@router.get("/crew", openapi_extra=ROLES)
def my_tickets(request: Request, conn: DbConnection, principal: Staff) -> Response:
    """A crew member's open tickets and their crew's unassigned ones, soonest due first, and the
    sites of their districts by when they are due for inspection. Managers go to their view."""
    if principal.role != "crew":
        return RedirectResponse("/crew/manage", status_code=303)
    now = datetime.now(UTC)
    context = {
        "principal": principal,
        "mine": work_of(conn, now, principal.person_id, principal.districts, unassigned=False),
        "unassigned": work_of(conn, now, -1, principal.districts, unassigned=True),
        "sites": sites_due(conn, now, principal.districts),
        "kind_name": kind_name,
    }
    return render(request, "crew_home.html", context)


def _actions_for(principal: Principal, status: str, crew_id: int | None) -> list[str]:
    possible = person_actions(status)
    if not may_take_every_action(principal, crew_id):
        possible &= CREW_ACTIONS
    order = list(TicketAction)
    return [a.value for a in sorted(possible, key=order.index)]


def _map_links(latitude: float | None, longitude: float | None, name: str) -> dict[str, str]:
    if latitude is None or longitude is None:
        return {}
    return {
        # Amap (高德) takes WGS-84 when told so; geo: (RFC 5870) opens the phone's own map app.
        "amap": f"https://uri.amap.com/marker?position={longitude},{latitude}"
        f"&name={quote(name)}&coordinate=wgs84&callnative=1",
        "geo": f"geo:{latitude},{longitude}",
    }


def _ticket_context(
    request: Request, conn: psycopg.Connection[Any], principal: Principal, ticket_id: int
) -> dict[str, Any] | None:
    now = datetime.now(UTC)
    ticket = get_ticket_row(conn, now, ticket_id, districts=principal.districts)
    if ticket is None:
        return None
    lang = choose_lang(request)[0]
    place = place_of(conn, ticket.code)
    reports = reports_of_ticket(conn, now, ticket.id)
    report_photos = photos_of_reports(conn, [r.id for r in reports])
    crew = None if ticket.crew_id is None else get_crew(conn, ticket.crew_id)
    return {
        "principal": principal,
        "ticket": ticket,
        "place": place,
        "name": kind_name(place.kind, lang),
        "map": _map_links(place.latitude, place.longitude, place.site_name),
        "alerts": list_alerts(conn, AlertFilter(ticket_id=ticket.id), districts=None, limit=100),
        "history": history(conn, "ticket", ticket.id),
        "reports": reports,
        "report_photos": {
            r.id: [p.id for p in report_photos if p.report_id == r.id] for r in reports
        },
        "repair_photos": photos_of_ticket(conn, ticket.id),
        "actions": _actions_for(principal, ticket.status, ticket.crew_id),
        "members": [] if crew is None else list(zip(crew.members, crew.member_names, strict=True)),
        "photos_max": PHOTOS_MAX,
        "photo_mb": PHOTO_MAX_MB,
        "error": None,
    }


def _not_found(request: Request, ticket_id: int) -> Response:
    return page_error(request, 404, "Not found", f"there is no ticket {ticket_id}")


@router.get("/crew/tickets/{ticket_id}", openapi_extra=ROLES)
def ticket_page(ticket_id: int, request: Request, conn: DbConnection, principal: Staff) -> Response:
    """A ticket of another district is a 404, as if it did not exist (api.auth)."""
    context = _ticket_context(request, conn, principal, ticket_id)
    if context is None:
        return _not_found(request, ticket_id)
    return render(request, "ticket.html", context)


def _act(
    conn: psycopg.Connection[Any], principal: Principal, ticket_id: int, fields: dict[str, str]
) -> None:
    """Raises Problem as the API route does, having changed nothing."""
    assignee = fields.get("assignee_id", "").strip()
    try:
        body = ActionIn(
            action=fields.get("action", ""),
            assignee_id=int(assignee) if assignee.isdigit() else None,
            reason=fields.get("reason", "").strip() or None,
        )
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise Problem(422, "Invalid action", detail) from None
    with conn.transaction():  # a savepoint: an action refused half-way leaves nothing behind
        move_ticket(conn, principal, ticket_id, body)


@router.post("/crew/tickets/{ticket_id}/actions", openapi_extra=ROLES)
async def ticket_action(
    ticket_id: int, request: Request, conn: DbConnection, principal: Staff
) -> Response:
    """Done: back to the ticket (303). Refused: the ticket again, saying why, with the API's
    status (403 another district or not a crew action, 404, 409 not in this state, 422)."""
    fields, _ = await read_form(request)
    try:
        await run_in_threadpool(_act, conn, principal, ticket_id, fields)
    except Problem as exc:
        context = await run_in_threadpool(_ticket_context, request, conn, principal, ticket_id)
        if context is None or not wants_html(request):
            raise
        context["error"] = exc.detail
        back = f"/crew/tickets/{ticket_id}"
        return render(request, "ticket.html", context, status=exc.status, switch_path=back)
    return RedirectResponse(f"/crew/tickets/{ticket_id}", status_code=303)


def _add_repair_photos(
    conn: psycopg.Connection[Any], principal: Principal, ticket_id: int, uploads: list[Any]
) -> None:
    ticket = get_ticket_row(conn, datetime.now(UTC), ticket_id, districts=None)
    if ticket is None:
        raise Problem(404, "Not found", f"there is no ticket {ticket_id}")
    forbidden_unless_seen(principal, ticket.site_code, f"ticket {ticket_id}")
    if not uploads:
        raise Problem(422, "No photo", "choose at least one photo")
    if len(uploads) > PHOTOS_MAX:
        raise Problem(422, "Too many photos", f"at most {PHOTOS_MAX} photos at a time")
    try:
        prepared = [prepare_photo(u) for u in uploads]
    except PhotoError as exc:
        detail = f"{exc.name!r} is not a JPEG, PNG or WebP picture of at most {PHOTO_MAX_MB} MB"
        raise Problem(422, "Not a photo", detail) from None
    now = datetime.now(UTC)
    ids = [
        insert_photo(conn, now, p, ticket_id=ticket_id, taken_by=principal.person_id)
        for p in prepared
    ]
    actor = Actor.person(principal.person_id)
    detail = ", ".join(f"photo {i}" for i in ids)
    record(conn, now, actor, "ticket", ticket_id, "repair photos added", detail=detail)


@router.post("/crew/tickets/{ticket_id}/photos", openapi_extra=ROLES)
async def repair_photos(
    ticket_id: int, request: Request, conn: DbConnection, principal: Staff
) -> Response:
    _, uploads = await read_form(request)
    await run_in_threadpool(_add_repair_photos, conn, principal, ticket_id, uploads)
    return RedirectResponse(f"/crew/tickets/{ticket_id}#photos", status_code=303)


@router.get("/crew/photos/{photo_id}", openapi_extra=ROLES)
def photo(photo_id: int, request: Request, conn: DbConnection, principal: Staff) -> Response:
    """A report's or a repair's photo, for staff of its district only."""
    found = get_photo(conn, photo_id)
    if found is None:
        return page_error(request, 404, "Not found", f"there is no photo {photo_id}")
    content_type, data, site_code = found
    hidden_unless_seen(principal, site_code, f"photo {photo_id}")
    headers = {"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"}
    return Response(data, media_type=content_type, headers=headers)
