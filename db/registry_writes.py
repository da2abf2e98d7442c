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
from dataclasses import dataclass, field, fields, replace
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
_STORED_SITES = f"SELECT {_SITE_FIELDS}, retired_at IS NOT NULL FROM sites WHERE code = ANY(%s)"
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


def stored_sites(
    conn: psycopg.Connection[Any], codes: Iterable[str], *, for_update: bool = False
) -> dict[str, tuple[SiteRow, bool]]:
    """The stored sites among `codes`, each with whether it is retired."""
    query = _STORED_SITES + (" FOR UPDATE" if for_update else "")
    with conn.cursor() as cur:
        rows = cur.execute(query, (list(codes),)).fetchall()
    return {row[0]: (SiteRow(*row[:-1]), row[-1]) for row in rows}


def stored_items(
    conn: psycopg.Connection[Any], codes: Iterable[str], *, for_update: bool = False
) -> dict[str, tuple[EquipmentRow, str]]:
    """The stored items among `codes`, each with its service status."""
    query = _STORED_EQUIPMENT + (" FOR UPDATE" if for_update else "")
    with conn.cursor() as cur:
        rows = cur.execute(query, (list(codes),)).fetchall()
    return {row[0]: (EquipmentRow(*row[:-1]), row[-1]) for row in rows}


def _kept(given: Any, stored: Any, columns: frozenset[str] | None, names: Mapping[str, str]) -> Any:
    """`given`, with the stored value of each field whose column the file left out."""
    if stored is None or columns is None:
        return given
    kept = {name: getattr(stored, name) for column, name in names.items() if column not in columns}
    return replace(given, **kept)


@dataclass(slots=True)
class _Changes:
    """What a write changes of one entity's rows: the rows to upsert and their audit trail."""

    rows: list[tuple[object, ...]] = field(default_factory=list)
    trail: list[tuple[str, str, str, str | None, str | None, str | None]] = field(
        default_factory=list
    )
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def _changes_of(
    entity: str,
    given_rows: Iterable[Any],
    stored: Mapping[str, tuple[Any, object]],
    columns: frozenset[str] | None,
    names: Mapping[str, str],
) -> _Changes:
    """The given rows that differ from the stored ones (a left-out column keeping its value)."""
    found = _Changes()
    for given in given_rows:
        before = stored[given.code][0] if given.code in stored else None
        row = _kept(given, before, columns, names)
        if before == row:
            found.unchanged += 1
            continue
        found.rows.append(tuple(getattr(row, f.name) for f in fields(row)))
        if before is None:
            found.created += 1
            found.trail.append((entity, row.code, "created", None, None, None))
        else:
            found.updated += 1
            found.trail.append((entity, row.code, "updated", None, None, changes(before, row)))
    return found


def check_registry(
    conn: psycopg.Connection[Any],
    registry: Registry,
    sites: Mapping[str, tuple[SiteRow, bool]],
    items: Mapping[str, tuple[EquipmentRow, str]],
    *,
    districts: frozenset[str] | None = None,
) -> None:
    """Raises RegistryImportError, by line, for what the store refuses: a division not in the
    list, a district not among `districts` (None: all), a retired site or item (of the stored
    `sites` and `items`)."""
    errors = []
    problems = division_problems(conn, (s.code[:6] for s in registry.sites))
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
        if item.code in items and items[item.code][1] == "retired":
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
    dry_run: bool = False,
) -> ImportResult:
    """Create or update every site and item that differs from what is stored, each change in the
    audit trail; raises RegistryImportError (nothing written) for what check_registry refuses.
    A column the file left out keeps its stored value. The caller commits.

    `actor` None: a set-up (tests, benchmarks) that writes without checks or audit rows.
    `dry_run`: check and count everything, then roll back what was written."""
    if dry_run:
        with conn.transaction() as tx:
            result = write_registry(conn, registry, actor, districts=districts)
            raise psycopg.Rollback(tx)
        return result
    before_sites = stored_sites(conn, (s.code for s in registry.sites))
    before_items = stored_items(conn, (e.code for e in registry.equipment))
    if actor is not None:
        check_registry(conn, registry, before_sites, before_items, districts=districts)
    now = datetime.now(UTC)
    sites = _changes_of("site", registry.sites, before_sites, registry.columns, SITE_COLUMNS)
    items = _changes_of(
        "equipment", registry.equipment, before_items, registry.columns, EQUIPMENT_COLUMNS
    )
    with conn.cursor() as cur:
        cur.executemany(_UPSERT_SITE, sites.rows)
        cur.executemany(_UPSERT_EQUIPMENT, items.rows)
    if actor is not None:
        audit(conn, now, actor, sites.trail + items.trail)
    return ImportResult(
        sites.created,
        sites.updated,
        items.created,
        items.updated,
        sites.unchanged + items.unchanged,
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
