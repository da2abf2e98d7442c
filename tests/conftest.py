"""The test harness: real PostgreSQL and a real MQTT broker, started here when not running."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cli.services import LocalBroker, port_open, wait_for_port
from db.embedded import EmbeddedPostgres
from tests.support import (
    IngestProcess,
    Publisher,
    create_database,
    drop_database,
    migrated_database,
)


def _start_machine_postgres() -> str | None:
    """Start the machine's PostgreSQL cluster when it is installed but stopped."""
    if not shutil.which("pg_ctlcluster") or not Path("/etc/postgresql").is_dir():
        return None
    for version in sorted(os.listdir("/etc/postgresql")):
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
            check=False,
            capture_output=True,
        )
    try:
        wait_for_port("127.0.0.1", 5432, 30)
    except TimeoutError:
        return None
    return "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server where the tests may create databases."""
    configured = os.environ.get("FITMON_TEST_PG_URL")
    if configured:
        yield configured
        return
    if port_open("127.0.0.1", 5432):
        yield "postgresql://postgres@127.0.0.1:5432/postgres"
        return
    started = _start_machine_postgres()
    if started:
        yield started
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg"))
    server.start()
    yield server.url
    server.destroy()


@pytest.fixture(scope="session")
def database_url(pg_admin_url: str) -> Iterator[str]:
    """One database per test session, built by the real migrations."""
    with migrated_database(pg_admin_url) as url:
        yield url


@pytest.fixture
def fresh_database(pg_admin_url: str) -> Iterator[Callable[[], str]]:
    """Factory for empty databases (no migrations applied), dropped after the test."""
    names: list[str] = []

    def make() -> str:
        name = f"fitmon_test_{uuid.uuid4().hex[:10]}"
        names.append(name)
        return create_database(pg_admin_url, name)

    yield make
    for name in names:
        drop_database(pg_admin_url, name)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """An MQTT broker of the test session's own, configured like deploy/mosquitto.conf."""
    local = LocalBroker(tmp_path_factory.mktemp("broker"))
    local.start()
    yield local
    local.stop()


@pytest.fixture
def topic_root() -> str:
    """A topic root no other test uses, so tests never see each other's traffic."""
    return f"t{uuid.uuid4().hex[:12]}/fitness/v1"


@pytest.fixture
def ingest_env(database_url: str, broker: LocalBroker, topic_root: str) -> dict[str, str]:
    return {
        "FITMON_DATABASE_URL": database_url,
        "FITMON_MQTT_URL": broker.url,
        "FITMON_TOPIC_ROOT": topic_root,
        "FITMON_MQTT_CLIENT_ID": f"ingest-{uuid.uuid4().hex[:10]}",
        "FITMON_MQTT_PROTOCOL": "5" if broker.supports_mqtt5 else "3.1.1",
        "FITMON_OFFLINE_CHECK_S": "1",
        "FITMON_ENV": "test",
    }


@pytest.fixture
def ingest_factory(
    ingest_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., IngestProcess]]:
    """Start `python -m ingest` processes; all are stopped when the test ends."""
    started: list[IngestProcess] = []

    def start(**overrides: str) -> IngestProcess:
        process = IngestProcess({**ingest_env, **overrides}, tmp_path / f"ingest{len(started)}.log")
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def publisher(broker: LocalBroker) -> Iterator[Publisher]:
    """A publisher on the session's broker that waits for each QoS 1 acknowledgement."""
    pub = Publisher(broker.url)
    yield pub
    pub.close()
