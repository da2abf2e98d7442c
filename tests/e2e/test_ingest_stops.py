"""Ingest stops its worker processes and exits within STOP_BOUND_S on SIGTERM or SIGINT, whatever
state its database, broker or output is in, and never acknowledges what it did not commit."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from cli.services import LocalBroker
from db.embedded import free_port
from tests.e2e.processes import family, stop_and_time
from tests.support import (
    IngestProcess,
    Publisher,
    item_topic,
    load_registry,
    make_registry,
    scalar,
    usage,
    wait_until,
)

ERRORS = "fitmon_ingest_database_errors_total"


def _start_ingest(
    env: dict[str, str], log: Path | None, reap: list[subprocess.Popen[bytes]]
) -> IngestProcess:
    """`fitmon ingest`, not waiting for it to be ready; log None: its output is a closed pipe."""
    ingest = IngestProcess(env, log or Path(os.devnull))
    if log is None:
        read, output = os.pipe()
        os.close(read)  # every write fails with EPIPE
    else:
        output = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    ingest.process = subprocess.Popen(
        [sys.executable, "-m", "cli", "ingest"],
        env={**os.environ, **env, "FITMON_METRICS_PORT": str(ingest.metrics_port)},
        stdout=output,
        stderr=output,
    )
    reap.append(ingest.process)
    os.close(output)
    return ingest


def _metric_at_least(ingest: IngestProcess, name: str, value: float) -> bool:
    try:
        return ingest.metric(name) >= value
    except OSError:
        return False


def _workers_running(ingest: IngestProcess, count: int) -> bool:
    assert ingest.process is not None
    return ingest.process.poll() is None and len(ingest.worker_pids()) >= count


def test_ingest_whose_database_is_unreachable_stops_on_sigterm(
    ingest_env: dict[str, str], reap: list[subprocess.Popen[bytes]]
) -> None:
    """Its workers retry the connection with backoff: told to stop, they wait no longer; and
    output with nowhere to go does not get in the way."""
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/fitmon"
    ingest = _start_ingest({**ingest_env, "FITMON_DATABASE_URL": unreachable}, None, reap)
    wait_until(lambda: _metric_at_least(ingest, ERRORS, 4), 30, "workers retrying the database")
    assert ingest.process is not None
    processes = family(ingest.process.pid)
    assert len(processes) >= 3  # ingest and its two workers
    took = stop_and_time(ingest.process, processes, signal.SIGTERM)
    print(f"ingest without its database stopped in {took:.1f} s")
    assert took < 5


class _DatabaseLink:
    """A TCP relay between ingest and PostgreSQL: cut, the database is gone for ingest alone."""

    def __init__(self, database_url: str) -> None:
        params = psycopg.conninfo.conninfo_to_dict(database_url)
        self._target = (str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432))
        self._listener = socket.create_server(("127.0.0.1", 0))
        port = self._listener.getsockname()[1]
        self.url = psycopg.conninfo.make_conninfo(database_url, host="127.0.0.1", port=port)
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._target)
            self._sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=_relay, args=(source, sink), daemon=True).start()

    def cut(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def _relay(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def database_link(database_url: str) -> Iterator[_DatabaseLink]:
    link = _DatabaseLink(database_url)
    yield link
    link.cut()


def _sessions(database_url: str, code: str) -> object:
    return scalar(database_url, "SELECT count(*) FROM usage_sessions WHERE code = %s", code)


def test_ingest_whose_database_went_away_stops_and_leaves_held_messages_unacknowledged(
    database_url: str,
    database_link: _DatabaseLink,
    ingest_env: dict[str, str],
    ingest_factory: Callable[..., IngestProcess],
    broker: LocalBroker,
    publisher: Publisher,
    topic_root: str,
    tmp_path: Path,
    reap: list[subprocess.Popen[bytes]],
) -> None:
    if not broker.supports_mqtt5:
        pytest.skip("redelivery to ingest's next session needs an MQTT 5 broker (Mosquitto)")
    code = load_registry(database_url, make_registry(items=1)).equipment[0].code
    topic = item_topic(topic_root, code, "usage")
    ingest = _start_ingest(
        {**ingest_env, "FITMON_DATABASE_URL": database_link.url}, tmp_path / "1", reap
    )
    wait_until(ingest.ready, 30, "ingest to connect")
    publisher.publish(topic, usage(code, 1))
    wait_until(lambda: _sessions(database_url, code) == 1, message="the first session stored")
    database_link.cut()
    for seq in range(2, 6):
        publisher.publish(topic, usage(code, seq))
    wait_until(lambda: _metric_at_least(ingest, ERRORS, 2), 30, "the writer retrying")
    assert ingest.process is not None
    took = stop_and_time(ingest.process, family(ingest.process.pid), signal.SIGTERM)
    print(f"ingest holding messages for a database gone away stopped in {took:.1f} s")
    assert took < 5
    # Nothing uncommitted was acknowledged: its next session gets the four again and stores them.
    ingest_factory()
    wait_until(lambda: _sessions(database_url, code) == 5, 30, "the held sessions redelivered")


def test_ingest_whose_broker_has_gone_stops_on_sigint(
    ingest_env: dict[str, str], tmp_path: Path, reap: list[subprocess.Popen[bytes]]
) -> None:
    own_broker = LocalBroker(tmp_path / "broker")
    own_broker.start()
    try:
        ingest = _start_ingest(
            {**ingest_env, "FITMON_MQTT_URL": own_broker.url}, tmp_path / "log", reap
        )
        wait_until(ingest.ready, 30, "ingest to connect")
        wait_until(lambda: _workers_running(ingest, 2), message="two workers")
    finally:
        own_broker.stop()
    wait_until(
        lambda: "fitmon_ingest_connected 0.0" in ingest.metrics(), message="ingest to notice"
    )
    assert ingest.process is not None
    took = stop_and_time(ingest.process, family(ingest.process.pid), signal.SIGINT)
    print(f"ingest without its broker stopped in {took:.1f} s")
