"""Maintenance windows: while one is on, new alerts for its site (or item) are kept but
silenced. Managers of the district and admins create, list and end them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.alerts import SITE_PATTERN, Limit, Offset
from api.auth import MANAGERS, Principal, forbidden_unless_seen
from api.database import DbConnection
from api.problems import Problem, problem_responses
from maintenance.audit import Actor
from maintenance.windows import WindowError, create_window, end_window, get_window, list_windows

router = APIRouter(
    prefix="/api/v1/windows",
    tags=["maintenance windows"],
    responses=problem_responses(401, 403, 404, 409, 422),
)
Managers = Annotated[Principal, Depends(MANAGERS)]
CODE_PATTERN = r"^[0-9]{6}-[0-9]{4}-[0-9]{3}-[0-9X]$"


class WindowIn(BaseModel):
    site_code: str = Field(pattern=SITE_PATTERN)
    code: str | None = Field(default=None, pattern=CODE_PATTERN, description="none: whole site")
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    reason: str = Field(min_length=1, max_length=500)


class WindowOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    site_code: str
    code: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: int | None


@router.post("", status_code=201, openapi_extra=MANAGERS.openapi_extra)
def add_window(body: WindowIn, conn: DbConnection, principal: Managers) -> WindowOut:
    forbidden_unless_seen(principal, body.site_code, f"site {body.site_code}")
    try:
        window = create_window(
            conn,
            datetime.now(UTC),
            site_code=body.site_code,
            code=body.code,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            reason=body.reason,
            created_by=principal.person_id,
        )
    except LookupError as exc:
        raise Problem(404, "Unknown site or item", str(exc)) from None
    except WindowError as exc:
        raise Problem(422, "Invalid window", str(exc)) from None
    return WindowOut.model_validate(window)


@router.get("", openapi_extra=MANAGERS.openapi_extra)
def read_windows(
    conn: DbConnection,
    principal: Managers,
    site: Annotated[str | None, Query(pattern=SITE_PATTERN)] = None,
    current: Annotated[bool, Query(description="only those not ended yet")] = False,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[WindowOut]:
    found = list_windows(
        conn,
        datetime.now(UTC),
        districts=principal.districts,
        site_code=site,
        current=current,
        limit=limit,
        offset=offset,
    )
    return [WindowOut.model_validate(w) for w in found]


@router.post("/{window_id}/end", openapi_extra=MANAGERS.openapi_extra)
def finish_window(window_id: int, conn: DbConnection, principal: Managers) -> WindowOut:
    """End the window now (409 if it has ended already)."""
    window = get_window(conn, window_id, districts=None)
    if window is None:
        raise Problem(404, "Not found", f"there is no maintenance window {window_id}")
    forbidden_unless_seen(principal, window.site_code, f"maintenance window {window_id}")
    ended = end_window(conn, datetime.now(UTC), window_id, Actor.person(principal.person_id))
    if ended is None:
        raise Problem(409, "Ended already", f"window {window_id} ended at {window.ends_at}")
    return WindowOut.model_validate(ended)
