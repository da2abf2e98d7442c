"""The registry as ingest sees it: known equipment codes, reloaded when an unknown one arrives."""

from __future__ import annotations

import time
from typing import Any

import psycopg

from db.registry import known_equipment_codes


class KnownCodes:
    """Answers 'is this code registered?'; an unknown code triggers a reload at most every
    `refresh_s` seconds, so items imported while ingest runs are accepted within that time."""

    def __init__(self, conn: psycopg.Connection[Any], refresh_s: float) -> None:
        self._conn = conn
        self._refresh_s = refresh_s
        self._codes: frozenset[str] = frozenset()
        self._sites: frozenset[str] = frozenset()
        self._loaded_at = float("-inf")

    def use_connection(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def reload(self) -> None:
        self._codes = known_equipment_codes(self._conn)
        self._sites = frozenset(code[:11] for code in self._codes)
        self._loaded_at = time.monotonic()

    def _maybe_reload(self) -> bool:
        if time.monotonic() - self._loaded_at >= self._refresh_s:
            self.reload()
            return True
        return False

    def has_equipment(self, code: str) -> bool:
        return code in self._codes or (self._maybe_reload() and code in self._codes)

    def has_site(self, site: str) -> bool:
        return site in self._sites or (self._maybe_reload() and site in self._sites)
