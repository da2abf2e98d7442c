"""The usage query API: an item's, a site's, a district's or an equipment type's use over a period
in buckets of local time, from the hourly rollups, with utilisation (the share of the opening
hours in use). For staff, within their districts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, Field

from api.auth import STAFF, Principal
from api.database import DbConnection
from api.problems import Problem, problem_responses
from api.registry_schemas import DISTRICT, not_your_district, unknown_kind
from db.queries.equipment import get_equipment_site, site_exists
from db.queries.tags import district_has_sites
from db.queries.usage import (
    Level,
    UsageScope,
    UsageSums,
    item_groups,
    opening_seconds,
    usage_sums,
)
from devices.catalog import EQUIPMENT_TYPES
from devices.codes import CodeError, parse_equipment_code, parse_site_code
from devices.usage_periods import Bucket, buckets

router = APIRouter(
    prefix="/api/v1/usage", tags=["usage"], responses=problem_responses(401, 403, 404, 422)
)
Staff = Annotated[Principal, Depends(STAFF)]
MAX_BUCKETS = 10_000  # a leap year of hours
DEFAULT_ZONE = "Asia/Shanghai"


class UsageBucket(BaseModel):
    start: datetime
    end: datetime
    sessions: int
    reps: int
    duration_s: float = Field(description="session time started in the bucket, seconds")
    energy_wh: float = Field(description="energy the items generated")
    items_used: int = Field(description="items with at least one session")
    open_s: float = Field(description="the items' opening time, summed over items, seconds")
    in_use_s: float = Field(description="session time within the opening hours, seconds")
    utilisation: float | None = Field(description="in_use_s / open_s; null when nothing was open")


class UsageOut(BaseModel):
    level: Level
    key: str
    bucket: Bucket
    tz: str
    items: int = Field(description="items registered in scope (retired ones included)")
    buckets: list[UsageBucket] = Field(description="every bucket of the period, empty ones too")
    total: UsageBucket


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Problem(422, "Invalid time zone", f"{name!r} is not an IANA time zone") from None


def _scope(
    conn: DbConnection, principal: Principal, level: Level, key: str, district: str | None
) -> UsageScope:
    """The scope asked for: an unknown item or site, or one outside the caller's districts, is a
    404; a district outside them a 403."""
    if district is not None and level != "type":
        raise Problem(422, "Invalid request", "district narrows level=type only")
    if level == "item":
        try:
            parse_equipment_code(key)
        except CodeError as exc:
            raise Problem(422, "Invalid equipment code", str(exc)) from None
        if get_equipment_site(conn, key) is None or not principal.sees_site(key[:11]):
            raise Problem(404, "Unknown equipment", f"no equipment is registered as {key}")
    elif level == "site":
        try:
            parse_site_code(key)
        except CodeError as exc:
            raise Problem(422, "Invalid site code", str(exc)) from None
        if not site_exists(conn, key) or not principal.sees_site(key):
            raise Problem(404, "Unknown site", f"no site is registered as {key}")
    elif level == "district":
        if not (len(key) == 6 and key.isascii() and key.isdigit()):
            raise Problem(422, "Invalid district", f"a district is 6 digits, got {key!r}")
        if not principal.sees_district(key):
            raise not_your_district(principal, key)
        if not district_has_sites(conn, key):
            raise Problem(404, "Unknown district", f"no site is registered in district {key}")
    else:
        if key not in EQUIPMENT_TYPES:
            raise unknown_kind(key)
        if district is not None and not principal.sees_district(district):
            raise not_your_district(principal, district)
    return UsageScope(level, key, principal.districts, district)


def _bucket(start: datetime, end: datetime, sums: UsageSums | None, open_s: float) -> UsageBucket:
    in_use = sums.in_use_s if sums else 0.0
    return UsageBucket(
        start=start,
        end=end,
        sessions=sums.sessions if sums else 0,
        reps=sums.reps if sums else 0,
        duration_s=sums.duration_s if sums else 0.0,
        energy_wh=sums.energy_wh if sums else 0.0,
        items_used=sums.items_used if sums else 0,
        open_s=open_s,
        in_use_s=in_use,
        utilisation=in_use / open_s if open_s > 0 else None,
    )


@router.get("", openapi_extra=STAFF.openapi_extra)
def read_usage(
    conn: DbConnection,
    principal: Staff,
    level: Annotated[Level, Query(description="what `key` names")],
    key: Annotated[
        str,
        Query(
            max_length=64,
            description="an equipment or site code, a district (6 digits) or an equipment type",
        ),
    ],
    start: Annotated[AwareDatetime, Query(description="RFC 3339 with offset, on the hour")],
    end: Annotated[AwareDatetime, Query(description="exclusive, on the hour")],
    bucket: Bucket = "day",
    tz: Annotated[
        str, Query(max_length=64, description="IANA zone of the buckets and of the opening hours")
    ] = DEFAULT_ZONE,
    district: Annotated[
        str | None, Query(pattern=DISTRICT, description="level=type: in this district only")
    ] = None,
) -> UsageOut:
    """Every bucket of [start, end), empty ones too, and the whole period's total. Days, weeks
    (from Monday) and months are local to `tz`; the first and last bucket are cut to the period."""
    zone = _zone(tz)
    for name, moment in (("start", start), ("end", end)):
        if moment.minute or moment.second or moment.microsecond:
            raise Problem(
                422,
                "Invalid period",
                f"{name} {moment.isoformat()} is not on the hour: usage is kept by the hour",
            )
    if end <= start:
        raise Problem(422, "Invalid period", f"end {end.isoformat()} is not after {start}")
    try:
        periods = buckets(start, end, bucket, zone, most=MAX_BUCKETS)
    except ValueError as exc:
        raise Problem(422, "Too many buckets", f"{exc}; ask for a larger bucket") from None
    scope = _scope(conn, principal, level, key, district)
    groups = item_groups(conn, scope)
    found = usage_sums(conn, scope, start=start, end=end, bucket=bucket, zone=zone)
    by_bucket = {row.bucket: row for row in found if row.bucket is not None}
    total = next((row for row in found if row.bucket is None), None)
    rows = [
        _bucket(begins, ends, by_bucket.get(boundary), opening_seconds(groups, begins, ends, zone))
        for boundary, begins, ends in periods
    ]
    total_open = sum(row.open_s for row in rows)
    return UsageOut(
        level=level,
        key=key,
        bucket=bucket,
        tz=zone.key,
        items=sum(group.items for group in groups),
        buckets=rows,
        total=_bucket(start, end, total, total_open),
    )
