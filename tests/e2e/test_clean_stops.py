"""Every fitmon process stops its children and exits within STOP_BOUND_S on SIGINT or SIGTERM,
whatever state its output or broker is in: the demo, the API and the simulator (ingest: see
test_ingest_stops.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cli.services import LocalBroker
from db.embedded import free_port
from tests.e2e.processes import Proc, command, family, stop_and_time
from tests.support import wait_until

FITMON = [sys.executable, "-m", "cli"]


def _closed_output() -> int:
    """A pipe whose reader has gone, for a child's stdout and stderr: every write fails (EPIPE)."""
    read, write = os.pipe()
    os.close(read)
    return write


def _env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FITMON_")}
    return {**env, **overrides}


class _Lines:
    """What a child writes on a pipe, read without blocking, until the test closes the pipe."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        self.fd = process.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.text = ""

    def contains(self, marker: str) -> bool:
        try:
            while chunk := os.read(self.fd, 65536):
                self.text += chunk.decode(errors="replace")
        except BlockingIOError:
            pass
        return marker in self.text


@pytest.fixture
def demo_workdir(tmp_path: Path) -> Iterator[Path]:
    workdir = tmp_path / "demo"
    yield workdir
    pid_file = workdir / "postgres" / "postmaster.pid"
    if pid_file.exists():  # a failed test must not leave its PostgreSQL running
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGQUIT)


def _start_demo(
    workdir: Path, reap: list[subprocess.Popen[bytes]], *extra: str
) -> subprocess.Popen[bytes]:
    with (workdir.parent / "demo.stderr").open("wb") as stderr:
        demo = subprocess.Popen(
            [*FITMON, "demo", "--workdir", str(workdir), "--speed", "600", *extra],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,  # its own process group, as a shell's pipeline has
        )
    reap.append(demo)
    lines = _Lines(demo)
    wait_until(
        lambda: demo.poll() is None and lines.contains("Ctrl-C stops everything."),
        180,
        "the demo to start everything",
        interval=0.2,
    )
    return demo


def _chain(demo: subprocess.Popen[bytes], workdir: Path) -> set[Proc]:
    """The demo, its children and theirs, and its PostgreSQL (pg_ctl starts that on its own)."""
    processes = family(demo.pid)
    pid_file = workdir / "postgres" / "postmaster.pid"
    if pid_file.exists():
        processes |= family(int(pid_file.read_text().split()[0]))
    return processes


def _chain_with(demo: subprocess.Popen[bytes], workdir: Path, parts: tuple[str, ...]) -> set[Proc]:
    """The chain once each of `parts` is in one of its commands; until then, nothing."""
    chain = _chain(demo, workdir)
    commands = "\n".join(command(pid) for pid, _ in chain)
    return chain if all(part in commands for part in parts) else set()


def test_demo_with_its_output_gone_stops_every_child_on_ctrl_c(
    demo_workdir: Path, reap: list[subprocess.Popen[bytes]]
) -> None:
    """`fitmon demo | tee demo.log`, then Ctrl-C: tee exits, the demo's writes fail, and it
    still stops PostgreSQL, the broker, ingest and its workers, the maintenance service, the API
    and the simulator."""
    demo = _start_demo(demo_workdir, reap)
    parts = (
        "postgres",
        "mosquitto",
        "cli ingest",
        "multiprocessing",
        "cli maintenance",
        "-m api",
        "simulate",
    )
    processes = wait_until(
        lambda: _chain_with(demo, demo_workdir, parts),
        message=f"the demo's processes to include {parts}",
    )
    assert demo.stdout is not None
    demo.stdout.close()  # tee is gone ...
    took = stop_and_time(demo, processes, signal.SIGINT, group=True)  # ... as Ctrl-C reaches all
    print(f"demo stopped {len(processes)} processes in {took:.1f} s")
    stderr = (demo_workdir.parent / "demo.stderr").read_text(errors="replace")
    assert demo.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr
    assert took < 15


def test_demo_whose_reader_exits_stops_every_child_by_itself(
    demo_workdir: Path,
    broker: LocalBroker,
    fresh_database: Callable[[], str],
    reap: list[subprocess.Popen[bytes]],
) -> None:
    """`fitmon demo | head`: once its output has nowhere to go, the demo stops the chain."""
    url = fresh_database()
    demo = _start_demo(demo_workdir, reap, "--database-url", url, "--broker-url", broker.url)
    processes = _chain(demo, demo_workdir)
    assert "cli maintenance" in "\n".join(command(pid) for pid, _ in processes)
    assert demo.stdout is not None
    demo.stdout.close()
    # Its next line of figures (every 5 s) finds the pipe closed: no signal needed.
    took = stop_and_time(demo, processes, None)
    print(f"demo stopped {len(processes)} processes in {took:.1f} s without a signal")
    assert demo.returncode == 0
    assert took < 15


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.mark.parametrize(
    ("signum", "output_closed"),
    [
        pytest.param(signal.SIGTERM, False, id="sigterm"),
        pytest.param(signal.SIGINT, True, id="sigint-output-closed"),
    ],
)
def test_api_stops_on_signal_in_bound(
    database_url: str,
    tmp_path: Path,
    signum: int,
    output_closed: bool,
    reap: list[subprocess.Popen[bytes]],
) -> None:
    port = free_port()
    log = (
        _closed_output()
        if output_closed
        else os.open(tmp_path / "api.log", os.O_WRONLY | os.O_CREAT)
    )
    api = subprocess.Popen(
        [*FITMON, "api", "--port", str(port)],
        env=_env(FITMON_DATABASE_URL=database_url),
        stdout=log,
        stderr=log,
    )
    reap.append(api)
    os.close(log)
    wait_until(lambda: api.poll() is None and _healthy(port), 30, "the API to answer")
    # A client that holds its connection open must not hold the API up either.
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
        took = stop_and_time(api, family(api.pid), signum)
    print(f"api stopped on {signal.Signals(signum).name} in {took:.1f} s")


def test_api_with_its_database_unreachable_stops_on_sigterm(
    tmp_path: Path, reap: list[subprocess.Popen[bytes]]
) -> None:
    port = free_port()
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/fitmon"
    with (tmp_path / "api.log").open("wb") as log:
        api = subprocess.Popen(
            [*FITMON, "api", "--port", str(port), "--database-url", unreachable],
            env=_env(),
            stdout=log,
            stderr=log,
        )
    reap.append(api)
    wait_until(lambda: api.poll() is None and _listening(port), 30, "the API to listen")
    took = stop_and_time(api, family(api.pid), signal.SIGTERM)
    print(f"api without its database stopped in {took:.1f} s")


def _listening(port: int) -> bool:
    """Whether the API answers at all (its OpenAPI document needs no database)."""
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi.json", timeout=2).close()
    except OSError:
        return False
    return True


@pytest.mark.parametrize(
    "signum",
    [pytest.param(signal.SIGTERM, id="sigterm"), pytest.param(signal.SIGINT, id="sigint")],
)
def test_simulator_whose_broker_has_gone_stops_on_signal(
    tmp_path: Path, signum: int, reap: list[subprocess.Popen[bytes]]
) -> None:
    own_broker = LocalBroker(tmp_path / "broker")
    own_broker.start()
    stderr = _closed_output()
    try:
        simulator = subprocess.Popen(
            [
                *FITMON,
                "simulate",
                "run",
                "--ledger",
                str(tmp_path / "ledger"),
                "--days",
                "30",
                "--mqtt-url",
                own_broker.url,
                "--window",
                "4",
            ],
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        reap.append(simulator)
        os.close(stderr)
        wait_until(
            lambda: (tmp_path / "ledger").is_dir() and _connected_to(own_broker, simulator.pid),
            60,
            "the simulator to publish",
        )
    finally:
        own_broker.stop()  # the broker goes away under a run that publishes as fast as it can
    took = stop_and_time(simulator, family(simulator.pid), signum)
    print(f"simulator without its broker stopped on {signal.Signals(signum).name} in {took:.1f} s")


def _connected_to(broker: LocalBroker, pid: int) -> bool:
    """Whether process `pid` holds a TCP connection to the broker's port (Linux /proc/net/tcp)."""
    port = f":{broker.port:04X}"
    inodes = {
        line.split()[9]
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if line.split()[2].endswith(port) and line.split()[3] == "01"  # ESTABLISHED
    }
    fds = Path(f"/proc/{pid}/fd")
    try:
        links = {os.readlink(fd) for fd in fds.iterdir()}
    except OSError:
        return False
    return any(f"socket:[{inode}]" in links for inode in inodes)
