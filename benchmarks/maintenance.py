"""From a device's critical fault to its item out of service with a ticket, under background load.

A simulated city goes through the real broker, `python -m ingest` and `python -m maintenance` on a
scratch database built by the real migrations. A background publisher (a process of its own)
sends usage and status messages at a paced rate; meanwhile critical faults, one item each, are
published at a paced rate, each publish time recorded. A watcher polls the committed tickets
(an item's ticket and its "out of service" are one transaction) and records when each appeared.
Printed: p50, p99 and max of publish -> seen over every fault, the poll's resolution, and the
background rate ingest stored beside the same run's baseline (background only, no maintenance
service, no faults). All times are this process's wall clock (time.time(), UTC).
Run `python -m benchmarks.maintenance --help` from the repository root.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import multiprocessing
import signal
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import structlog

from benchmarks.bare_subscriber import Mqtt
from benchmarks.harness import (
    IngestProcess,
    ServiceProcess,
    bench_services,
    ingest_env,
    machine_context,
    percentile,
)
from benchmarks.notify_latency import TARGET_P99_S as NOTIFY_TARGET_P99_S
from benchmarks.notify_latency import NotifyLeg
from benchmarks.workload import build_registry
from cli.services import LocalBroker
from devices.protocol import item_topic

TARGET_P99_S = 0.5
TARGET_BACKGROUND_RATIO = 0.95  # the background rate stored, against the same-run baseline
POLL_S = 0.005
STORED = "fitmon_ingest_messages_stored_total"
FAULT = {"fault": "STRUCTURE_TILT", "severity": "critical", "state": "raised"}
SEEN = """
SELECT t.id, t.code FROM tickets t JOIN equipment e ON e.code = t.code
WHERE t.id > %s AND e.service_status = 'out_of_service' ORDER BY t.id
"""
TAKEN = """
SELECT entity_id, extract(epoch FROM at) FROM audit_trail
WHERE entity = 'equipment' AND action = 'taken out of service'
"""


# -- the background load, in a process of its own ------------------------------------------------


def background_load(
    port: int, v5: bool, root: str, codes: list[str], rate: float, seconds: float, seq0: int
) -> tuple[int, float]:
    """Publish usage (9 in 10) and status messages round robin over `codes` at `rate` per second
    for `seconds`, QoS 1; returns (messages published, seconds taken)."""
    client = Mqtt(port, f"bench-load-{uuid.uuid4().hex[:8]}", v5=v5, persistent=False)
    client.client.max_inflight_messages_set(5000)
    client.client.max_queued_messages_set(0)
    client.connect()
    sent = 0
    started = time.monotonic()
    try:
        while (elapsed := time.monotonic() - started) < seconds:
            due = int(elapsed * rate)
            while sent < due:
                code = codes[sent % len(codes)]
                seq = seq0 + sent // len(codes)
                now = datetime.now(UTC).isoformat(timespec="milliseconds")
                body: dict[str, object] = {"v": 1, "code": code, "boot": 1, "seq": seq, "ts": now}
                if sent % 10 == 9:
                    kind = "status"
                    body |= {"online": True, "battery_pct": 80.0}
                else:
                    kind = "usage"
                    body |= {"started_at": now, "duration_s": 45.0, "reps": 12}
                client.client.publish(item_topic(code[:11], code, kind, root), json.dumps(body), 1)
                sent += 1
            time.sleep(0.002)
    finally:
        took = time.monotonic() - started
        client.close()
    return sent, took


def _load_entry(queue: Any, *args: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops it
    queue.put(background_load(*args))


@dataclass
class Load:
    """The background load for one phase, and what ingest stored of it meanwhile."""

    process: multiprocessing.process.BaseProcess
    queue: Any
    ingest: IngestProcess
    stored0: float = 0.0
    at0: float = 0.0

    @classmethod
    def start(cls, bench: Bench, seconds: float, seq0: int) -> Load:
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        args = (bench.broker.port, bench.broker.supports_mqtt5, bench.root, bench.codes)
        process = ctx.Process(
            target=_load_entry, args=(queue, *args, bench.rate, seconds, seq0), daemon=True
        )
        process.start()
        return cls(process, queue, bench.ingest)

    def mark(self) -> None:
        """Start counting what ingest stores (once the load is steady)."""
        self.stored0, self.at0 = self._stored(), time.monotonic()

    def finish(self) -> tuple[float, float]:
        """(messages stored per second since mark(), messages published per second)."""
        stored, at = self._stored(), time.monotonic()
        sent, took = self.queue.get(timeout=120)
        self.process.join(30)
        return (stored - self.stored0) / (at - self.at0), sent / took

    def _stored(self) -> float:
        return self.ingest.metric(STORED) - self.ingest.metric(STORED, kind="fault")


# -- the measured run ----------------------------------------------------------------------------


@dataclass
class Bench:
    broker: LocalBroker
    db_url: str
    workdir: Path
    codes: list[str]
    root: str
    rate: float
    ingest: IngestProcess

    def env(self) -> dict[str, str]:
        return {"FITMON_ENV": "dev", "FITMON_DATABASE_URL": self.db_url}


def watch(db_url: str, seen: dict[str, float], polls: list[float], stop: threading.Event) -> None:
    """Poll the committed tickets whose item is out of service; note when each code appeared."""
    last = 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        while not stop.is_set():
            for ticket_id, code in conn.execute(SEEN, (last,)).fetchall():
                seen.setdefault(code, time.time())
                last = ticket_id
            polls.append(time.time())
            time.sleep(POLL_S)


def publish_faults(bench: Bench, codes: list[str], per_second: float) -> dict[str, float]:
    """One critical fault per code, paced; returns each code's publish time."""
    v5 = bench.broker.supports_mqtt5
    client = Mqtt(
        bench.broker.port, f"bench-faults-{uuid.uuid4().hex[:6]}", v5=v5, persistent=False
    )
    client.connect()
    published: dict[str, float] = {}
    infos = []
    started = time.monotonic()
    try:
        for n, code in enumerate(codes):
            with contextlib.suppress(ValueError):  # negative: behind time, publish at once
                time.sleep(started + n / per_second - time.monotonic())
            ts = datetime.now(UTC).isoformat(timespec="milliseconds")
            body = {"v": 1, "code": code, "boot": 1, "seq": 10**9 + n, "ts": ts, **FAULT}
            topic = item_topic(code[:11], code, "fault", bench.root)
            published[code] = time.time()
            infos.append(client.client.publish(topic, json.dumps(body), 1))
        for info in infos:
            info.wait_for_publish(30)
    finally:
        client.close()
    return published


# -- the phases and the report -------------------------------------------------------------------


def steady_rate(bench: Bench, seconds: float, seq0: int, warm_s: float) -> Load:
    """Start the background load for `seconds` and mark its rate once it has run `warm_s`."""
    load = Load.start(bench, seconds, seq0)
    time.sleep(warm_s)
    load.mark()
    return load


def wait_inbox_empty(db_url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(db_url, autocommit=True) as conn:
        while conn.execute("SELECT count(*) FROM maintenance_inbox").fetchone() != (0,):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the maintenance inbox was not empty within {timeout} s")
            time.sleep(0.1)


@dataclass
class Result:
    baseline: tuple[float, float]  # (stored per second, published per second)
    loaded: tuple[float, float]
    latencies: list[float]  # publish -> seen by the watcher, seconds
    taken: list[float]  # publish -> the service's take (audit_trail.at), seconds
    missing: int
    poll_s: float
    notified: list[float]  # publish -> the signed webhook received, seconds


def measure(bench: Bench, args: argparse.Namespace) -> Result:
    warm = 3.0
    # Every item seen once (its presence row goes to the inbox), then the baseline.
    print("warm-up and baseline: background load only ...", flush=True)
    load = steady_rate(bench, warm + args.baseline_s, 1, warm)
    time.sleep(args.baseline_s - 0.5)
    baseline = load.finish()
    print(f"  stored {baseline[0]:,.0f}/s of {baseline[1]:,.0f}/s published", flush=True)
    env = {**bench.env(), "FITMON_LOG_FORMAT": "json"}
    service = ServiceProcess("maintenance", env, bench.workdir / "maintenance.log")
    service.wait_for_log("maintenance service started")
    notify = NotifyLeg.start(bench.db_url, bench.workdir)
    try:
        wait_inbox_empty(bench.db_url, 120)
        step = len(bench.codes) // args.faults
        fault_codes = bench.codes[::step][: args.faults]
        seen: dict[str, float] = {}
        polls: list[float] = []
        stop = threading.Event()
        watcher = threading.Thread(target=watch, args=(bench.db_url, seen, polls, stop))
        watcher.start()
        publishing = args.faults / args.fault_rate
        print(
            f"loaded: {args.faults:,} critical faults at {args.fault_rate:g}/s "
            f"({publishing:.0f} s) under the background load ...",
            flush=True,
        )
        seq0 = 1 + int((warm + args.baseline_s + 5) * args.rate / len(bench.codes)) + 10
        load = steady_rate(bench, warm + publishing + 5, seq0, warm)
        try:
            published = publish_faults(bench, fault_codes, args.fault_rate)
            loaded = load.finish()
            deadline = time.monotonic() + 30
            while len(seen) < len(fault_codes) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stop.set()
            watcher.join()
        notified = notify.latencies(published, fault_codes)
    finally:
        notify.stop()
        service.stop()
    with psycopg.connect(bench.db_url, autocommit=True) as conn:
        taken_at = {code: float(at) for code, at in conn.execute(TAKEN)}
    latencies = [seen[c] - published[c] for c in fault_codes if c in seen]
    taken = [taken_at[c] - published[c] for c in fault_codes if c in taken_at]
    gaps = [b - a for a, b in itertools.pairwise(polls)]
    poll_s = statistics.mean(gaps) if gaps else float("nan")
    missing = len(fault_codes) - len(latencies)
    return Result(baseline, loaded, latencies, taken, missing, poll_s, notified)


def print_report(context: list[str], args: argparse.Namespace, result: Result) -> None:
    print("\nfitmon maintenance loop benchmark")
    for line in context:
        print(f"  {line}")
    print(
        f"  city      {args.items:,} items at {args.sites} sites; background {args.rate:,.0f} "
        f"usage/status messages per second; {args.faults:,} critical faults at "
        f"{args.fault_rate:g}/s, one item each"
    )
    print(f"\n  {'publish -> out of service with a ticket':<44}{'p50':>8}{'p99':>8}{'max':>8}  n")
    for label, values in (
        (f"seen committed (poll every {result.poll_s * 1000:.1f} ms)", result.latencies),
        ("taken by the service (audit_trail.at)", result.taken),
        ("signed webhook received (fitmon notify)", result.notified),
    ):
        if values:
            figures = "".join(f"{percentile(values, p) * 1000:>6.0f}ms" for p in (50, 99, 100))
            print(f"  {label:<44}{figures}  {len(values):,}")
    if result.missing:
        print(f"  MISSING: {result.missing} faults were never seen out of service with a ticket")
    (base_stored, base_sent), (stored, sent) = result.baseline, result.loaded
    ratio = stored / base_stored
    print(f"\n  {'background messages per second':<44}{'stored':>10}{'published':>11}")
    print(f"  {'baseline: ingest only, no faults':<44}{base_stored:>10,.0f}{base_sent:>11,.0f}")
    print(f"  {'with maintenance and faults':<44}{stored:>10,.0f}{sent:>11,.0f}")
    p99 = percentile(result.latencies, 99) if result.latencies else float("inf")
    notified = len(result.notified) == len(result.latencies) + result.missing
    n99 = percentile(result.notified, 99) if result.notified else float("inf")
    verdicts = [
        (f"p99 < {TARGET_P99_S * 1000:.0f} ms", p99 < TARGET_P99_S and not result.missing),
        (
            f"webhook p99 < {NOTIFY_TARGET_P99_S * 1000:.0f} ms",
            n99 < NOTIFY_TARGET_P99_S and notified,
        ),
        (
            f"background stored >= {TARGET_BACKGROUND_RATIO:.0%} of baseline ({ratio:.1%})",
            ratio >= TARGET_BACKGROUND_RATIO,
        ),
        (
            f"background stored >= {TARGET_BACKGROUND_RATIO:.0%} of the {args.rate:,.0f}/s asked",
            stored >= TARGET_BACKGROUND_RATIO * args.rate,
        ),
    ]
    print()
    for label, ok in verdicts:
        print(f"  target {label:<62}{'ok' if ok else 'MISSED'}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.maintenance", description=__doc__)
    parser.add_argument("--faults", type=int, default=1000, help="critical faults, one item each")
    parser.add_argument("--fault-rate", type=float, default=20, help="faults published per second")
    parser.add_argument("--rate", type=float, default=2000, help="background messages per second")
    parser.add_argument("--items", type=int, default=2000, help="registered items (>= faults)")
    parser.add_argument("--sites", type=int, default=20, help="sites the items are spread over")
    parser.add_argument("--baseline-s", type=float, default=20, help="length of the baseline")
    parser.add_argument(
        "--embedded-postgres",
        action="store_true",
        help="use a private embedded PostgreSQL even when 127.0.0.1:5432 answers",
    )
    parser.add_argument("--workdir", type=Path, help="keep the broker's and services' logs here")
    args = parser.parse_args(argv)
    if min(args.faults, args.fault_rate, args.rate, args.sites, args.baseline_s) <= 0:
        parser.error("every figure must be positive")
    if args.items < args.faults:
        parser.error("--items must be at least --faults: each fault takes an item of its own")
    return args


def add_crew(db_url: str, district: str, members: int) -> None:
    """The district's crew, so that tickets are routed as in production."""
    with psycopg.connect(db_url) as conn, conn.transaction():
        people = [
            conn.execute(
                "INSERT INTO people (login, name, role) VALUES (%s, %s, 'crew') RETURNING id",
                (f"bench-{n}", f"Crew member {n}"),
            ).fetchone()[0]  # type: ignore[index]
            for n in range(members)
        ]
        crew = conn.execute(
            "INSERT INTO crews (name, supervisor_id) VALUES ('Bench crew', %s) RETURNING id",
            (people[0],),
        ).fetchone()[0]  # type: ignore[index]
        conn.execute("INSERT INTO crew_districts VALUES (%s, %s)", (crew, district))
        for person in people:
            conn.execute("INSERT INTO crew_members VALUES (%s, %s)", (crew, person))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    registry = build_registry(args.items, args.sites)
    with bench_services(args.workdir, registry, embedded=args.embedded_postgres) as services:
        broker, db_url, workdir = services.broker, services.db_url, services.workdir
        add_crew(db_url, registry.sites[0].code[:6], 6)
        context = machine_context(services)
        root = f"bench-m-{uuid.uuid4().hex[:8]}/fitness/v1"
        client_id = f"bench-ingest-{uuid.uuid4().hex[:8]}"
        ingest = IngestProcess(ingest_env(broker, db_url, root, client_id), workdir / "ingest.log")
        try:
            ingest.wait_until_connected()
            codes = [e.code for e in registry.equipment]
            bench = Bench(broker, db_url, workdir, codes, root, args.rate, ingest)
            result = measure(bench, args)
        finally:
            ingest.stop()
    print_report(context, args, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
