"""The ingest worker: collect received messages into batches, decode, write, commit, then ack.

One thread owns the database connection; a database outage pauses it (messages stay unacked at
the broker) and it retries until the write commits. Nothing is acknowledged before its commit.
"""

from __future__ import annotations

import gc
import queue
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import psycopg
import structlog

from ingest.decode import DeadLetter, DecodedBatch, Decoder
from ingest.metrics import IngestMetrics
from ingest.mqtt import MqttSource, Received
from ingest.registry import KnownCodes
from ingest.settings import IngestSettings
from ingest.writer import (
    WriteResult,
    mark_silent_devices_offline,
    prepare_connection,
    write_batch,
)

log = structlog.get_logger(__name__)

_MAX_BACKOFF_S = 5.0


class IngestService:
    def __init__(self, settings: IngestSettings, metrics: IngestMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or IngestMetrics()
        self.inbox: queue.SimpleQueue[Received] = queue.SimpleQueue()
        self.source = MqttSource(settings, self.inbox, self.metrics)
        self._stop = threading.Event()
        self._conn: psycopg.Connection[Any] | None = None
        self._known: KnownCodes | None = None
        self._next_offline_check = 0.0

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Run until stop(): connect, consume, and on the way out disconnect cleanly."""
        self._connect_database()
        # What exists by now (modules, models, the registry) lives as long as the process: keep
        # it out of the cyclic collector's passes, which a batch's allocations set off again and
        # again (benchmarks/ingest.py: 10-20% more messages per second).
        gc.freeze()
        self.source.start()
        try:
            while not self._stop.is_set():
                received = self._collect()
                if received:
                    self._process(received)
                self._maybe_mark_silent_offline()
        finally:
            self.source.stop()
            if self._conn is not None:
                self._conn.close()
            log.info("ingest stopped")

    # -- batching -----------------------------------------------------------------------------

    def _collect(self) -> list[Received]:
        try:
            first = self.inbox.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        size = len(first.payload)
        deadline = time.monotonic() + self.settings.batch_wait_ms / 1000
        limit, max_bytes = self.settings.batch_max, self.settings.batch_max_bytes
        get = self.inbox.get_nowait
        while len(batch) < limit and size < max_bytes:
            try:
                item = get()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = self.inbox.get(timeout=remaining)
                except queue.Empty:
                    break
            batch.append(item)
            size += len(item.payload)
        return batch

    # -- database -----------------------------------------------------------------------------

    def _connect_database(self) -> psycopg.Connection[Any]:
        """Connect, retrying with backoff until it works or stop() is called."""
        delay = 0.5
        while True:
            try:
                conn = psycopg.connect(
                    self.settings.database_url.get_secret_value(), connect_timeout=5
                )
                prepare_connection(conn)
                if self._known is None:
                    self._known = KnownCodes(conn, self.settings.registry_refresh_s)
                else:
                    self._known.use_connection(conn)
                self._known.reload()
                conn.commit()
                self._conn = conn
                log.info("database connected")
                return conn
            except psycopg.OperationalError as exc:
                self.metrics.db_errors.inc()
                log.warning("database unavailable, retrying", error=str(exc).strip(), in_s=delay)
                if self._stop.wait(delay):
                    raise
                delay = min(delay * 2, _MAX_BACKOFF_S)

    def _process(self, received: list[Received]) -> None:
        delay = 0.5
        while True:
            conn = self._conn or self._connect_database()
            assert self._known is not None
            try:
                batch = Decoder(self.settings.topic_root, self._known).decode(received)
                try:
                    result = write_batch(conn, batch)
                    conn.commit()
                except psycopg.OperationalError:
                    raise
                except psycopg.Error as exc:
                    conn.rollback()
                    log.error("batch refused by the database, writing item by item", error=str(exc))
                    result = self._write_one_by_one(conn, batch)
                break
            except psycopg.OperationalError as exc:
                self.metrics.db_errors.inc()
                log.warning("database write failed, retrying", error=str(exc).strip(), in_s=delay)
                self._drop_connection()
                if self._stop.wait(delay):
                    return  # unacked: the broker redelivers these after restart
                delay = min(delay * 2, _MAX_BACKOFF_S)
        self.source.ack(received)
        self._observe(received, batch, result)

    def _write_one_by_one(self, conn: psycopg.Connection[Any], batch: DecodedBatch) -> WriteResult:
        """Find the messages the database refuses, dead-letter them, and store the rest."""
        total = WriteResult()
        refused: list[DeadLetter] = list(batch.dead)
        singles: list[DecodedBatch] = []
        for attr in ("usage", "status", "faults", "births"):
            for entry in getattr(batch, attr):
                single = DecodedBatch()
                getattr(single, attr).append(entry)
                singles.append(single)
        for single in singles:
            try:
                result = write_batch(conn, single)
                conn.commit()
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                conn.rollback()
                message, arrived = next(
                    entry
                    for attr in ("usage", "status", "faults", "births")
                    for entry in getattr(single, attr)
                )
                refused.append(
                    DeadLetter(
                        "(database)",
                        message.model_dump_json().encode(),
                        arrived,
                        "db_refused",
                        f"database refused the message: {exc}",
                        message.code,
                    )
                )
                continue
            for kind, count in result.stored.items():
                total.stored[kind] = total.stored.get(kind, 0) + count
            for kind, count in result.duplicates.items():
                total.duplicates[kind] = total.duplicates.get(kind, 0) + count
        rest = DecodedBatch(
            dead=refused, presence=batch.presence, gateway_presence=batch.gateway_presence
        )
        result = write_batch(conn, rest)
        conn.commit()
        total.wills_applied, total.wills_stale = result.wills_applied, result.wills_stale
        batch.dead = refused
        return total

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def _maybe_mark_silent_offline(self) -> None:
        now = time.monotonic()
        if now < self._next_offline_check:
            return
        self._next_offline_check = now + self.settings.offline_check_s
        conn = self._conn
        if conn is None:
            return
        try:
            count = mark_silent_devices_offline(
                conn,
                datetime.now(UTC),
                self.settings.offline_after_heartbeats,
                self.settings.default_heartbeat_s,
            )
            conn.commit()
        except psycopg.OperationalError as exc:
            log.warning("offline check failed", error=str(exc).strip())
            self._drop_connection()
            return
        if count:
            self.metrics.marked_offline.inc(count)
            log.info("devices marked offline after silence", count=count)

    # -- observability ------------------------------------------------------------------------

    def _observe(self, received: list[Received], batch: DecodedBatch, result: WriteResult) -> None:
        m = self.metrics
        now = time.time()
        for kind, count in batch.received_kinds.items():
            m.received.labels(kind=kind).inc(count)
        for kind, count in result.stored.items():
            m.stored.labels(kind=kind).inc(count)
        for kind, count in result.duplicates.items():
            if count:
                m.duplicates.labels(kind=kind).inc(count)
        for category, count in Counter(d.category for d in batch.dead).items():
            m.dead_letters.labels(reason=category).inc(count)
        for letter in batch.dead:
            log.warning("dead letter", topic=letter.topic, reason=letter.reason, code=letter.code)
        if result.wills_applied:
            m.wills.labels(result="applied").inc(result.wills_applied)
        if result.wills_stale:
            m.wills.labels(result="stale").inc(result.wills_stale)
            log.info("stale wills ignored", count=result.wills_stale)
        m.batches.inc()
        m.batch_size.observe(len(received))
        m.commit_lag.observe(now - received[0].received_at)
        if batch.newest_device_ts is not None:
            m.device_lag.set(now - batch.newest_device_ts.timestamp())
        m.queue_depth.set(self.inbox.qsize())
