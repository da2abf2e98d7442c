"""The figures managers are judged on (maintenance.figures), for admins and managers; a manager
sees only their districts. Points in time default to now, periods to the 30 days before `end`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Generic, TypeVar

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict

from api.alerts import DISTRICT_PATTERN, SITE_PATTERN
from api.auth import MANAGERS, Principal
from api.database import DbConnection
from api.problems import Problem
from maintenance.figures import (
    Period,
    Scope,
    closed_on_time,
    good_order,
    mtbf_per_item,
    mtbf_per_kind,
    open_tickets,
    repair_times,
)

router = APIRouter(prefix="/api/v1/figures", tags=["figures"])

_DEFAULT_PERIOD = timedelta(days=30)
RowT = TypeVar("RowT", bound=BaseModel)

Manager = Annotated[Principal, Depends(MANAGERS)]
District = Annotated[
    str | None, Query(pattern=DISTRICT_PATTERN, description="one district (6-digit division)")
]
Site = Annotated[str | None, Query(pattern=SITE_PATTERN, description="one site")]
Moment = Annotated[AwareDatetime | None, Query(description="RFC 3339 with offset; default now")]
Start = Annotated[AwareDatetime | None, Query(description="period start; default end - 30 days")]


def scope_for(principal: Principal, district: str | None, site: str | None = None) -> Scope:
    """The caller's districts, narrowed to the district or site asked for; one they do not see is
    a 403."""
    for asked, seen in ((district, principal.sees_district), (site, principal.sees_site)):
        if asked is not None and not seen(asked):
            mine = ", ".join(sorted(principal.districts or ())) or "none"
            raise Problem(403, "Not your district", f"{asked} is outside your districts ({mine})")
    return Scope(districts=principal.districts, district=district, site=site)


def _period(start: datetime | None, end: datetime | None) -> Period:
    end = end or datetime.now(UTC)
    start = start or end - _DEFAULT_PERIOD
    if end <= start:
        raise Problem(422, "Invalid period", f"end {end.isoformat()} is not after {start}")
    return Period(start, end)


class _Row(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class GoodOrderRow(_Row):
    district: str | None
    site: str | None
    items: int
    good: int
    share: float | None


class GoodOrderOut(BaseModel):
    now: datetime
    rows: list[GoodOrderRow]  # the total first (district None), then per district (and site)


class RepairTimesRow(_Row):
    district: str | None
    closed: int
    mean_hours_to_close: float | None
    resolved: int
    mean_hours_to_resolve: float | None


class ItemMtbfRow(_Row):
    code: str
    kind: str
    exposure_hours: float
    failures: int
    mtbf_hours: float | None


class KindMtbfRow(_Row):
    kind: str | None
    items: int
    exposure_hours: float
    failures: int
    mtbf_hours: float | None


class OnTimeRow(_Row):
    total: bool
    month: date | None
    crew_id: int | None
    crew_name: str | None
    closed: int
    on_time: int
    share: float | None


class OpenTicketsRow(_Row):
    total: bool
    crew_id: int | None
    crew_name: str | None
    tickets: int
    under_1d: int
    from_1d_to_3d: int
    from_3d_to_7d: int
    over_7d: int
    overdue: int


class PeriodOut(BaseModel, Generic[RowT]):
    start: datetime
    end: datetime
    rows: list[RowT]


def _in_period(model: type[RowT], period: Period, rows: Iterable[object]) -> PeriodOut[RowT]:
    """A period's figures as the API shows them."""
    shown = [model.model_validate(row) for row in rows]
    return PeriodOut[model](start=period.start, end=period.end, rows=shown)  # type: ignore[valid-type]


class OpenTicketsOut(BaseModel):
    now: datetime
    rows: list[OpenTicketsRow]  # the total first


@router.get("/good-order", openapi_extra=MANAGERS.openapi_extra)
def read_good_order(
    conn: DbConnection,
    principal: Manager,
    now: Moment = None,
    district: District = None,
    site: Site = None,
    by_site: bool = False,
) -> GoodOrderOut:
    """完好率: installed, unretired items in service with no open critical alert."""
    at = now or datetime.now(UTC)
    rows = good_order(conn, at, scope_for(principal, district, site), by_site=by_site)
    return GoodOrderOut(now=at, rows=[GoodOrderRow.model_validate(r) for r in rows])


@router.get("/repair-times", openapi_extra=MANAGERS.openapi_extra)
def read_repair_times(
    conn: DbConnection,
    principal: Manager,
    start: Start = None,
    end: Moment = None,
    district: District = None,
    site: Site = None,
) -> PeriodOut[RepairTimesRow]:
    """Mean time to repair over the tickets closed in the period, per district."""
    period = _period(start, end)
    rows = repair_times(conn, period, scope_for(principal, district, site))
    return _in_period(RepairTimesRow, period, rows)


@router.get("/mtbf/items", openapi_extra=MANAGERS.openapi_extra)
def read_mtbf_per_item(
    conn: DbConnection,
    principal: Manager,
    start: Start = None,
    end: Moment = None,
    district: District = None,
    site: Site = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> PeriodOut[ItemMtbfRow]:
    """The items that failed in the period, most failures first."""
    period = _period(start, end)
    rows = mtbf_per_item(conn, period, scope_for(principal, district, site), limit=limit)
    return _in_period(ItemMtbfRow, period, rows)


@router.get("/mtbf/kinds", openapi_extra=MANAGERS.openapi_extra)
def read_mtbf_per_kind(
    conn: DbConnection,
    principal: Manager,
    start: Start = None,
    end: Moment = None,
    district: District = None,
    site: Site = None,
) -> PeriodOut[KindMtbfRow]:
    """Mean time between failures per equipment type; the total first."""
    period = _period(start, end)
    rows = mtbf_per_kind(conn, period, scope_for(principal, district, site))
    return _in_period(KindMtbfRow, period, rows)


@router.get("/on-time", openapi_extra=MANAGERS.openapi_extra)
def read_closed_on_time(
    conn: DbConnection,
    principal: Manager,
    start: Start = None,
    end: Moment = None,
    district: District = None,
    site: Site = None,
) -> PeriodOut[OnTimeRow]:
    """The share of tickets closed within their deadline, per month and crew; the total first."""
    period = _period(start, end)
    rows = closed_on_time(conn, period, scope_for(principal, district, site))
    return _in_period(OnTimeRow, period, rows)


@router.get("/open-tickets", openapi_extra=MANAGERS.openapi_extra)
def read_open_tickets(
    conn: DbConnection,
    principal: Manager,
    now: Moment = None,
    district: District = None,
    site: Site = None,
) -> OpenTicketsOut:
    """Tickets open at `now` by age (<24 h, 1-3 d, 3-7 d, >7 d) and crew; the total first."""
    at = now or datetime.now(UTC)
    rows = open_tickets(conn, at, scope_for(principal, district, site))
    return OpenTicketsOut(now=at, rows=[OpenTicketsRow.model_validate(r) for r in rows])
