"""Forward-only, checksummed SQL migrations, one runner for production, demo and tests.

Files are `migrations/NNNN_slug.sql`; a file named `NNNN_slug.timescale.sql` runs only where the
TimescaleDB extension is available, and is applied later if the extension appears.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg
import structlog
from psycopg import sql

from db.retention import apply_raw_retention
from db.settings import check_raw_retention_days

log = structlog.get_logger(__name__)

_NAME_RE = re.compile(r"(\d{4})_([a-z0-9_]+?)(\.timescale)?\.sql")
# A line that splits a migration into query messages sent one after the other, in its one
# transaction: some servers (PGlite, which runs the TimescaleDB tests) drop a connection on a
# message over 64 KiB, so a migration carrying data sends it in parts.
BATCH_BREAK = "\n-- migrate: next batch\n"
_LOCK_KEY = 0x666974_6D6F6E  # "fitmon": one migrating process at a time
# Continuous aggregates a migration creates WITH NO DATA, by its version: each is refreshed whole
# once the migration is applied (a refresh cannot run inside the migration's transaction). Left
# empty, the aggregate's first scheduled refresh would materialise only its window (30 days) and
# hide the days before it, which usage_sessions still holds.
_FILL_AFTER: dict[int, tuple[str, ...]] = {10: ("usage_daily",)}

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str
    timescale_only: bool

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations() -> list[Migration]:
    found: list[Migration] = []
    for entry in resources.files("db.migrations").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _NAME_RE.fullmatch(entry.name)
        if match is None:
            raise MigrationError(f"migration file name {entry.name!r} is not NNNN_slug.sql")
        found.append(
            Migration(int(match[1]), match[2], entry.read_text("utf-8"), match[3] is not None)
        )
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version number: {versions}")
    return found


def timescale_available(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    return row is not None


_HOW_TO_ENABLE = (
    "add timescaledb to shared_preload_libraries in postgresql.conf, restart PostgreSQL and run "
    "`fitmon migrate` again: the .timescale.sql migrations are applied then"
)


def _create_timescale_extension(conn: psycopg.Connection[Any]) -> bool:
    """Create the extension; False (with a warning) where it is installed but cannot be enabled.

    TimescaleDB that is not in shared_preload_libraries refuses CREATE EXTENSION with a FATAL
    error, which ends the session: the caller must then go on with a new connection.
    """
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except psycopg.Error as exc:
        log.warning(
            "TimescaleDB is installed but cannot be enabled; continuing on plain PostgreSQL",
            to_enable=_HOW_TO_ENABLE,
            error=str(exc).strip(),
        )
        return False
    return True


@contextmanager
def _locked_connection(conninfo: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection holding the migration lock; the lock ends with the session."""
    # No prepared statements: they outlive a migration on poolers and single-session servers.
    with psycopg.connect(conninfo, autocommit=True, prepare_threshold=None) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            yield conn
        finally:
            if not conn.closed:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


def _apply_pending(conn: psycopg.Connection[Any], *, has_timescale: bool) -> list[Migration]:
    applied_now: list[Migration] = []
    rows = conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
    applied = {int(version): str(checksum) for version, checksum in rows}
    for migration in load_migrations():
        if migration.version in applied:
            if applied[migration.version] != migration.checksum:
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name} changed after it "
                    "was applied; add a new migration instead of editing an applied one"
                )
            continue
        if migration.timescale_only and not has_timescale:
            continue
        with conn.transaction():
            for batch in migration.sql.split(BATCH_BREAK):
                conn.execute(batch.encode())
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
        log.info("migration applied", version=migration.version, name=migration.name)
        applied_now.append(migration)
    return applied_now


def _fill_continuous_aggregates(conn: psycopg.Connection[Any], applied: list[Migration]) -> None:
    for migration in applied:
        for view in _FILL_AFTER.get(migration.version, ()):
            fill = sql.SQL("CALL refresh_continuous_aggregate({}, NULL, NULL)")
            conn.execute(fill.format(sql.Literal(view)))
            log.info("continuous aggregate filled", view=view)


def migrate(conninfo: str, *, raw_retention_days: int | None = None) -> list[Migration]:
    """Apply pending migrations, then the raw telemetry retention if given (db/retention.py;
    `fitmon migrate` gives its setting, other callers leave a city's policies alone); returns the
    migrations applied. Refuses if an applied file changed, or a retention under the floor."""
    if raw_retention_days is not None:
        check_raw_retention_days(raw_retention_days)
    with _locked_connection(conninfo) as conn:
        conn.execute(_CREATE_TABLE)
        has_timescale = timescale_available(conn) and _create_timescale_extension(conn)
        if not conn.closed:
            applied = _apply_pending(conn, has_timescale=has_timescale)
            if has_timescale:
                _fill_continuous_aggregates(conn, applied)
            if raw_retention_days is not None:
                apply_raw_retention(conn, raw_retention_days)
            return applied
    # The failed CREATE EXTENSION ended the session and with it the lock: take both anew.
    # Another runner may have migrated meanwhile; _apply_pending reads the applied list afresh.
    with _locked_connection(conninfo) as conn:
        applied = _apply_pending(conn, has_timescale=False)
        if raw_retention_days is not None:
            apply_raw_retention(conn, raw_retention_days)
        return applied
