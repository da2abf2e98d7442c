"""The real migrations on real TimescaleDB (PGlite with TimescaleDB 2.23): hypertables, policies."""

from __future__ import annotations

from datetime import timedelta

from db.migrate import Migration, load_migrations, migrate
from tests.timescale.pglite import connect


def test_every_migration_applies_including_the_timescale_one(
    timescale_migrated: list[Migration], timescale_url: str
) -> None:
    every = load_migrations()
    assert any(m.timescale_only for m in every)
    assert [m.version for m in timescale_migrated] == [m.version for m in every]
    with connect(timescale_url) as conn:
        recorded = conn.execute(
            "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
        ).fetchall()
        extension = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
        ).fetchone()
    assert recorded == [(m.version, m.name, m.checksum) for m in every]
    assert extension is not None
    assert extension[0].startswith("2.")


def test_telemetry_tables_are_hypertables_partitioned_by_time(
    timescale_migrated: list[Migration], timescale_url: str
) -> None:
    with connect(timescale_url) as conn:
        dimensions = conn.execute(
            "SELECT h.hypertable_name, h.compression_enabled, d.column_name, d.time_interval "
            "FROM timescaledb_information.hypertables AS h "
            "JOIN timescaledb_information.dimensions AS d "
            "  USING (hypertable_schema, hypertable_name) "
            "WHERE h.hypertable_schema = 'public' ORDER BY h.hypertable_name"
        ).fetchall()
    assert dimensions == [
        ("fault_events", False, "ts", timedelta(days=30)),
        ("status_reports", True, "ts", timedelta(days=1)),
        ("usage_sessions", True, "started_at", timedelta(days=7)),
    ]


def test_compression_segments_by_code_and_orders_by_time(
    timescale_migrated: list[Migration], timescale_url: str
) -> None:
    with connect(timescale_url) as conn:
        settings = conn.execute(
            "SELECT hypertable_name, attname, segmentby_column_index, orderby_column_index "
            "FROM timescaledb_information.compression_settings "
            "WHERE hypertable_schema = 'public' ORDER BY hypertable_name, attname"
        ).fetchall()
    assert settings == [
        ("status_reports", "code", 1, None),
        ("status_reports", "ts", None, 1),
        ("usage_sessions", "code", 1, None),
        ("usage_sessions", "started_at", None, 1),
    ]


def test_compression_and_retention_policies_are_scheduled(
    timescale_migrated: list[Migration], timescale_url: str
) -> None:
    with connect(timescale_url) as conn:
        jobs = conn.execute(
            "SELECT hypertable_name, proc_name, config ->> 'compress_after', "
            "       config ->> 'drop_after', scheduled "
            "FROM timescaledb_information.jobs WHERE hypertable_schema = 'public' "
            "ORDER BY hypertable_name, proc_name"
        ).fetchall()
    assert jobs == [
        ("status_reports", "policy_compression", "7 days", None, True),
        ("status_reports", "policy_retention", None, "400 days", True),
        ("usage_daily", "policy_compression", "60 days", None, True),
        ("usage_daily", "policy_refresh_continuous_aggregate", None, None, True),
        ("usage_sessions", "policy_compression", "30 days", None, True),
        ("usage_sessions", "policy_retention", None, "400 days", True),
    ]


def test_second_migrate_applies_nothing(
    timescale_migrated: list[Migration], timescale_url: str
) -> None:
    assert migrate(timescale_url) == []
    with connect(timescale_url) as conn:
        count = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
    assert count == (len(load_migrations()),)
