"""The maintenance service exits within seconds of SIGTERM or SIGINT, whether its database
answers, refuses connections, or has fallen silent (before the service connected, or while it
waits for an answer to a query)."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Callable, Iterator

import psycopg
import pytest

from db.embedded import free_port
from maintenance.main import STOP_GRACE_S
from tests.maintenance.process import MaintenanceProcess
from tests.support import wait_until

SIGNALS = [signal.SIGTERM, signal.SIGINT]


@pytest.fixture(scope="module")
def database_url(service_database_url: str) -> str:
    return service_database_url


class SilentServer:
    """A TCP server that accepts connections and never sends a byte: a database host that has
    gone quiet (a network that drops everything looks the same to the client)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                self.accepted.append(self._listener.accept()[0])

    def close(self) -> None:
        self._listener.close()
        for sock in self.accepted:
            sock.close()


class FreezableLink:
    """A TCP relay to PostgreSQL that, frozen, forwards nothing more either way and closes
    nothing: the database has fallen silent in the middle of the service's work."""

    def __init__(self, database_url: str) -> None:
        params = psycopg.conninfo.conninfo_to_dict(database_url)
        self._target = (str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432))
        self._listener = socket.create_server(("127.0.0.1", 0))
        port = self._listener.getsockname()[1]
        self.url = psycopg.conninfo.make_conninfo(database_url, host="127.0.0.1", port=port)
        self.frozen = threading.Event()
        self.held_from_client = 0
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self._listener.accept()
                server = socket.create_connection(self._target)
                self._sockets += [client, server]
                for source, sink, held in ((client, server, True), (server, client, False)):
                    args = (source, sink, held)
                    threading.Thread(target=self._pump, args=args, daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if not self.frozen.is_set():
                    sink.sendall(data)
                elif from_client:
                    self.held_from_client += len(data)

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            sock.close()


@pytest.fixture
def link(database_url: str) -> Iterator[FreezableLink]:
    relay = FreezableLink(database_url)
    yield relay
    relay.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
def test_the_service_stops_at_once_on_a_signal(
    maintenance_factory: Callable[..., MaintenanceProcess], signum: signal.Signals
) -> None:
    service = maintenance_factory().start()
    took = service.stop(signum)
    assert service.returncode == 0
    assert '"stopped"' in service.log()
    assert took < 3


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
def test_the_service_whose_database_refuses_connections_stops_on_a_signal(
    maintenance_factory: Callable[..., MaintenanceProcess], signum: signal.Signals
) -> None:
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/fitmon"
    service = maintenance_factory(FITMON_DATABASE_URL=unreachable).start(wait=False)
    wait_until(lambda: service.log().count("database unavailable") >= 2, 20, "the service retrying")
    took = service.stop(signum)
    assert service.returncode == 0
    assert took < 3


def test_the_service_whose_database_has_fallen_silent_stops_on_sigterm(
    maintenance_factory: Callable[..., MaintenanceProcess], silent_server: SilentServer
) -> None:
    silent = f"postgresql://postgres@127.0.0.1:{silent_server.port}/fitmon"
    service = maintenance_factory(FITMON_DATABASE_URL=silent).start(wait=False)
    wait_until(lambda: silent_server.accepted, 20, "the service to connect")
    took = service.stop(signal.SIGTERM)
    assert took < STOP_GRACE_S + 2


def test_the_service_whose_database_falls_silent_mid_query_stops_on_sigterm(
    database_url: str,
    maintenance_factory: Callable[..., MaintenanceProcess],
    link: FreezableLink,
) -> None:
    """Stuck in a query no answer will come to, it gives up after the grace time and exits (1);
    the database rolls back whatever that transaction held."""
    service = maintenance_factory(FITMON_DATABASE_URL=link.url, FITMON_TICK_S="3600").start()
    # Once the first tick's connection has gone, only the listener and the inbox's connection
    # remain: frozen, the next take of the inbox (each second) waits for ever.
    wait_until(lambda: backends(database_url) == 2, 10, "the first tick to end")
    link.frozen.set()
    wait_until(lambda: link.held_from_client, 10, "a query the database will not answer")
    took = service.stop(signal.SIGTERM)
    assert STOP_GRACE_S <= took < STOP_GRACE_S + 2
    assert (service.returncode, "still stopping" in service.log()) == (1, True)


def backends(database_url: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fitmon-maintenance' "
            "AND datname = current_database()"
        ).fetchone()
    return 0 if row is None else int(row[0])
