"""The registry as ingest sees it: which equipment codes and sites are registered.

Known codes are loaded at start; a code not yet known is looked up in the database, so items
imported while ingest runs are accepted at once. A code found unknown is not asked about again for
`recheck_s` seconds, so a flood of bad codes costs one lookup per code per interval.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from db.registry_writes import known_equipment_codes
from devices.codes import site_of

_MAX_REMEMBERED_UNKNOWN = 100_000


class KnownCodes:
    def __init__(self, conn: psycopg.Connection[Any], recheck_s: float) -> None:
        self._conn = conn
        self._recheck_s = recheck_s
        self._codes: set[str] = set()
        self._sites: set[str] = set()
        self._unknown: dict[str, float] = {}  # code or site -> when it may be asked again

    def use_connection(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def reload(self) -> None:
        self._codes = set(known_equipment_codes(self._conn))
        self._sites = {site_of(code) for code in self._codes}
        self._unknown.clear()

    def has_equipment(self, code: str) -> bool:
        if code in self._codes:
            return True
        if self._recently_unknown(code):
            return False
        row = self._conn.execute("SELECT site_code FROM equipment WHERE code = %s", (code,))
        found = row.fetchone()
        if found is None:
            self._remember_unknown(code)
            return False
        self._codes.add(code)
        self._sites.add(str(found[0]))
        return True

    def has_site(self, site: str) -> bool:
        if site in self._sites:
            return True
        if self._recently_unknown(site):
            return False
        if self._conn.execute("SELECT 1 FROM sites WHERE code = %s", (site,)).fetchone() is None:
            self._remember_unknown(site)
            return False
        self._sites.add(site)
        return True

    def _recently_unknown(self, key: str) -> bool:
        until = self._unknown.get(key)
        return until is not None and time.monotonic() < until

    def _remember_unknown(self, key: str) -> None:
        if len(self._unknown) >= _MAX_REMEMBERED_UNKNOWN:
            self._unknown.clear()
        self._unknown[key] = time.monotonic() + self._recheck_s
