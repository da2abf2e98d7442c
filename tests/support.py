"""Test helpers: waiting on conditions, codes, registry factories, scratch databases, ingest
processes."""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar

import psycopg
from prometheus_client.parser import text_string_to_metric_families

from db.embedded import free_port
from db.migrate import migrate
from db.registry_writes import upsert_registry
from devices.codes import make_equipment_code, make_site_code, site_of
from devices.registry_rows import EquipmentRow, Registry, SiteRow

T = TypeVar("T")

_site_serials = itertools.count(random.Random().randrange(0, 5000))


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 20.0,
    message: str = "condition",
    interval: float = 0.05,
) -> T:
    """Poll `predicate` until it returns something truthy; fail with `message` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last: T = predicate()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {message}; last: {last!r}"
            )
        time.sleep(interval)
        last = predicate()
    return last


def new_site_code() -> str:
    """A site code no other test in this session uses (division 990000-999999 is not a real one)."""
    serial = next(_site_serials)
    return str(make_site_code(f"99{os.getpid() % 10000:04d}", serial % 10000))


def make_registry(*, items: int = 3, kind: str = "air_walker", site: str | None = None) -> Registry:
    site_code = site or new_site_code()
    return Registry(
        sites=[SiteRow(site_code, f"Test site {site_code}", None, None, None)],
        equipment=[
            EquipmentRow(
                str(make_equipment_code(site_code, n)),
                site_code,
                kind,
                "T-1",
                date(2020, 5, 1),
                8,
                None,
            )
            for n in range(1, items + 1)
        ],
    )


def load_registry(database_url: str, registry: Registry) -> Registry:
    with psycopg.connect(database_url) as conn, conn.transaction():
        upsert_registry(conn, registry)
    return registry


def scalar(database_url: str, sql: str, *params: object) -> object:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(sql, params).fetchone()
    return None if row is None else row[0]


def create_database(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return psycopg.conninfo.make_conninfo(admin_url, dbname=name)


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def migrated_database(admin_url: str, prefix: str = "fitmon_test") -> Iterator[str]:
    """A new database named `prefix`_<random>, built by the real migrations, dropped on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    url = create_database(admin_url, name)
    try:
        migrate(url)
        yield url
    finally:
        drop_database(admin_url, name)


class EveryCode:
    """A registry view (ingest.decode.RegistryView) that finds every code and site registered."""

    known_equipment: frozenset[str] = frozenset()  # asks has_equipment of every code

    def has_equipment(self, code: str) -> bool:
        return True

    def has_site(self, site: str) -> bool:
        return True


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class IngestProcess:
    """`python -m ingest` as its own process, the way it runs in production."""

    env: dict[str, str]
    log_path: Path
    metrics_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> IngestProcess:
        env = {**os.environ, **self.env, "FITMON_METRICS_PORT": str(self.metrics_port)}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ingest"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        wait_until(self.ready, 30, f"ingest to serve metrics (log: {self.log_path})")
        return self

    def ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"ingest exited with {self.process.returncode}: {self.log()}")
        try:
            text = self.metrics()
        except OSError:
            return False
        return "fitmon_ingest_connected 1.0" in text

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples named `name` whose labels include `labels`."""
        return sum(
            sample.value
            for family in text_string_to_metric_families(self.metrics())
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )

    def wait_for_metric(self, name: str, value: float, **labels: str) -> None:
        """Wait until `metric(name, **labels)` reads `value`. Ingest counts a chunk when its
        worker's report of the commit arrives, a moment after the rows can be seen: read a
        count after the rows, and it may not have caught up yet."""
        wait_until(lambda: self.metric(name, **labels) == value, message=f"{name} = {value}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def worker_pids(self) -> list[int]:
        """The worker processes ingest runs (Linux: its children, from ingest.worker_entry)."""
        assert self.process is not None
        pids = []
        for thread in Path(f"/proc/{self.process.pid}/task").iterdir():
            try:
                children = (thread / "children").read_text().split()
            except OSError:  # the thread ended between the listing and the read
                continue
            for pid in children:
                with contextlib.suppress(OSError):
                    command = Path(f"/proc/{pid}/cmdline").read_bytes()
                    if b"resource_tracker" not in command:
                        pids.append(int(pid))
        return sorted(pids)


class Publisher:
    """A paho publisher that waits for every QoS 1 publish to be acknowledged by the broker."""

    def __init__(self, broker_url: str, client_id: str | None = None) -> None:
        import paho.mqtt.client as mqtt  # noqa: PLC0415
        from paho.mqtt.enums import CallbackAPIVersion  # noqa: PLC0415

        host, _, port = broker_url.removeprefix("mqtt://").partition(":")
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id or f"pub-{os.urandom(4).hex()}"
        )
        self.client.max_inflight_messages_set(1000)
        self.client.connect(host, int(port))
        self.client.loop_start()

    def publish(
        self,
        topic: str,
        payload: bytes | str | dict[str, object] | list[object],
        qos: int = 1,
        *,
        wait: bool = True,
    ) -> None:
        import json  # noqa: PLC0415

        body = json.dumps(payload) if isinstance(payload, dict | list) else payload
        info = self.client.publish(topic, body, qos=qos)
        if wait:
            info.wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def v1(
    code: str, seq: int, *, boot: int = 1, ts: str | None = None, **fields: object
) -> dict[str, object]:
    return {"v": 1, "code": code, "boot": boot, "seq": seq, "ts": ts or now_rfc3339(), **fields}


def usage(
    code: str,
    seq: int,
    *,
    reps: int = 12,
    duration_s: float = 45.0,
    boot: int = 1,
    started_at: str | None = None,
    ts: str | None = None,
    **fields: object,
) -> dict[str, object]:
    moment = ts or now_rfc3339()
    return v1(
        code,
        seq,
        boot=boot,
        ts=moment,
        started_at=started_at or moment,
        duration_s=duration_s,
        reps=reps,
        **fields,
    )


def birth(
    code: str, seq: int = 0, *, boot: int = 1, heartbeat_s: int = 60, kind: str = "air_walker"
) -> dict[str, object]:
    return v1(code, seq, boot=boot, fw="1.4.2", model="AW-200", kind=kind, heartbeat_s=heartbeat_s)


def item_topic(root: str, code: str, kind: str) -> str:
    return f"{root}/{site_of(code)}/{code}/{kind}"
