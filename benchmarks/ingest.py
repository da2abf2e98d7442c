"""Ingest throughput and memory against same-run baselines: one broker, one database, one workload.

Measures (a) a bare paho subscriber that only counts, (b) `python -m ingest` from its first message
to its last committed row for per-item `usage` messages, (c) the same rows packed into site `batch`
messages, (d) a bare psycopg COPY of the same rows; prints the rates, b/a and c/d against their
targets, and ingest's peak RSS (its MQTT process and its workers). For (a)-(c) the broker is
loaded while the consumer is away (persistent MQTT session), so no publisher competes for CPU
while the drain is timed.
Run `python -m benchmarks.ingest --help` from the repository root.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import structlog
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from benchmarks.bare_subscriber import Mqtt, create_session
from benchmarks.harness import (
    REPO_ROOT,
    IngestProcess,
    bench_services,
    ingest_env,
    machine_context,
    scalar,
)
from benchmarks.workload import Workload, build_registry, build_workload
from cli.services import LocalBroker
from devices.protocol import batch_topic, item_topic, subscription

TARGET_B_OVER_A = 0.8
TARGET_C_OVER_D = 0.5
TARGET_PEAK_MB = 300.0
PUBLISH_WINDOW = 5_000  # unacknowledged QoS 1 publishes; paho has only 65,535 packet ids
TELEMETRY = "usage_sessions, usage_hourly, device_state, device_presence, gateway_state"
USAGE_COLUMNS = (
    "code, boot, seq, ts, started_at, duration_s, reps, energy_wh, avg_cadence_rpm, max_load_kg, "
    "received_at"
)
COPY_USAGE = f"COPY usage_sessions ({USAGE_COLUMNS}) FROM STDIN (FORMAT BINARY)"
USAGE_TYPES = ["text", "int8", "int8", "timestamptz", "timestamptz", "float8", "int4"]
USAGE_TYPES += ["float8", "float8", "float8", "timestamptz"]
LAST_ROW = "SELECT 1 FROM usage_sessions WHERE code = %s AND boot = %s AND seq = %s"
PHASES = {
    "a": "(a) bare paho subscriber, counting (messages)",
    "b": "(b) ingest, per-item messages -> committed rows",
    "c": "(c) ingest, site batch messages -> committed rows",
    "d": "(d) bare psycopg COPY into usage_sessions (rows)",
}


# -- services -----------------------------------------------------------------------------------


def reset_telemetry(db_url: str) -> None:
    """Empty what ingest writes and checkpoint, so that every phase starts from the same state."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TELEMETRY}, dead_letters")
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute("CHECKPOINT")


def publish_all(broker: LocalBroker, messages: Sequence[tuple[str, bytes]]) -> None:
    """Publish at QoS 1, at most PUBLISH_WINDOW unacknowledged; return once all are acked."""
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

    client_id = f"bench-pub-{uuid.uuid4().hex[:8]}"
    publisher = Mqtt(broker.port, client_id, v5=broker.supports_mqtt5, persistent=False)
    publisher.client.max_inflight_messages_set(PUBLISH_WINDOW)
    publisher.client.on_publish = on_publish
    publisher.connect()
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


def start_profiler(out: Path, pid: int) -> subprocess.Popen[bytes]:
    """py-spy on `pid` until it exits, without pausing it: collapsed stacks of the thread holding
    the GIL, the one resource ingest's MQTT thread and its worker take turns on."""
    command = ["py-spy", "record", "--nonblocking", "--threads", "--gil", "--rate", "250"]
    command += ["--format", "raw", "--output", str(out), "--pid", str(pid)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


# -- the measured phases ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Measurement:
    count: int
    seconds: float
    peak_mb: float | None = None

    @property
    def rate(self) -> float:
        return self.count / self.seconds


@dataclass(frozen=True, slots=True)
class Bench:
    broker: LocalBroker
    db_url: str
    workdir: Path
    workload: Workload
    profile_dir: Path | None

    def bare_subscriber(self) -> Measurement:
        """(a): paho with auto ack, counting in on_message, in a process of its own like ingest;
        timed from its first message to its last."""
        root = f"bench-a-{uuid.uuid4().hex[:8]}/fitness/v1"
        client_id = f"bench-bare-{uuid.uuid4().hex[:8]}"
        v5 = self.broker.supports_mqtt5
        create_session(self.broker.port, client_id, subscription(root), v5=v5)
        items = self.workload.items
        publish_all(self.broker, [(item_topic(s, c, "usage", root), p) for s, c, p in items])
        command = [sys.executable, "-m", "benchmarks.bare_subscriber", str(self.broker.port)]
        command += [client_id, str(len(items)), "--mqtt", "5" if v5 else "3.1.1"]
        out = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=True)
        count, seconds = out.stdout.split()
        return Measurement(int(count), float(seconds))

    def ingest_items(self) -> Measurement:
        """(b): ingest, one MQTT message per usage session."""
        items = self.workload.items
        return self._ingest(
            "b", lambda root: [(item_topic(s, c, "usage", root), p) for s, c, p in items]
        )

    def ingest_batches(self) -> Measurement:
        """(c): ingest, the same sessions in site batch messages."""
        batches = self.workload.batches
        return self._ingest("c", lambda root: [(batch_topic(s, root), p) for s, p in batches])

    def bare_copy(self) -> Measurement:
        """(d): one binary COPY of the prebuilt rows into the emptied usage_sessions, committed."""
        reset_telemetry(self.db_url)
        with psycopg.connect(self.db_url) as conn:
            started = time.perf_counter()
            with conn.cursor() as cur, cur.copy(COPY_USAGE) as copy:
                copy.set_types(USAGE_TYPES)
                for row in self.workload.rows:
                    copy.write_row(row)
            conn.commit()
            elapsed = time.perf_counter() - started
        return Measurement(len(self.workload.rows), elapsed)

    def _ingest(
        self, phase: str, messages: Callable[[str], list[tuple[str, bytes]]]
    ) -> Measurement:
        """Ingest drains a loaded session; timed from its first arrival (the least received_at it
        stored) until every row is committed.

        Completion is watched in the database, not on ingest's /metrics, whose scrapes would cost
        ingest CPU. The broker delivers a session's queue in order and ingest commits in arrival
        order, so the probe looks the last published row up by key, then checks the count once.
        """
        reset_telemetry(self.db_url)
        expected = len(self.workload.rows)
        root = f"bench-{phase}-{uuid.uuid4().hex[:8]}/fitness/v1"
        client_id = f"bench-ingest-{phase}-{uuid.uuid4().hex[:8]}"
        env = ingest_env(self.broker, self.db_url, root, client_id)
        # The first run only creates ingest's session and subscription; SIGTERM keeps the session.
        first_run = IngestProcess(env, self.workdir / f"ingest-{phase}-session.log")
        try:
            first_run.wait_until_connected()
        finally:
            first_run.stop()
        published = messages(root)
        publish_all(self.broker, published)
        last = json.loads(published[-1][1])
        last = last[-1] if isinstance(last, list) else last
        last_key = (last["code"], last["boot"], last["seq"])
        with psycopg.connect(self.db_url, autocommit=True) as probe:

            def all_committed() -> bool:
                if probe.execute(LAST_ROW, last_key).fetchone() is None:
                    return False
                row = probe.execute("SELECT count(*) FROM usage_sessions").fetchone()
                return row is not None and row[0] >= expected

            ingest = IngestProcess(env, self.workdir / f"ingest-{phase}.log")
            profiler = None
            if self.profile_dir is not None:
                out = self.profile_dir / f"ingest-{phase}-{uuid.uuid4().hex[:6]}.folded"
                profiler = start_profiler(out, ingest.pid)
            try:
                finished = ingest.wait_for(all_committed, max(300.0, expected / 200), "to commit")
                peak = ingest.peak_rss_mb()
            finally:
                ingest.stop()
                if profiler is not None:
                    profiler.wait(60)
        stored = scalar(self.db_url, "SELECT count(*) FROM usage_sessions")
        dead = scalar(self.db_url, "SELECT count(*) FROM dead_letters")
        if stored != expected or dead:
            raise RuntimeError(f"({phase}) {stored} rows, {dead} dead letters; want {expected}, 0")
        sql = "SELECT extract(epoch FROM min(received_at)) FROM usage_sessions"
        return Measurement(expected, finished - float(scalar(self.db_url, sql)), peak)


# -- report -------------------------------------------------------------------------------------


def print_report(
    context: list[str], workload: Workload, runs: dict[str, list[Measurement]]
) -> None:
    rounds = len(runs["a"])
    items, sites = len(workload.registry.equipment), len(workload.registry.sites)
    print("\nfitmon ingest benchmark" + (f", median of {rounds} rounds" if rounds > 1 else ""))
    for line in context:
        print(f"  {line}")
    print(
        f"  workload  {len(workload.items):,} usage messages for {items:,} items at {sites} sites, "
        f"or {len(workload.batches):,} site batches of up to {workload.batch_size}"
    )
    print(f"\n  {'phase':<52}{'count':>9}{'seconds':>9}{'per second':>12}", end="")
    print("   (range)" if rounds > 1 else "")
    for key, label in PHASES.items():
        rates = [m.rate for m in runs[key]]
        seconds = statistics.median(m.seconds for m in runs[key])
        print(f"  {label:<52}{runs[key][0].count:>9,}{seconds:>9.2f}", end="")
        spread = f"   ({min(rates):,.0f}-{max(rates):,.0f})" if rounds > 1 else ""
        print(f"{statistics.median(rates):>12,.0f}{spread}")
    ratios = {
        "b/a": [b.rate / a.rate for a, b in zip(runs["a"], runs["b"], strict=True)],
        "c/d": [c.rate / d.rate for c, d in zip(runs["c"], runs["d"], strict=True)],
    }
    peaks = {key: [m.peak_mb for m in runs[key] if m.peak_mb is not None] for key in "bc"}
    print(f"\n  {'figure':<52}{'value':>9}   target", end="")
    print("      (range of the rounds' ratios)" if rounds > 1 else "")
    for label, key, target in (
        ("b/a  ingest per-item vs bare subscriber", "b/a", TARGET_B_OVER_A),
        ("c/d  ingest batches vs bare COPY", "c/d", TARGET_C_OVER_D),
    ):
        value = statistics.median(ratios[key])
        verdict = "ok" if value >= target else "MISSED"
        print(f"  {label:<52}{value:>9.2f}   {'>= ' + str(target):<9}{verdict:<6}", end="")
        spread = f"   ({min(ratios[key]):.2f}-{max(ratios[key]):.2f})" if rounds > 1 else ""
        print(spread)
    if peaks["b"] and peaks["c"]:
        peak = max(peaks["b"] + peaks["c"])
        b_peak, c_peak = max(peaks["b"]), max(peaks["c"])
        label = f"ingest peak RSS, MB, all its processes (b {b_peak:.0f}, c {c_peak:.0f})"
        verdict = "ok" if peak < TARGET_PEAK_MB else "MISSED"
        print(f"  {label:<52}{peak:>9.0f}   {'< ' + str(int(TARGET_PEAK_MB)):<9}{verdict}")
    else:
        print(f"  {'ingest peak RSS (VmHWM)':<52}{'n/a':>9}   < {TARGET_PEAK_MB:.0f} (Linux only)")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest", description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000, help="usage messages per phase")
    parser.add_argument("--items", type=int, default=1000, help="registered equipment items")
    parser.add_argument("--sites", type=int, default=20, help="sites the items are spread over")
    parser.add_argument("--batch-size", type=int, default=50, help="items per site batch message")
    parser.add_argument("--rounds", type=int, default=1, help="run every phase this many times")
    parser.add_argument(
        "--embedded-postgres",
        action="store_true",
        help="use a private embedded PostgreSQL even when 127.0.0.1:5432 answers",
    )
    parser.add_argument("--workdir", type=Path, help="keep the broker's and ingest's logs here")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record ingest's measured runs with py-spy (GIL holder, collapsed stacks) into DIR",
    )
    args = parser.parse_args(argv)
    if min(args.messages, args.items, args.sites, args.batch_size, args.rounds) < 1:
        parser.error("--messages, --items, --sites, --batch-size and --rounds must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    registry = build_registry(args.items, args.sites)
    workload = build_workload(registry, args.messages, args.batch_size)
    # Keep the collector from walking the workload's million objects during (d)'s COPY loop.
    gc.freeze()
    runs: dict[str, list[Measurement]] = {key: [] for key in PHASES}
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    embedded = args.embedded_postgres
    with bench_services(args.workdir, workload.registry, embedded=embedded) as services:
        context = machine_context(services)
        bench = Bench(services.broker, services.db_url, services.workdir, workload, args.profile)
        measures = dict(
            zip(
                PHASES,
                (bench.bare_subscriber, bench.ingest_items, bench.ingest_batches, bench.bare_copy),
                strict=True,
            )
        )
        for number in range(1, args.rounds + 1):
            for key, measure in measures.items():
                print(f"round {number}/{args.rounds} {PHASES[key]} ...", end=" ", flush=True)
                runs[key].append(measure())
                print(f"{runs[key][-1].rate:,.0f}/s", flush=True)
    print_report(context, workload, runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
