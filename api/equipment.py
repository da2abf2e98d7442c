"""Equipment lookups by one-item-one-code (一物一码)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Request
from psycopg.rows import class_row
from pydantic import BaseModel

from api.problems import Problem
from devices.codes import CodeError, parse_equipment_code

router = APIRouter(prefix="/api/v1/equipment", tags=["equipment"])


class EquipmentOut(BaseModel):
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


_GET_EQUIPMENT = """
SELECT e.code, e.site_code, s.name AS site_name, e.kind, e.model, e.installed_on,
       e.service_life_years, e.service_status, d.online, d.last_seen_at
FROM equipment e JOIN sites s ON s.code = e.site_code
LEFT JOIN device_state d ON d.code = e.code
WHERE e.code = %s
"""


def get_equipment(conn: psycopg.Connection[Any], code: str) -> EquipmentOut | None:
    with conn.cursor(row_factory=class_row(EquipmentOut)) as cur:
        return cur.execute(_GET_EQUIPMENT, (code,)).fetchone()


def connection(request: Request) -> Any:
    with psycopg.connect(request.app.state.settings.database_url.get_secret_value()) as conn:
        yield conn


@router.get("/{code}")
def read_equipment(
    code: str, conn: Annotated[psycopg.Connection[Any], Depends(connection)]
) -> EquipmentOut:
    try:
        parse_equipment_code(code)
    except CodeError as exc:
        raise Problem(422, "Invalid equipment code", str(exc)) from None
    found = get_equipment(conn, code)
    if found is None:
        raise Problem(404, "Unknown equipment", f"no equipment is registered as {code}")
    return found
