"""Fixtures of the tests that run the maintenance service as its own process."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from db.migrate import migrate
from tests.maintenance.process import MaintenanceProcess


@pytest.fixture(scope="session")
def service_database_url(pg_admin_url: str) -> Iterator[str]:
    """A database of their own, built by the real migrations, for the tests that run the service:
    it ticks with the real clock, which must not act on what the other tests leave behind (their
    tickets, at fixed past times, are overdue by now). Modules use it as their `database_url`."""
    name = f"fitmon_test_service_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(pg_admin_url, dbname=name)
    migrate(url)
    yield url
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def maintenance_factory(
    database_url: str, tmp_path: Path
) -> Iterator[Callable[..., MaintenanceProcess]]:
    """Make `python -m maintenance` processes on `database_url` (FITMON_* overrides as keywords,
    a fast ticker by default), not yet started; every one is killed when the test ends."""
    made: list[MaintenanceProcess] = []

    def make(**overrides: str) -> MaintenanceProcess:
        env = {"FITMON_DATABASE_URL": database_url, "FITMON_TICK_S": "0.2", **overrides}
        process = MaintenanceProcess(env, tmp_path / f"maintenance{len(made)}.log")
        made.append(process)
        return process

    yield make
    for process in made:
        process.kill()
