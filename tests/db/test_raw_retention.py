"""FITMON_RAW_RETENTION_DAYS on plain PostgreSQL: `fitmon migrate` reads it and refuses it under
the floor; raw rows are kept until deleted (retention needs TimescaleDB: db/retention.py)."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from click.testing import CliRunner

from cli.main import fitmon
from db.migrate import migrate, timescale_available
from db.retention import apply_raw_retention
from db.settings import MIN_RAW_RETENTION_DAYS
from tests.support import load_registry, make_registry


def test_migrate_refuses_a_retention_under_the_floor(fresh_database: Callable[[], str]) -> None:
    url = fresh_database()
    refused = CliRunner().invoke(
        fitmon, ["migrate", "--database-url", url], env={"FITMON_RAW_RETENTION_DAYS": "30"}
    )
    assert refused.exit_code == 2, refused.output
    assert "raw telemetry must be kept 60 to 36500 days, got 30" in refused.output
    with psycopg.connect(url) as conn:  # refused before touching the database
        assert conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,)
    with pytest.raises(ValueError, match="days, got 59: a session may be reported"):
        migrate(url, raw_retention_days=MIN_RAW_RETENTION_DAYS - 1)
    not_a_number = CliRunner().invoke(
        fitmon, ["migrate", "--database-url", url], env={"FITMON_RAW_RETENTION_DAYS": "a year"}
    )
    assert not_a_number.exit_code == 2
    assert "raw_retention_days" in not_a_number.output


def test_plain_postgresql_keeps_raw_rows_whatever_the_setting(
    fresh_database: Callable[[], str],
) -> None:
    url = fresh_database()
    with psycopg.connect(url) as conn:
        if timescale_available(conn):
            pytest.skip("this PostgreSQL offers TimescaleDB; the case needs a server without it")
    done = CliRunner().invoke(
        fitmon, ["migrate", "--database-url", url, "--raw-retention-days", "60"]
    )
    assert done.exit_code == 0, done.output
    [item] = load_registry(url, make_registry(items=1)).equipment
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO usage_sessions (code, boot, seq, ts, started_at, duration_s, reps, "
            "received_at) VALUES (%s, 1, 1, now() - interval '3 years', "
            "now() - interval '3 years', 60, 10, now())",
            (item.code,),
        )
        conn.commit()
        applied = apply_raw_retention(conn, 60)
        kept = conn.execute(
            "SELECT count(*) FROM usage_sessions WHERE code = %s", (item.code,)
        ).fetchone()
    assert (applied.timescale, applied.replaced) == (False, ())
    assert kept == (1,)
