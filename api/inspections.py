"""Inspections of sites: recorded by the district's crew, its managers and admins; listed within
the caller's districts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.alerts import SITE_PATTERN, Limit, Offset
from api.auth import STAFF, Principal, forbidden_unless_seen
from api.database import DbConnection
from api.problems import Problem, problem_responses
from maintenance.inspections import InspectionError, list_inspections, record_inspection

router = APIRouter(
    prefix="/api/v1/inspections",
    tags=["inspections"],
    responses=problem_responses(401, 403, 404, 422),
)
Staff = Annotated[Principal, Depends(STAFF)]


class InspectionIn(BaseModel):
    site_code: str = Field(pattern=SITE_PATTERN)
    inspected_at: AwareDatetime | None = Field(default=None, description="default: now")
    findings: dict[str, Any] = Field(
        default={}, description="by checklist entry (GB 19272 Annex I), as the crew pages send"
    )
    note: str | None = Field(default=None, max_length=4000)


class InspectionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    site_code: str
    inspected_at: datetime
    inspector_id: int | None
    findings: dict[str, Any]
    note: str | None


@router.post("", status_code=201, openapi_extra=STAFF.openapi_extra)
def add_inspection(body: InspectionIn, conn: DbConnection, principal: Staff) -> InspectionOut:
    """Record an inspection of a site of your districts; it restarts the site's interval."""
    forbidden_unless_seen(principal, body.site_code, f"site {body.site_code}")
    try:
        inspection = record_inspection(
            conn,
            datetime.now(UTC),
            site_code=body.site_code,
            inspector_id=principal.person_id,
            inspected_at=body.inspected_at,
            findings=body.findings,
            note=body.note,
        )
    except LookupError as exc:
        raise Problem(404, "Unknown site", str(exc)) from None
    except InspectionError as exc:
        raise Problem(422, "Invalid inspection", str(exc)) from None
    return InspectionOut.model_validate(inspection)


@router.get("", openapi_extra=STAFF.openapi_extra)
def read_inspections(
    conn: DbConnection,
    principal: Staff,
    site: Annotated[str | None, Query(pattern=SITE_PATTERN)] = None,
    since: Annotated[datetime | None, Query(description="inspected at or after")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[InspectionOut]:
    """Newest first, within your districts."""
    found = list_inspections(
        conn,
        districts=principal.districts,
        site_code=site,
        since=since,
        limit=limit,
        offset=offset,
    )
    return [InspectionOut.model_validate(i) for i in found]
