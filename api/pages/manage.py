"""Managers' view of their districts (admins: every district): the figures they are judged on
(good order, open tickets by age, tickets closed on time over the last 30 days) and the unclosed
tickets, filtered by district and status, a page at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Query, Request
from fastapi.responses import Response

from api.alerts import DISTRICT_PATTERN
from api.database import DbConnection
from api.figures import scope_for
from api.pages.rendering import page_error, render
from api.pages.routing import page_router
from api.pages.signin import MANAGER_PAGES, Manager
from maintenance.figures import Period, closed_on_time, good_order, open_tickets
from maintenance.listing import OPEN_TICKET_STATES, TicketFilter, list_tickets

router = page_router()
PAGE_SIZE = 50
_PERIOD = timedelta(days=30)


@router.get("/crew/manage", openapi_extra=MANAGER_PAGES.openapi_extra)
def districts_view(
    request: Request,
    conn: DbConnection,
    principal: Manager,
    district: Annotated[str | None, Query(pattern=DISTRICT_PATTERN)] = None,
    status: Annotated[str | None, Query()] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    scope = scope_for(principal, district)  # 403 for a district not theirs, as the API's figures
    if status is not None and status not in OPEN_TICKET_STATES:
        detail = f"status is one of {', '.join(OPEN_TICKET_STATES)}, not {status!r}"
        return page_error(request, 422, "Invalid status", detail)
    now = datetime.now(UTC)
    # One more than a page, to know whether there is a next one.
    found = [
        t
        for s in ([status] if status else OPEN_TICKET_STATES)
        for t in list_tickets(
            conn,
            now,
            TicketFilter(status=s, district=district),
            districts=principal.districts,
            limit=offset + PAGE_SIZE + 1,
        )
    ]
    found.sort(key=lambda t: (not t.overdue, t.due_at, t.id))
    shown = found[offset : offset + PAGE_SIZE]

    def page_url(at: int) -> str:
        query = {k: v for k, v in {"district": district, "status": status}.items() if v}
        return f"/crew/manage?{urlencode({**query, 'offset': at})}"

    context = {
        "principal": principal,
        "good_order": good_order(conn, now, scope),
        "open_tickets": open_tickets(conn, now, scope),
        "on_time": closed_on_time(conn, Period(now - _PERIOD, now), scope)[0],
        "tickets": shown,
        "district": district,
        "status": status,
        "statuses": OPEN_TICKET_STATES,
        "districts": sorted(principal.districts) if principal.districts is not None else None,
        "next_url": page_url(offset + PAGE_SIZE) if len(found) > offset + PAGE_SIZE else None,
        "prev_url": page_url(max(0, offset - PAGE_SIZE)) if offset else None,
    }
    return render(request, "manage.html", context)
