"""The migration runner on plain PostgreSQL: applies in order, once, refuses edited history."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from db.migrate import MigrationError, load_migrations, migrate, timescale_available


def plain_migrations() -> list[tuple[int, str, str]]:
    return [(m.version, m.name, m.checksum) for m in load_migrations() if not m.timescale_only]


def recorded_migrations(url: str) -> list[tuple[int, str, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
        ).fetchall()


def test_migrations_apply_to_an_empty_database(fresh_database: Callable[[], str]) -> None:
    url = fresh_database()
    applied = migrate(url)
    assert [(m.version, m.name, m.checksum) for m in applied] == plain_migrations()
    assert recorded_migrations(url) == plain_migrations()
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT array_agg(table_name::text ORDER BY table_name) FROM information_schema.tables "
            "WHERE table_schema = 'public'"
        ).fetchone()
    assert tables is not None
    assert {"sites", "equipment", "usage_sessions", "device_state"} <= set(tables[0])


def test_second_run_applies_nothing(fresh_database: Callable[[], str]) -> None:
    url = fresh_database()
    migrate(url)
    assert migrate(url) == []
    assert recorded_migrations(url) == plain_migrations()


def test_changed_applied_migration_is_refused(fresh_database: Callable[[], str]) -> None:
    url = fresh_database()
    migrate(url)
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE schema_migrations SET checksum = %s WHERE version = 1", ("0" * 64,))
    with pytest.raises(MigrationError, match=r"0001_registry changed after it was applied"):
        migrate(url)


def test_timescale_only_migration_is_skipped_on_plain_postgresql(
    fresh_database: Callable[[], str],
) -> None:
    url = fresh_database()
    with psycopg.connect(url) as conn:
        if timescale_available(conn):
            pytest.skip("this PostgreSQL offers TimescaleDB; the skip needs a server without it")
    applied = migrate(url)
    timescale_versions = {m.version for m in load_migrations() if m.timescale_only}
    assert timescale_versions
    assert not timescale_versions & {m.version for m in applied}
    with psycopg.connect(url) as conn:
        usage_key = conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conname = 'usage_sessions_pkey'"
        ).fetchone()
        extension = conn.execute(
            "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"
        ).fetchone()
    assert usage_key == ("PRIMARY KEY (code, boot, seq)",)
    assert extension is None
