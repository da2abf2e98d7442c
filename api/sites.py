"""Sites (一站一码): listed and read within the caller's districts; created, changed and retired
by the district's managers and admins, every change in the audit trail. A site's code must
start with a county-level division of GB/T 2260."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.alerts import HistoryEntry
from api.auth import MANAGERS, STAFF, Principal, forbidden_unless_seen, hidden_unless_seen
from api.database import DbConnection
from api.problems import Problem, problem_responses
from api.registry_schemas import (
    DISTRICT,
    HOTLINE,
    PAGED,
    SITE_CODE,
    Limit,
    Offset,
    Retirement,
    Text200,
    Text500,
    refused,
    total,
)
from db.queries.equipment import site_exists
from db.queries.registry import Site, SiteFilter, get_site, list_sites
from db.registry_edits import RegistryRefused, create_site, retire_site, update_site
from devices.codes import CodeError, parse_site_code
from devices.registry_rows import DEFAULT_INSPECTION_INTERVAL_DAYS, SiteRow
from maintenance.audit import Actor, history

router = APIRouter(
    prefix="/api/v1/sites", tags=["sites"], responses=problem_responses(401, 403, 404, 409, 422)
)
Staff = Annotated[Principal, Depends(STAFF)]
Managers = Annotated[Principal, Depends(MANAGERS)]
SiteSort = Literal["code", "-code", "name", "-name", "created_at", "-created_at"]


class SiteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    division: str
    division_name: str | None = Field(description="from the division list (GB/T 2260)")
    address: str | None
    latitude: float | None
    longitude: float | None
    opens_at: time | None = Field(description="null with closes_at null: open all day")
    closes_at: time | None
    inspection_interval_days: int
    responsible_unit: str | None
    hotline: str | None
    created_at: datetime
    updated_at: datetime
    retired_at: datetime | None
    items: int = Field(description="items registered here and not retired")


class SiteDetail(SiteOut):
    history: list[HistoryEntry]


class SiteFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: Text500 | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    longitude: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    opens_at: time | None = Field(default=None, description="with closes_at; none: all day")
    closes_at: time | None = None
    responsible_unit: Text200 | None = None
    hotline: str | None = Field(default=None, pattern=HOTLINE)


class SiteIn(SiteFields):
    code: str = Field(pattern=SITE_CODE, description="AAAAAA-SSSS: division and serial")
    name: Text200
    inspection_interval_days: int = Field(default=DEFAULT_INSPECTION_INTERVAL_DAYS, ge=1, le=366)


class SiteChange(SiteFields):
    """The fields to change; a field given as null is cleared."""

    name: Text200 | None = None
    inspection_interval_days: int | None = Field(default=None, ge=1, le=366)


def _found(conn: DbConnection, principal: Principal, code: str) -> Site:
    hidden_unless_seen(principal, code, f"site {code}")
    site = get_site(conn, code)
    if site is None:
        raise Problem(404, "Not registered", f"no site is registered as {code}")
    return site


def _registered_then_seen(conn: DbConnection, principal: Principal, code: str) -> None:
    """For a change: 422 for a malformed code, 404 for no such site, then 403 for one of
    another district."""
    try:
        parse_site_code(code)
    except CodeError as exc:
        raise Problem(422, "Invalid site code", str(exc)) from None
    if not site_exists(conn, code):
        raise Problem(404, "Not registered", f"no site is registered as {code}")
    forbidden_unless_seen(principal, code, f"site {code}")


def _detail(conn: DbConnection, site: Site) -> SiteDetail:
    entries = [HistoryEntry.model_validate(e) for e in history(conn, "site", site.code)]
    return SiteDetail(**SiteOut.model_validate(site).model_dump(), history=entries)


@router.get("", openapi_extra=STAFF.openapi_extra, responses=PAGED)
def read_sites(
    conn: DbConnection,
    principal: Staff,
    response: Response,
    district: Annotated[str | None, Query(pattern=DISTRICT)] = None,
    name: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    retired: bool | None = None,
    sort: SiteSort = "code",
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[SiteOut]:
    """Sites of your districts; `name` matches a part of the name."""
    found, count = list_sites(
        conn,
        SiteFilter(district, name, retired),
        districts=principal.districts,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    total(response, count)
    return [SiteOut.model_validate(s) for s in found]


@router.get("/{site_code}", openapi_extra=STAFF.openapi_extra)
def read_site(site_code: str, conn: DbConnection, principal: Staff) -> SiteDetail:
    return _detail(conn, _found(conn, principal, site_code))


@router.post("", status_code=201, openapi_extra=MANAGERS.openapi_extra)
def add_site(body: SiteIn, conn: DbConnection, principal: Managers) -> SiteDetail:
    """Register a site: 422 for a division not in the list, 409 for a code already taken."""
    forbidden_unless_seen(principal, body.code, f"site {body.code}")
    site = SiteRow(**body.model_dump())
    try:
        create_site(conn, datetime.now(UTC), site, Actor.person(principal.person_id))
    except RegistryRefused as exc:
        raise refused(exc) from None
    return _detail(conn, _found(conn, principal, body.code))


@router.patch("/{site_code}", openapi_extra=MANAGERS.openapi_extra)
def change_site(
    site_code: str, body: SiteChange, conn: DbConnection, principal: Managers
) -> SiteDetail:
    _registered_then_seen(conn, principal, site_code)
    given = body.model_dump(exclude_unset=True)
    for required in ("name", "inspection_interval_days"):
        if required in given and given[required] is None:
            raise Problem(422, "Invalid site", f"{required} cannot be cleared")
    try:
        update_site(conn, datetime.now(UTC), site_code, given, Actor.person(principal.person_id))
    except RegistryRefused as exc:
        raise refused(exc) from None
    return _detail(conn, _found(conn, principal, site_code))


@router.post("/{site_code}/retire", openapi_extra=MANAGERS.openapi_extra)
def retire(site_code: str, body: Retirement, conn: DbConnection, principal: Managers) -> SiteDetail:
    """Retire a site whose items are all retired (409 otherwise); it and its history stay."""
    _registered_then_seen(conn, principal, site_code)
    try:
        retire_site(
            conn, datetime.now(UTC), site_code, Actor.person(principal.person_id), body.reason
        )
    except RegistryRefused as exc:
        raise refused(exc) from None
    return _detail(conn, _found(conn, principal, site_code))
