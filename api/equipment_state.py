"""The current state of every item (in service, heard, faults, open ticket, last use), paged, for
staff within their districts; the total of the filtered list in X-Total-Count."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import STAFF, Principal
from api.database import DbConnection
from api.problems import problem_responses
from api.registry_schemas import (
    DISTRICT,
    PAGED,
    SITE_CODE,
    Limit,
    Offset,
    not_your_district,
    total,
    unknown_kind,
)
from db.queries.equipment_state import (
    Presence,
    StateFilter,
    StateSort,
    count_equipment_states,
    list_equipment_states,
)
from devices.catalog import EQUIPMENT_TYPES

router = APIRouter(
    prefix="/api/v1/equipment", tags=["equipment"], responses=problem_responses(401, 403, 422)
)
Staff = Annotated[Principal, Depends(STAFF)]


class EquipmentStateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    site_code: str
    kind: str
    service_status: str
    online: bool | None = Field(description="null: the device has not spoken yet")
    last_seen_at: datetime | None
    online_changed_at: datetime | None
    offline_reason: str | None
    raised_faults: list[str] = Field(description="fault codes the device has raised, not cleared")
    ticket_id: int | None = Field(description="the item's open ticket")
    ticket_status: str | None
    last_used_hour: datetime | None = Field(description="the last hour a session started in")


@router.get("/state", openapi_extra=STAFF.openapi_extra, responses=PAGED)
def read_equipment_states(
    response: Response,
    conn: DbConnection,
    principal: Staff,
    site: Annotated[str | None, Query(pattern=SITE_CODE)] = None,
    district: Annotated[str | None, Query(pattern=DISTRICT)] = None,
    kind: Annotated[str | None, Query(max_length=64, description="an equipment type")] = None,
    service_status: Literal["in_service", "out_of_service", "retired"] | None = None,
    presence: Presence | None = None,
    faulty: Annotated[bool | None, Query(description="with raised faults, or without")] = None,
    sort: StateSort = "code",
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[EquipmentStateOut]:
    """Within your districts; asking for a district or site outside them is a 403."""
    for asked, seen in ((district, principal.sees_district), (site, principal.sees_site)):
        if asked is not None and not seen(asked):
            raise not_your_district(principal, asked)
    if kind is not None and kind not in EQUIPMENT_TYPES:
        raise unknown_kind(kind)
    where = StateFilter(site, district, kind, service_status, presence, faulty)
    found = list_equipment_states(
        conn, where, districts=principal.districts, sort=sort, limit=limit, offset=offset
    )
    total(response, count_equipment_states(conn, where, districts=principal.districts))
    return [EquipmentStateOut.model_validate(row) for row in found]
