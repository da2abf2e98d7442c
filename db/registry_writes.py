"""Writing the registry: sites and equipment, in one transaction owned by the caller."""

from __future__ import annotations

from typing import Any

import psycopg

from devices.registry_rows import Registry

_UPSERT_SITE = """
INSERT INTO sites (code, name, address, latitude, longitude)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (code) DO UPDATE SET name = excluded.name, address = excluded.address,
    latitude = excluded.latitude, longitude = excluded.longitude, updated_at = now()
"""

_UPSERT_EQUIPMENT = """
INSERT INTO equipment (code, site_code, kind, model, installed_on, service_life_years, location)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (code) DO UPDATE SET site_code = excluded.site_code, kind = excluded.kind,
    model = excluded.model, installed_on = excluded.installed_on,
    service_life_years = excluded.service_life_years, location = excluded.location,
    updated_at = now()
"""


def upsert_registry(conn: psycopg.Connection[Any], registry: Registry) -> tuple[int, int]:
    """Insert or update every site and item; returns (sites, items). The caller commits."""
    with conn.cursor() as cur:
        cur.executemany(
            _UPSERT_SITE,
            [(s.code, s.name, s.address, s.latitude, s.longitude) for s in registry.sites],
        )
        cur.executemany(
            _UPSERT_EQUIPMENT,
            [
                (
                    e.code,
                    e.site_code,
                    e.kind,
                    e.model,
                    e.installed_on,
                    e.service_life_years,
                    e.location,
                )
                for e in registry.equipment
            ],
        )
    return len(registry.sites), len(registry.equipment)


def import_registry(conninfo: str, registry: Registry) -> tuple[int, int]:
    with psycopg.connect(conninfo) as conn, conn.transaction():
        return upsert_registry(conn, registry)
