"""Fixtures of the tests that run the maintenance service as its own process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.maintenance.process import MaintenanceProcess
from tests.support import migrated_database


@pytest.fixture(scope="session")
def service_database_url(pg_admin_url: str) -> Iterator[str]:
    """A database of their own, built by the real migrations, for the tests that run the service:
    it ticks with the real clock, which must not act on what the other tests leave behind (their
    tickets, at fixed past times, are overdue by now). Modules use it as their `database_url`."""
    with migrated_database(pg_admin_url, "fitmon_test_service") as url:
        yield url


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
