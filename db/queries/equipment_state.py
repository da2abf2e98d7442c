"""The current state of every item: in service or not, heard or not, its raised faults, its open
ticket and its last hour of use; filtered, sorted and paged."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.rows import class_row, scalar_row

Presence = Literal["online", "offline", "never"]  # never: the device has not spoken yet
StateSort = Literal["code", "-code", "last_seen_at", "-last_seen_at", "last_used", "-last_used"]


@dataclass(frozen=True, slots=True)
class EquipmentState:
    code: str
    site_code: str
    kind: str
    service_status: str
    online: bool | None
    last_seen_at: datetime | None
    online_changed_at: datetime | None
    offline_reason: str | None
    raised_faults: list[str]
    ticket_id: int | None
    ticket_status: str | None
    last_used_hour: datetime | None


@dataclass(frozen=True, slots=True)
class StateFilter:
    site: str | None = None
    district: str | None = None
    kind: str | None = None
    service_status: str | None = None
    presence: Presence | None = None
    faulty: bool | None = None


# Constant ORDER BY clauses, each ending in the code so that pages never overlap.
_ORDER: dict[StateSort, str] = {
    "code": "e.code",
    "-code": "e.code DESC",
    "last_seen_at": "d.last_seen_at ASC NULLS FIRST, e.code",
    "-last_seen_at": "d.last_seen_at DESC NULLS LAST, e.code",
    "last_used": "lu.hour ASC NULLS FIRST, e.code",
    "-last_used": "lu.hour DESC NULLS LAST, e.code",
}
_FROM = """
FROM equipment e
LEFT JOIN device_state d ON d.code = e.code
LEFT JOIN LATERAL (
    SELECT array_agg(f.fault ORDER BY f.fault) AS faults
    FROM device_fault_state f WHERE f.code = e.code AND f.state = 'raised'
) rf ON true
LEFT JOIN tickets t ON t.code = e.code AND t.status <> 'closed'
LEFT JOIN LATERAL (
    SELECT h.hour FROM usage_hourly h WHERE h.code = e.code ORDER BY h.hour DESC LIMIT 1
) lu ON true
WHERE (%(districts)s::text[] IS NULL OR left(e.site_code, 6) = ANY(%(districts)s))
  AND (%(site)s::text IS NULL OR e.site_code = %(site)s)
  AND (%(district)s::text IS NULL OR left(e.site_code, 6) = %(district)s)
  AND (%(kind)s::text IS NULL OR e.kind = %(kind)s)
  AND (%(status)s::text IS NULL OR e.service_status = %(status)s)
  AND (%(presence)s::text IS NULL
       OR (%(presence)s = 'online' AND d.online)
       OR (%(presence)s = 'offline' AND NOT d.online)
       OR (%(presence)s = 'never' AND d.code IS NULL))
  AND (%(faulty)s::boolean IS NULL OR (rf.faults IS NOT NULL) = %(faulty)s)
"""
_COLUMNS = """e.code, e.site_code, e.kind, e.service_status, d.online, d.last_seen_at,
d.online_changed_at, d.offline_reason, coalesce(rf.faults, '{}') AS raised_faults,
t.id AS ticket_id, t.status AS ticket_status, lu.hour AS last_used_hour"""


def _params(where: StateFilter, districts: Iterable[str] | None) -> dict[str, Any]:
    return {
        "districts": None if districts is None else sorted(districts),
        "site": where.site,
        "district": where.district,
        "kind": where.kind,
        "status": where.service_status,
        "presence": where.presence,
        "faulty": where.faulty,
    }


def list_equipment_states(
    conn: psycopg.Connection[Any],
    where: StateFilter,
    *,
    districts: Iterable[str] | None,
    sort: StateSort = "code",
    limit: int = 100,
    offset: int = 0,
) -> list[EquipmentState]:
    sql = f"SELECT {_COLUMNS} {_FROM} ORDER BY {_ORDER[sort]} LIMIT %(limit)s OFFSET %(offset)s"
    params = {**_params(where, districts), "limit": limit, "offset": offset}
    with conn.cursor(row_factory=class_row(EquipmentState)) as cur:
        return cur.execute(sql, params).fetchall()


def count_equipment_states(
    conn: psycopg.Connection[Any], where: StateFilter, *, districts: Iterable[str] | None
) -> int:
    with conn.cursor(row_factory=scalar_row) as cur:
        found = cur.execute(f"SELECT count(*) {_FROM}", _params(where, districts)).fetchone()
    return int(found or 0)
