"""Who may speak to the broker: every item and site that is not retired (broker credentials)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import class_row, scalar_row


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    code: str
    site_code: str


_ACTIVE_DEVICES = """
SELECT e.code, e.site_code FROM equipment e JOIN sites s ON s.code = e.site_code
WHERE e.service_status <> 'retired' AND s.retired_at IS NULL
ORDER BY e.code
"""
_ACTIVE_SITES = "SELECT code FROM sites WHERE retired_at IS NULL ORDER BY code"


def active_devices(conn: psycopg.Connection[Any]) -> list[DeviceIdentity]:
    """Items in service or out of it (they still report their state), not retired ones."""
    with conn.cursor(row_factory=class_row(DeviceIdentity)) as cur:
        return cur.execute(_ACTIVE_DEVICES).fetchall()


def active_sites(conn: psycopg.Connection[Any]) -> list[str]:
    with conn.cursor(row_factory=scalar_row) as cur:
        return [str(code) for code in cur.execute(_ACTIVE_SITES)]
