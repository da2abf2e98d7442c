"""The registry as ingest sees it: which equipment codes and sites are registered.

Known codes are loaded at start; a code not yet known is looked up in the database, so items
imported while ingest runs are accepted at once. A code found unknown is not asked about again for
`recheck_s` seconds, so a flood of bad codes costs one lookup per code per interval.
"""

from __future__ import annotations

import time
from collections.abc import Set as AbstractSet
from typing import Any

import psycopg

from db.queries.equipment import get_equipment_site, known_equipment_codes, site_exists
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

    def over(self, conn: psycopg.Connection[Any]) -> KnownCodes:
        """What this knows, shared, asking the database over `conn` (another thread's)."""
        view = KnownCodes(conn, self._recheck_s)
        view._codes, view._sites, view._unknown = self._codes, self._sites, self._unknown
        return view

    def reload(self) -> None:
        codes = known_equipment_codes(self._conn)
        self._codes.clear()
        self._codes.update(codes)
        self._sites.clear()
        self._sites.update(site_of(code) for code in codes)
        self._unknown.clear()

    @property
    def known_equipment(self) -> AbstractSet[str]:
        return self._codes

    def has_equipment(self, code: str) -> bool:
        if code in self._codes:
            return True
        if self._recently_unknown(code):
            return False
        site = get_equipment_site(self._conn, code)
        if site is None:
            self._remember_unknown(code)
            return False
        self._codes.add(code)
        self._sites.add(site)
        return True

    def has_site(self, site: str) -> bool:
        if site in self._sites:
            return True
        if self._recently_unknown(site):
            return False
        if not site_exists(self._conn, site):
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
