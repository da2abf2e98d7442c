"""The ingest service: receive over MQTT, hand chunks to the worker process, ack what it commits.

This process runs paho and little else: it cuts what arrives into chunks (by count, bytes and
wait), numbers them, and sends them to the worker process (ingest.worker), which decodes, writes
and commits them and reports back. A chunk's QoS 1 messages are acknowledged to the broker only
after its report, so nothing is acknowledged before its commit.

The chunks sent but not yet reported stay here. If the worker dies, a new one is started and
given them again, in order; writes are idempotent, so what the old one committed unreported is
not stored twice. If this process dies, the worker stops, and the broker redelivers everything
unacknowledged to the next session.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess

import structlog

from ingest import worker
from ingest.metrics import IngestMetrics
from ingest.mqtt import MqttSource, Received
from ingest.settings import IngestSettings

log = structlog.get_logger(__name__)

_STOP_WAIT_S = 30.0  # on shutdown, how long the worker may take to commit what it holds
_RESTART_BACKOFF_MAX_S = 30.0
_HEALTHY_AFTER_S = 60.0  # a worker that lived this long resets the restart backoff

_ReportHandler = Callable[[worker.Report], None]


class _WorkerHandle:
    """A running worker process, its two pipes, and the thread that reads its reports."""

    def __init__(self, settings: IngestSettings, on_report: _ReportHandler) -> None:
        context = multiprocessing.get_context("spawn")
        chunks_out, self._chunks_in = context.Pipe(duplex=False)
        self._reports_out, reports_in = context.Pipe(duplex=False)
        self.process: BaseProcess = context.Process(
            target=worker.main,
            args=(settings, chunks_out, reports_in),
            name="fitmon-ingest-worker",
            daemon=True,
        )
        self.process.start()
        # Only the worker holds these ends now: its exit is seen here as EOF.
        chunks_out.close()
        reports_in.close()
        self.started = time.monotonic()
        self.gone = threading.Event()
        self._on_report = on_report
        self._reader = threading.Thread(target=self._read_reports, name="reports", daemon=True)
        self._reader.start()

    def send(self, chunk: worker.Chunk | None) -> None:
        """Hand over a chunk (None: finish and exit); a dead worker is noticed by the reader."""
        try:
            self._chunks_in.send(chunk)
        except OSError:
            self.gone.set()

    def _read_reports(self) -> None:
        try:
            while True:
                self._on_report(self._reports_out.recv())
        except (EOFError, OSError):
            pass
        finally:
            self.gone.set()

    def wait(self, timeout: float) -> bool:
        """Wait for the worker to exit and its last reports to be handled."""
        self.process.join(timeout)
        if self.process.is_alive():
            return False
        self._reader.join(timeout)
        return True

    def close(self) -> None:
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self._chunks_in.close()
        self._reader.join(5)
        self._reports_out.close()


class IngestService:
    def __init__(self, settings: IngestSettings, metrics: IngestMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or IngestMetrics()
        self.inbox: queue.SimpleQueue[Received] = queue.SimpleQueue()
        self.source = MqttSource(settings, self.inbox, self.metrics)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pending: dict[int, list[Received]] = {}  # sent to the worker, not yet committed
        self._pending_messages = 0
        self._next_chunk = 0
        self._worker: _WorkerHandle | None = None
        self._restart_delay = 1.0

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Run until stop(); on the way out, let the worker commit what it holds, then ack it."""
        self._worker = _WorkerHandle(self.settings, self._handle_report)
        self.source.start()
        try:
            while not self._stop.is_set():
                if self._worker.gone.is_set():
                    self._restart_worker()
                    continue
                received = self._collect()
                if received:
                    self._dispatch(received)
        finally:
            self._shutdown()

    # -- chunks -------------------------------------------------------------------------------

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

    def _dispatch(self, received: list[Received]) -> None:
        chunk_id = self._next_chunk
        self._next_chunk += 1
        with self._lock:
            self._pending[chunk_id] = received
            self._pending_messages += len(received)
        assert self._worker is not None
        self._worker.send((chunk_id, _incoming(received)))

    def _handle_report(self, report: worker.Report) -> None:
        """On the reports thread: ack a committed chunk and count what became of it."""
        m = self.metrics
        if report.db_errors:
            m.db_errors.inc(report.db_errors)
        if report.marked_offline:
            m.marked_offline.inc(report.marked_offline)
        if report.chunk_id is None:
            return
        with self._lock:
            received = self._pending.pop(report.chunk_id, None)
            if received is not None:
                self._pending_messages -= len(received)
            depth = self._pending_messages
        if received is None:  # a restarted worker committed it again: acked already
            return
        self.source.ack(received)
        now = time.time()
        for kind, count in report.received_kinds.items():
            m.received.labels(kind=kind).inc(count)
        for kind, count in report.stored.items():
            m.stored.labels(kind=kind).inc(count)
        for kind, count in report.duplicates.items():
            if count:
                m.duplicates.labels(kind=kind).inc(count)
        for category, count in report.dead_letters.items():
            m.dead_letters.labels(reason=category).inc(count)
        if report.wills_applied:
            m.wills.labels(result="applied").inc(report.wills_applied)
        if report.wills_stale:
            m.wills.labels(result="stale").inc(report.wills_stale)
        m.batches.inc()
        m.batch_size.observe(len(received))
        m.commit_lag.observe(now - received[0].received_at)
        if report.newest_device_ts is not None:
            m.device_lag.set(now - report.newest_device_ts)
        m.queue_depth.set(depth + self.inbox.qsize())

    # -- the worker's life --------------------------------------------------------------------

    def _restart_worker(self) -> None:
        old = self._worker
        assert old is not None
        old.close()
        lived = time.monotonic() - old.started
        if lived > _HEALTHY_AFTER_S:
            self._restart_delay = 1.0
        with self._lock:
            pending = sorted(self._pending.items())
        log.error(
            "ingest worker exited; starting another",
            exitcode=old.process.exitcode,
            lived_s=round(lived, 1),
            chunks_to_redo=len(pending),
            in_s=self._restart_delay,
        )
        if self._stop.wait(self._restart_delay):
            return
        self._restart_delay = min(self._restart_delay * 2, _RESTART_BACKOFF_MAX_S)
        self._worker = _WorkerHandle(self.settings, self._handle_report)
        for chunk_id, received in pending:
            self._worker.send((chunk_id, _incoming(received)))

    def _shutdown(self) -> None:
        handle = self._worker
        if handle is not None and not handle.gone.is_set():
            handle.send(None)
            if not handle.wait(_STOP_WAIT_S):
                log.warning("the worker did not finish in time; its chunks stay unacknowledged")
        self.source.stop()
        if handle is not None:
            handle.close()
        log.info("ingest stopped", unacknowledged=self._pending_messages)


def _incoming(received: list[Received]) -> list[tuple[str, bytes, float]]:
    return [(r.topic, r.payload, r.received_at) for r in received]
