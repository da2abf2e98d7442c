"""Equipment and sites as the registry holds them: lookups by code (一物一码, 一站一码)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import class_row, scalar_row


@dataclass(frozen=True, slots=True)
class EquipmentDetails:
    """An item with its site's name and, once the device has spoken, its presence."""

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


async def get_equipment(conn: psycopg.AsyncConnection[Any], code: str) -> EquipmentDetails | None:
    """Async: the public lookup runs it on the API's event loop (api.database)."""
    async with conn.cursor(row_factory=class_row(EquipmentDetails)) as cur:
        await cur.execute(_GET_EQUIPMENT, (code,))
        return await cur.fetchone()


_KNOWN_EQUIPMENT_CODES = "SELECT code FROM equipment"


def known_equipment_codes(conn: psycopg.Connection[Any]) -> frozenset[str]:
    with conn.cursor(row_factory=scalar_row) as cur:
        return frozenset(str(code) for code in cur.execute(_KNOWN_EQUIPMENT_CODES))


_EQUIPMENT_SITE = "SELECT site_code FROM equipment WHERE code = %s"


def get_equipment_site(conn: psycopg.Connection[Any], code: str) -> str | None:
    """The site code an item is registered at; None when no item is registered as `code`."""
    with conn.cursor(row_factory=scalar_row) as cur:
        site = cur.execute(_EQUIPMENT_SITE, (code,)).fetchone()
    return None if site is None else str(site)


_SITE_EXISTS = "SELECT EXISTS (SELECT 1 FROM sites WHERE code = %s)"


def site_exists(conn: psycopg.Connection[Any], site_code: str) -> bool:
    with conn.cursor(row_factory=scalar_row) as cur:
        return bool(cur.execute(_SITE_EXISTS, (site_code,)).fetchone())
