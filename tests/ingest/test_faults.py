"""Ingest survives a SIGKILL mid-stream and a 30 s database outage without losing a message."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from cli.services import LocalBroker
from db.embedded import EmbeddedPostgres
from db.migrate import migrate
from devices.registry_rows import Registry
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

pytestmark = pytest.mark.slow


class Stream:
    """Publishes `total` usage messages round-robin over the registry's items, in a thread."""

    def __init__(
        self,
        broker: LocalBroker,
        topic_root: str,
        registry: Registry,
        total: int,
        per_second: float | None = None,
    ) -> None:
        self.publisher = Publisher(broker.url)
        self.topic_root = topic_root
        self.codes = [e.code for e in registry.equipment]
        self.total = total
        self.per_second = per_second
        self.sent = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start = time.monotonic()
        infos = []
        for n in range(self.total):
            code = self.codes[n % len(self.codes)]
            seq = n // len(self.codes) + 1
            infos.append(
                self.publisher.client.publish(
                    item_topic(self.topic_root, code, "usage"),
                    json.dumps(usage(code, seq, reps=n % 17)),
                    qos=1,
                )
            )
            if len(infos) >= 500:  # bound what is unacknowledged (paho's 65,535 message ids)
                infos.pop(0).wait_for_publish(30)
            self.sent = n + 1
            if self.per_second:
                ahead = start + self.sent / self.per_second - time.monotonic()
                if ahead > 0 and self.stopped.wait(ahead):  # pacing; __exit__ can cut it short
                    return
        for info in infos:
            info.wait_for_publish(30)

    def __enter__(self) -> Stream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:  # the test failed: stop publishing instead of finishing the stream
            self.stopped.set()
        self.thread.join(120)
        self.publisher.close()


def stored(database_url: str, registry: Registry) -> int:
    value = scalar(
        database_url,
        "SELECT count(*) FROM usage_sessions WHERE code LIKE %s",
        registry.sites[0].code + "%",
    )
    assert isinstance(value, int)
    return value


def rollup_sessions(database_url: str, registry: Registry) -> int:
    value = scalar(
        database_url,
        "SELECT coalesce(sum(sessions), 0) FROM usage_hourly WHERE code LIKE %s",
        registry.sites[0].code + "%",
    )
    assert isinstance(value, int)
    return value


def test_ingest_killed_mid_stream_and_restarted_stores_every_message_exactly_once(
    database_url: str,
    ingest_factory: Callable[..., IngestProcess],
    broker: LocalBroker,
    topic_root: str,
) -> None:
    registry = load_registry(database_url, make_registry(items=25))
    total = 8000
    ingest = ingest_factory()
    with Stream(broker, topic_root, registry, total, per_second=800) as stream:
        wait_until(
            lambda: stored(database_url, registry) >= 1500,
            timeout=60,
            message="1500 stored before the kill",
        )
        ingest.kill()
        assert stream.sent < total, "the kill must land mid-stream"
        killed_at = stored(database_url, registry)
        ingest_factory()  # same client id: resumes the persistent session
        wait_until(
            lambda: stored(database_url, registry) == total,
            timeout=120,
            message=f"all {total} stored after restart (at kill: {killed_at})",
        )
    assert stored(database_url, registry) == total
    assert rollup_sessions(database_url, registry) == total


def test_worker_process_killed_mid_stream_is_replaced_and_its_chunks_redone(
    database_url: str,
    ingest_factory: Callable[..., IngestProcess],
    broker: LocalBroker,
    topic_root: str,
) -> None:
    registry = load_registry(database_url, make_registry(items=25))
    total = 6000
    ingest = ingest_factory(FITMON_WORKERS="2")
    workers = ingest.worker_pids()
    assert len(workers) == 2, ingest.log()
    with Stream(broker, topic_root, registry, total, per_second=800) as stream:
        wait_until(
            lambda: stored(database_url, registry) >= 1000,
            timeout=60,
            message="1000 stored before the kill",
        )
        os.kill(workers[0], signal.SIGKILL)
        assert stream.sent < total, "the kill must land mid-stream"
        wait_until(
            lambda: len(ingest.worker_pids()) == 2 and workers[0] not in ingest.worker_pids(),
            timeout=30,
            message="a new worker in place of the killed one",
        )
        wait_until(
            lambda: stored(database_url, registry) == total,
            timeout=120,
            message=f"all {total} stored with the replaced worker",
        )
    assert workers[1] in ingest.worker_pids(), "the other worker ran on"
    assert "ingest worker exited; starting another" in ingest.log()
    assert rollup_sessions(database_url, registry) == total

    # Every message is counted once: stored, or, if the killed worker committed its chunk but
    # died before reporting it, a duplicate when the chunk is redone.
    def counted() -> float:
        return sum(
            ingest.metric(f"fitmon_ingest_messages_{what}_total", kind="usage")
            for what in ("stored", "duplicate")
        )

    wait_until(lambda: counted() == total, message=f"{total} messages counted")


@pytest.fixture
def private_postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path / "pg")
    server.start()
    yield server
    server.destroy()


def test_database_stopped_for_30_seconds_under_load_loses_nothing(
    private_postgres: EmbeddedPostgres,
    ingest_factory: Callable[..., IngestProcess],
    broker: LocalBroker,
    topic_root: str,
) -> None:
    url = private_postgres.url
    migrate(url)
    registry = load_registry(url, make_registry(items=10))
    total = 3000
    ingest = ingest_factory(FITMON_DATABASE_URL=url)
    with Stream(broker, topic_root, registry, total, per_second=60) as stream:
        wait_until(lambda: stored(url, registry) >= 200, timeout=30, message="200 stored")
        private_postgres.stop()
        outage_ends = time.monotonic() + 30
        wait_until(
            lambda: ingest.metric("fitmon_ingest_database_errors_total") >= 1,
            message="ingest notices the outage",
        )
        # ingest must stay up and keep retrying for the whole outage while messages arrive
        wait_until(
            lambda: ingest.ready() and time.monotonic() >= outage_ends,
            timeout=45,
            message="30 s of outage with ingest alive",
        )
        sent_during_outage = stream.sent
        private_postgres.start()
        wait_until(
            lambda: stored(url, registry) == total,
            timeout=120,
            message=f"all {total} stored after the outage",
        )
    assert sent_during_outage > 200 + 60 * 25
    assert rollup_sessions(url, registry) == total
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM dead_letters").fetchone() == (0,)
