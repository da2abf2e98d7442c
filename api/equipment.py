"""Equipment lookups by one-item-one-code (一物一码)."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from api.auth import PUBLIC
from api.database import DbConnection
from api.problems import Problem
from db.queries.equipment import get_equipment
from devices.codes import CodeError, parse_equipment_code

router = APIRouter(prefix="/api/v1/equipment", tags=["equipment"])


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


@router.get("/{code}", openapi_extra=PUBLIC)
def read_equipment(code: str, conn: DbConnection) -> EquipmentOut:
    try:
        parse_equipment_code(code)
    except CodeError as exc:
        raise Problem(422, "Invalid equipment code", str(exc)) from None
    found = get_equipment(conn, code)
    if found is None:
        raise Problem(404, "Unknown equipment", f"no equipment is registered as {code}")
    return EquipmentOut.model_validate(found)
