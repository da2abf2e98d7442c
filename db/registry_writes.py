"""Writing the registry: sites and equipment, checked against the division list and what is
stored, every change in the audit trail, in one transaction owned by the caller.

Entry points that take a city's data (the import command, the API, the demo) use
`write_registry` or `import_registry`, which refuse a site whose division is not in the list
(GB/T 2260, loaded by migration 0008), a retired site or item, and (for a manager) a district not
theirs. `upsert_registry` writes without those checks or audit rows, for the set-ups of tests and
benchmarks, whose made-up districts are not in the list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import psycopg
from psycopg.rows import dict_row

from devices.registry_rows import (
    EquipmentRow,
    Registry,
    RegistryImportError,
    RowError,
    SiteRow,
)


class AuditActor(Protocol):
    """Who made a change, as the audit trail records it (maintenance.audit.Actor is one)."""

    @property
    def kind(self) -> str: ...

    @property
    def name(self) -> str: ...


@dataclass(frozen=True, slots=True)
class SystemActor:
    kind: str
    name: str


IMPORT_COMMAND = SystemActor("system", "registry import")

# File column -> field, for the columns a file may leave out (then the stored value stays).
SITE_COLUMNS = {
    "site_address": "address",
    "site_latitude": "latitude",
    "site_longitude": "longitude",
    "site_opens_at": "opens_at",
    "site_closes_at": "closes_at",
    "site_inspection_interval_days": "inspection_interval_days",
    "site_responsible_unit": "responsible_unit",
    "site_hotline": "hotline",
}
EQUIPMENT_COLUMNS = {
    "model": "model",
    "service_life_years": "service_life_years",
    "location": "location",
    "maker": "maker",
}


@dataclass(frozen=True, slots=True)
class ImportResult:
    sites_created: int
    sites_updated: int
    items_created: int
    items_updated: int
    unchanged: int  # sites and items given as they were stored


_DIVISIONS = """
SELECT d.code, d.name, d.level, d.in_force,
       EXISTS (SELECT 1 FROM divisions c WHERE c.parent = d.code) AS has_counties
FROM divisions d WHERE d.code = ANY(%s)
"""


def division_problems(conn: psycopg.Connection[Any], divisions: Iterable[str]) -> dict[str, str]:
    """Why each of `divisions` may not hold a site, by division; an allowed one is absent.
    A site is in a county-level division of GB/T 2260, or in a prefecture-level city that has
    none (东莞市 441900); a division withdrawn from the list still holds the sites coded in it."""
    wanted = sorted(set(divisions))
    with conn.cursor(row_factory=dict_row) as cur:
        found = {r["code"]: r for r in cur.execute(_DIVISIONS, (wanted,))}
    problems = {}
    for division in wanted:
        row = found.get(division)
        if row is None:
            problems[division] = f"division {division} is not in the division list (GB/T 2260)"
        elif row["has_counties"]:
            problems[division] = (
                f"division {division} is {row['name']}, a {row['level']}: a site code starts "
                "with the county-level division the site is in"
            )
    return problems


def audit(
    conn: psycopg.Connection[Any],
    at: datetime,
    actor: AuditActor,
    rows: Iterable[tuple[str, str, str, str | None, str | None, str | None]],
) -> None:
    """Audit rows of (entity, entity id, action, from state, to state, detail)."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO audit_trail (at, actor_kind, actor, entity, entity_id, action, "
            "from_state, to_state, detail) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(at, actor.kind, actor.name, *row) for row in rows],
        )


def changes(before: object, after: object) -> str:
    """What differs between two rows of the same type, as the audit trail's detail says it."""
    parts = [
        f"{f.name}: {getattr(before, f.name)!r} -> {getattr(after, f.name)!r}"
        for f in fields(before)  # type: ignore[arg-type]
        if getattr(before, f.name) != getattr(after, f.name)
    ]
    return "; ".join(parts)


_SITE_FIELDS = ", ".join(f.name for f in fields(SiteRow))
_EQUIPMENT_FIELDS = ", ".join(f.name for f in fields(EquipmentRow))
_STORED_SITES = f"SELECT {_SITE_FIELDS}, retired_at FROM sites WHERE code = ANY(%s)"
_STORED_EQUIPMENT = (
    f"SELECT {_EQUIPMENT_FIELDS}, service_status FROM equipment WHERE code = ANY(%s)"
)
_UPSERT_SITE = f"""
INSERT INTO sites ({_SITE_FIELDS}) VALUES ({", ".join(["%s"] * len(fields(SiteRow)))})
ON CONFLICT (code) DO UPDATE SET
    {", ".join(f"{f.name} = excluded.{f.name}" for f in fields(SiteRow)[1:])}, updated_at = now()
"""
_UPSERT_EQUIPMENT = f"""
INSERT INTO equipment ({_EQUIPMENT_FIELDS})
VALUES ({", ".join(["%s"] * len(fields(EquipmentRow)))})
ON CONFLICT (code) DO UPDATE SET
    {", ".join(f"{f.name} = excluded.{f.name}" for f in fields(EquipmentRow)[2:])},
    updated_at = now()
"""


def _stored(
    conn: psycopg.Connection[Any], registry: Registry
) -> tuple[dict[str, tuple[SiteRow, bool]], dict[str, tuple[EquipmentRow, bool]]]:
    """The stored sites and items the registry names, each with whether it is retired."""
    site_names = [f.name for f in fields(SiteRow)]
    item_names = [f.name for f in fields(EquipmentRow)]
    with conn.cursor(row_factory=dict_row) as cur:
        sites = {
            r["code"]: (SiteRow(**{n: r[n] for n in site_names}), r["retired_at"] is not None)
            for r in cur.execute(_STORED_SITES, ([s.code for s in registry.sites],))
        }
        items = {
            r["code"]: (
                EquipmentRow(**{n: r[n] for n in item_names}),
                r["service_status"] == "retired",
            )
            for r in cur.execute(_STORED_EQUIPMENT, ([e.code for e in registry.equipment],))
        }
    return sites, items


def _kept(given: Any, stored: Any, columns: frozenset[str] | None, names: Mapping[str, str]) -> Any:
    """`given`, with the stored value of each field whose column the file left out."""
    if stored is None or columns is None:
        return given
    kept = {
        field: getattr(stored, field) for column, field in names.items() if column not in columns
    }
    return replace(given, **kept)


def check_registry(
    conn: psycopg.Connection[Any],
    registry: Registry,
    *,
    districts: frozenset[str] | None = None,
) -> None:
    """Raises RegistryImportError, by line, for what the store refuses: a division not in the
    list, a district not among `districts` (None: all), a retired site or item."""
    errors = []
    problems = division_problems(conn, (s.code[:6] for s in registry.sites))
    sites, items = _stored(conn, registry)
    for site in registry.sites:
        line = registry.lines.get(site.code, 0)
        if site.code[:6] in problems:
            errors.append(RowError(line, "site_code", problems[site.code[:6]]))
        elif districts is not None and site.code[:6] not in districts:
            errors.append(
                RowError(line, "site_code", f"district {site.code[:6]} is not one of yours")
            )
        elif site.code in sites and sites[site.code][1]:
            errors.append(RowError(line, "site_code", f"site {site.code} is retired"))
    for item in registry.equipment:
        if item.code in items and items[item.code][1]:
            line = registry.lines.get(item.code, 0)
            errors.append(RowError(line, "equipment_code", f"item {item.code} is retired"))
    if errors:
        raise RegistryImportError(sorted(errors, key=lambda e: e.line))


def write_registry(
    conn: psycopg.Connection[Any],
    registry: Registry,
    actor: AuditActor | None,
    *,
    districts: frozenset[str] | None = None,
) -> ImportResult:
    """Create or update every site and item that differs from what is stored, each change in the
    audit trail; raises RegistryImportError (nothing written) for what check_registry refuses.
    A column the file left out keeps its stored value. The caller commits.

    `actor` None: a set-up (tests, benchmarks) that writes without checks or audit rows."""
    if actor is not None:
        check_registry(conn, registry, districts=districts)
    now = datetime.now(UTC)
    stored_sites, stored_items = _stored(conn, registry)
    site_rows: list[tuple[object, ...]] = []
    item_rows: list[tuple[object, ...]] = []
    trail: list[tuple[str, str, str, str | None, str | None, str | None]] = []
    counts = {"site created": 0, "site updated": 0, "item created": 0, "item updated": 0}
    unchanged = 0
    for given in registry.sites:
        before = stored_sites.get(given.code, (None, False))[0]
        site = _kept(given, before, registry.columns, SITE_COLUMNS)
        if before == site:
            unchanged += 1
            continue
        site_rows.append(tuple(getattr(site, f.name) for f in fields(SiteRow)))
        action = "created" if before is None else "updated"
        counts[f"site {action}"] += 1
        detail = None if before is None else changes(before, site)
        trail.append(("site", site.code, action, None, None, detail))
    for given_item in registry.equipment:
        before_item = stored_items.get(given_item.code, (None, False))[0]
        item = _kept(given_item, before_item, registry.columns, EQUIPMENT_COLUMNS)
        if before_item == item:
            unchanged += 1
            continue
        item_rows.append(tuple(getattr(item, f.name) for f in fields(EquipmentRow)))
        action = "created" if before_item is None else "updated"
        counts[f"item {action}"] += 1
        detail = None if before_item is None else changes(before_item, item)
        trail.append(("equipment", item.code, action, None, None, detail))
    with conn.cursor() as cur:
        cur.executemany(_UPSERT_SITE, site_rows)
        cur.executemany(_UPSERT_EQUIPMENT, item_rows)
    if actor is not None:
        audit(conn, now, actor, trail)
    return ImportResult(
        counts["site created"],
        counts["site updated"],
        counts["item created"],
        counts["item updated"],
        unchanged,
    )


def upsert_registry(conn: psycopg.Connection[Any], registry: Registry) -> tuple[int, int]:
    """Insert or update every site and item without the checks and without audit rows: for the
    set-ups of tests and benchmarks, whose districts are made up; returns (sites, items) given.
    The caller commits."""
    write_registry(conn, registry, None)
    return len(registry.sites), len(registry.equipment)


def import_registry(
    conninfo: str, registry: Registry, actor: AuditActor = IMPORT_COMMAND
) -> tuple[int, int]:
    """Check and write in one transaction; returns (sites, items) given. Raises
    RegistryImportError, having written nothing, for what the store refuses."""
    with psycopg.connect(conninfo) as conn, conn.transaction():
        write_registry(conn, registry, actor)
    return len(registry.sites), len(registry.equipment)
