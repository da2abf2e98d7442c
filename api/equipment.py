"""Equipment (一物一码): the public lookup by code, and the registry of items: listed within the
caller's districts; created, changed and retired by the district's managers and admins, every
change in the audit trail. Whether an item is in service is the maintenance loop's to say."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.alerts import HistoryEntry
from api.auth import MANAGERS, PUBLIC, STAFF, Principal, forbidden_unless_seen, hidden_unless_seen
from api.database import DbConnection, PublicReads
from api.problems import Problem, problem_responses
from api.rate_limits import PageLimits, client_of, page_limits
from api.registry_schemas import (
    DISTRICT,
    PAGED,
    SITE_CODE,
    Limit,
    Offset,
    Retirement,
    Text100,
    Text200,
    refused,
    total,
)
from db.queries.equipment import get_equipment, get_equipment_site
from db.queries.registry import Item, ItemFilter, get_item, list_items
from db.registry_edits import RegistryRefused, create_item, retire_item, update_item
from devices.catalog import EQUIPMENT_TYPES
from devices.codes import CodeError, parse_equipment_code
from devices.registry_rows import EquipmentRow
from maintenance.audit import Actor, history
from maintenance.inbox import lock

router = APIRouter(prefix="/api/v1/equipment", tags=["equipment"])
Staff = Annotated[Principal, Depends(STAFF)]
Managers = Annotated[Principal, Depends(MANAGERS)]
ServiceStatus = Literal["in_service", "out_of_service", "retired"]
ItemSort = Literal[
    "code",
    "-code",
    "kind",
    "-kind",
    "installed_on",
    "-installed_on",
    "service_end",
    "-service_end",
    "created_at",
    "-created_at",
]
_ERRORS = problem_responses(401, 403, 404, 409, 422)


class EquipmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    site_code: str
    site_name: str
    kind: str
    model: str | None
    installed_on: date
    service_life_years: int
    service_status: str
    online: bool | None
    last_seen_at: datetime | None


class ItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    site_code: str
    site_name: str
    kind: str
    model: str | None
    maker: str | None
    installed_on: date
    service_life_years: int
    service_ends_on: date = Field(description="the end of its safe service life (GB 19272)")
    location: str | None
    service_status: str
    created_at: datetime
    updated_at: datetime


class ItemDetail(ItemOut):
    history: list[HistoryEntry]


class ItemFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: Text100 | None = None
    maker: Text200 | None = None
    location: Text200 | None = Field(default=None, description="where at the site")


class ItemIn(ItemFields):
    code: str = Field(description="AAAAAA-SSSS-III-C; its site must be registered")
    kind: str = Field(description="a kind of the equipment catalog")
    installed_on: date
    service_life_years: int | None = Field(
        default=None, ge=1, le=50, description="none: the kind's (GB 19272: 8 years)"
    )


class ItemChange(ItemFields):
    """The fields to change; model, maker and location given as null are cleared."""

    kind: str | None = None
    installed_on: date | None = None
    service_life_years: int | None = Field(default=None, ge=1, le=50)


def _checked_code(code: str) -> None:
    try:
        parse_equipment_code(code)
    except CodeError as exc:
        raise Problem(422, "Invalid equipment code", str(exc)) from None


def _checked_kind(kind: str) -> None:
    if kind not in EQUIPMENT_TYPES:
        known = ", ".join(sorted(EQUIPMENT_TYPES))
        raise Problem(422, "Unknown kind", f"unknown kind {kind!r}; known: {known}")


def _registered_then_seen(conn: DbConnection, principal: Principal, code: str) -> None:
    """For a change: 404 for no such item, then 403 for one of another district."""
    _checked_code(code)
    if get_equipment_site(conn, code) is None:
        raise Problem(404, "Not registered", f"no equipment is registered as {code}")
    forbidden_unless_seen(principal, code, f"item {code}")


def _detail(conn: DbConnection, principal: Principal, code: str) -> ItemDetail:
    hidden_unless_seen(principal, code, f"item {code}")
    item: Item | None = get_item(conn, code)
    if item is None:
        raise Problem(404, "Not registered", f"no equipment is registered as {code}")
    entries = [HistoryEntry.model_validate(e) for e in history(conn, "equipment", code)]
    return ItemDetail(**ItemOut.model_validate(item).model_dump(), history=entries)


@router.get("", openapi_extra=STAFF.openapi_extra, responses={**_ERRORS, **PAGED})
def read_items(
    conn: DbConnection,
    principal: Staff,
    response: Response,
    site: Annotated[str | None, Query(pattern=SITE_CODE)] = None,
    district: Annotated[str | None, Query(pattern=DISTRICT)] = None,
    kind: str | None = None,
    status: ServiceStatus | None = None,
    service_ends_before: Annotated[
        date | None, Query(description="items whose safe service life ends before this day")
    ] = None,
    sort: ItemSort = "code",
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[ItemOut]:
    """Items of your districts."""
    if kind is not None:
        _checked_kind(kind)
    found, count = list_items(
        conn,
        ItemFilter(site, district, kind, status, service_ends_before),
        districts=principal.districts,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    total(response, count)
    return [ItemOut.model_validate(i) for i in found]


@router.get("/{code}", openapi_extra=PUBLIC, responses=problem_responses(404, 422, 429))
async def read_equipment(
    code: str,
    reads: PublicReads,
    request: Request,
    limits: Annotated[PageLimits, Depends(page_limits)],
) -> EquipmentOut:
    """Look an item up by its code, as its tag's scan does: no sign-in. A code that names no
    item costs the client one of the guesses the scan pages allow (api/rate_limits.py)."""
    client = client_of(request)
    wait = limits.blocked("misses", client)
    if wait is not None:
        raise Problem(
            429, "Too many unknown codes", "try again later", headers={"Retry-After": str(wait)}
        )
    try:
        _checked_code(code)
    except Problem:
        limits.hit("misses", client)
        raise
    async with reads.connection() as conn:
        found = await get_equipment(conn, code)
    if found is None:
        limits.hit("misses", client)
        raise Problem(404, "Unknown equipment", f"no equipment is registered as {code}")
    return EquipmentOut.model_validate(found)


@router.get("/{code}/registry", openapi_extra=STAFF.openapi_extra, responses=_ERRORS)
def read_item(code: str, conn: DbConnection, principal: Staff) -> ItemDetail:
    """The item as the registry holds it, with its history."""
    _checked_code(code)
    return _detail(conn, principal, code)


@router.post("", status_code=201, openapi_extra=MANAGERS.openapi_extra, responses=_ERRORS)
def add_item(body: ItemIn, conn: DbConnection, principal: Managers) -> ItemDetail:
    """Register an item at its (registered) site: 409 for a code already taken."""
    _checked_code(body.code)
    _checked_kind(body.kind)
    forbidden_unless_seen(principal, body.code, f"item {body.code}")
    life = body.service_life_years or EQUIPMENT_TYPES[body.kind].service_life_years
    item = EquipmentRow(
        body.code,
        body.code[:11],
        body.kind,
        body.model,
        body.installed_on,
        life,
        body.location,
        body.maker,
    )
    try:
        create_item(conn, datetime.now(UTC), item, Actor.person(principal.person_id))
    except RegistryRefused as exc:
        raise refused(exc) from None
    return _detail(conn, principal, body.code)


@router.patch("/{code}", openapi_extra=MANAGERS.openapi_extra, responses=_ERRORS)
def change_item(code: str, body: ItemChange, conn: DbConnection, principal: Managers) -> ItemDetail:
    _registered_then_seen(conn, principal, code)
    given = body.model_dump(exclude_unset=True)
    for required in ("kind", "installed_on", "service_life_years"):
        if required in given and given[required] is None:
            raise Problem(422, "Invalid item", f"{required} cannot be cleared")
    if "kind" in given:
        _checked_kind(given["kind"])
    try:
        update_item(conn, datetime.now(UTC), code, given, Actor.person(principal.person_id))
    except RegistryRefused as exc:
        raise refused(exc) from None
    return _detail(conn, principal, code)


@router.post("/{code}/retire", openapi_extra=MANAGERS.openapi_extra, responses=_ERRORS)
def retire(code: str, body: Retirement, conn: DbConnection, principal: Managers) -> ItemDetail:
    """Take an item out of use for good: its open alerts close; an open ticket must be closed
    or dismissed first (409). It stays registered, with its history; its tag says so."""
    _registered_then_seen(conn, principal, code)
    lock(conn)  # before or after the maintenance service's work on its alerts, never inside
    try:
        retire_item(conn, datetime.now(UTC), code, Actor.person(principal.person_id), body.reason)
    except RegistryRefused as exc:
        raise refused(exc) from None
    return _detail(conn, principal, code)
