"""FITMON_RAW_RETENTION_DAYS on plain PostgreSQL: `fitmon migrate` reads it and refuses it under
the floor; raw rows are kept until deleted (retention needs TimescaleDB: db/retention.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import psycopg
import pytest

from db.migrate import migrate, timescale_available
from db.retention import apply_raw_retention
from db.settings import MIN_RAW_RETENTION_DAYS
from tests.support import load_registry, make_registry


def fitmon_migrate(url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`fitmon migrate` as its own process: it configures logging for the whole process, which
    in this one would hide later tests' log lines from structlog's capture."""
    return subprocess.run(
        [sys.executable, "-m", "cli", "migrate", "--database-url", url, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_migrate_refuses_a_retention_under_the_floor(fresh_database: Callable[[], str]) -> None:
    url = fresh_database()
    refused = fitmon_migrate(url, FITMON_RAW_RETENTION_DAYS="30")
    assert refused.returncode == 2, refused.stderr
    assert "raw telemetry must be kept 60 to 36500 days, got 30" in refused.stderr
    with psycopg.connect(url) as conn:  # refused before touching the database
        assert conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,)
    with pytest.raises(ValueError, match="days, got 59: a session may be reported"):
        migrate(url, raw_retention_days=MIN_RAW_RETENTION_DAYS - 1)
    not_a_number = fitmon_migrate(url, FITMON_RAW_RETENTION_DAYS="a year")
    assert not_a_number.returncode == 2
    assert "raw_retention_days" in not_a_number.stderr


def test_plain_postgresql_keeps_raw_rows_whatever_the_setting(
    fresh_database: Callable[[], str],
) -> None:
    url = fresh_database()
    with psycopg.connect(url) as conn:
        if timescale_available(conn):
            pytest.skip("this PostgreSQL offers TimescaleDB; the case needs a server without it")
    done = fitmon_migrate(url, "--raw-retention-days", "60")
    assert done.returncode == 0, done.stderr
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
