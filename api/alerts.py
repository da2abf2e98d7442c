"""Alerts: listed and filtered within the caller's districts, each with its history, and
acknowledged by the district's crew, its managers and admins."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from api.auth import STAFF, Principal, forbidden_unless_seen
from api.database import DbConnection
from api.problems import Problem, problem_responses
from maintenance.alerts import acknowledge
from maintenance.audit import history
from maintenance.inbox import lock
from maintenance.listing import AlertFilter, AlertRow, get_alert, list_alerts

router = APIRouter(
    prefix="/api/v1/alerts", tags=["alerts"], responses=problem_responses(401, 403, 404, 409, 422)
)
Staff = Annotated[Principal, Depends(STAFF)]
Severity = Literal["critical", "major", "minor"]
Rule = Literal[
    "device_fault",
    "device_offline",
    "gateway_offline",
    "unused",
    "service_life_past",
    "service_life_near",
    "inspection_overdue",
    "citizen_report",
    "inspection_defect",
]
SITE_PATTERN = r"^[0-9]{6}-[0-9]{4}$"
DISTRICT_PATTERN = r"^[0-9]{6}$"
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0)]


class HistoryEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    actor_kind: str
    actor: str = Field(description="a person's id, an equipment code, or a rule's name")
    action: str
    from_state: str | None
    to_state: str | None
    detail: str | None


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    subject: str = Field(description="an equipment code, or a site code for a whole site")
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


class AlertDetail(AlertOut):
    history: list[HistoryEntry]


def alert_history(conn: DbConnection, alert: AlertRow) -> AlertDetail:
    entries = [HistoryEntry.model_validate(e) for e in history(conn, "alert", alert.id)]
    return AlertDetail(**AlertOut.model_validate(alert).model_dump(), history=entries)


@router.get("", openapi_extra=STAFF.openapi_extra)
def read_alerts(
    conn: DbConnection,
    principal: Staff,
    status: Literal["open", "acknowledged", "closed"] | None = None,
    rule: Rule | None = None,
    severity: Severity | None = None,
    site: Annotated[str | None, Query(pattern=SITE_PATTERN)] = None,
    district: Annotated[str | None, Query(pattern=DISTRICT_PATTERN)] = None,
    since: Annotated[datetime | None, Query(description="raised at or after")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[AlertOut]:
    """Newest first, within your districts."""
    where = AlertFilter(status, rule, severity, site, district, since)
    found = list_alerts(conn, where, districts=principal.districts, limit=limit, offset=offset)
    return [AlertOut.model_validate(a) for a in found]


@router.get("/{alert_id}", openapi_extra=STAFF.openapi_extra)
def read_alert(alert_id: int, conn: DbConnection, principal: Staff) -> AlertDetail:
    alert = get_alert(conn, alert_id, districts=principal.districts)
    if alert is None:
        raise Problem(404, "Not found", f"there is no alert {alert_id}")
    return alert_history(conn, alert)


@router.post("/{alert_id}/acknowledge", openapi_extra=STAFF.openapi_extra)
def acknowledge_alert(alert_id: int, conn: DbConnection, principal: Staff) -> AlertDetail:
    """Say that someone is on it. Only an open alert can be acknowledged (409 otherwise)."""
    lock(conn)  # after the service's transaction, never in the middle of it
    alert = get_alert(conn, alert_id, districts=None)
    if alert is None:
        raise Problem(404, "Not found", f"there is no alert {alert_id}")
    forbidden_unless_seen(principal, alert.site_code, f"alert {alert_id}")
    if acknowledge(conn, datetime.now(UTC), alert_id, principal.person_id) is None:
        raise Problem(
            409, "Not open", f"alert {alert_id} is {alert.status}; only an open one is acknowledged"
        )
    acknowledged = get_alert(conn, alert_id, districts=None)
    assert acknowledged is not None
    return alert_history(conn, acknowledged)
