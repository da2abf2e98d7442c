"""The ingest service: receive over MQTT, hand chunks to worker processes, ack what they commit.

This process runs paho and little else: it cuts what arrives into chunks (by count, bytes and
wait), shares each chunk's messages among the worker processes (ingest.worker) by site, so that
one device's messages always go to the same worker in arrival order, and sends them numbered.
A worker decodes, writes and commits a chunk, then reports it; only then are its QoS 1 messages
acknowledged to the broker, so nothing is acknowledged before its commit.

Chunks sent but not yet reported stay here. If a worker dies, a new one is started and given
its chunks again, in order; writes are idempotent, so what the old one committed unreported is
not stored twice. If this process dies, the workers stop, and the broker redelivers everything
unacknowledged to the next session.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess

import structlog

from devices.codes import is_site_code
from ingest import handoff, worker_entry
from ingest.metrics import IngestMetrics
from ingest.mqtt import MqttSource, Received
from ingest.settings import IngestSettings
from ingest.stopping import STOP_SIGNAL

log = structlog.get_logger(__name__)

# On shutdown, how long the workers may take to commit what they hold. Told to stop, a worker
# waits no longer for a database that is down (ingest.stopping): it ends after its attempt in
# progress (a connect gives up after 5 s); one stuck on a silent network is killed after this.
_STOP_WAIT_S = 10.0
_RESTART_BACKOFF_MAX_S = 30.0
_HEALTHY_AFTER_S = 60.0  # a worker that lived this long resets the restart backoff

_MAX_SITES_REMEMBERED = 1_000_000

_ReportHandler = Callable[[handoff.Report], None]


class _WorkerHandle:
    """A running worker process, its two pipes, and the thread that reads its reports."""

    def __init__(self, settings: IngestSettings, index: int, on_report: _ReportHandler) -> None:
        context = multiprocessing.get_context("spawn")
        chunks_out, self._chunks_in = context.Pipe(duplex=False)
        self._reports_out, reports_in = context.Pipe(duplex=False)
        self.index = index
        self.process: BaseProcess = context.Process(
            target=worker_entry.run_worker,
            args=(settings, index, chunks_out, reports_in),
            name=f"fitmon-ingest-worker-{index}",
            daemon=True,
        )
        self.process.start()
        # Only the worker holds these ends now: its exit is seen here as EOF.
        chunks_out.close()
        reports_in.close()
        self.started = time.monotonic()
        self.ready = threading.Event()
        self.gone = threading.Event()
        self._on_report = on_report
        self._reader = threading.Thread(
            target=self._read_reports, name=f"reports-{index}", daemon=True
        )
        self._reader.start()

    def send(self, chunk: handoff.Chunk | None) -> None:
        """Hand over a chunk (None: finish and exit); a dead worker is noticed by the reader."""
        try:
            self._chunks_in.send(chunk)
        except OSError:
            self.gone.set()

    def _read_reports(self) -> None:
        try:
            while True:
                report: handoff.Report = self._reports_out.recv()
                if report.ready:
                    self.ready.set()
                self._on_report(report)
        except (EOFError, OSError):
            pass
        finally:
            self.gone.set()

    def request_stop(self) -> None:
        """Finish: commit what you hold, but wait for the database no more (ingest.stopping)."""
        self.send(None)
        with contextlib.suppress(ProcessLookupError):
            if self.process.pid is not None and self.process.exitcode is None:
                os.kill(self.process.pid, STOP_SIGNAL)

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
        # Sent to a worker, not yet committed: chunk id -> (worker index, messages).
        self._pending: dict[int, tuple[int, list[Received]]] = {}
        self._pending_messages = 0
        self._next_chunk = 0
        self._workers: list[_WorkerHandle] = []
        self._restart_delay = [1.0] * settings.workers
        self._site_slice = slice(len(settings.topic_root) + 1, len(settings.topic_root) + 12)
        self._site_workers: dict[str, int] = {}  # site -> its worker, dealt in turn as first seen

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Run until stop(); on the way out, let the workers commit what they hold, then ack."""
        self._workers = [
            _WorkerHandle(self.settings, index, self._handle_report)
            for index in range(self.settings.workers)
        ]
        try:
            # Take messages from the broker only once they can be stored.
            if not self._wait_until_workers_ready():
                return
            self.source.start()
            while not self._stop.is_set():
                self._replace_dead_workers()
                received = self._collect()
                if received:
                    self._dispatch(received)
        finally:
            self._shutdown()

    def _wait_until_workers_ready(self) -> bool:
        while not all(handle.ready.is_set() for handle in self._workers):
            self._replace_dead_workers()
            if self._stop.wait(0.1):
                return False
        return True

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
        """Share `received` among the workers by site and send each its chunk."""
        count = len(self._workers)
        if count == 1:
            shares = [received]
        else:
            shares = [[] for _ in range(count)]
            site_slice, site_workers = self._site_slice, self._site_workers
            for item in received:
                site = item.topic[site_slice]
                index = site_workers.get(site)
                if index is None:
                    index = self._deal(site)
                shares[index].append(item)
        for index, share in enumerate(shares):
            if not share:
                continue
            chunk_id = self._next_chunk
            self._next_chunk += 1
            with self._lock:
                self._pending[chunk_id] = (index, share)
                self._pending_messages += len(share)
            self._workers[index].send(_chunk(chunk_id, share))

    def _deal(self, site: str) -> int:
        """The worker of a site not seen before: the next in turn, so that sites spread evenly
        however they are numbered. Only sites that are topics' valid shape are remembered (a city
        has thousands at most); anything else is spread by hash."""
        if not is_site_code(site) or len(self._site_workers) >= _MAX_SITES_REMEMBERED:
            return hash(site) % len(self._workers)
        index = len(self._site_workers) % len(self._workers)
        self._site_workers[site] = index
        return index

    def _handle_report(self, report: handoff.Report) -> None:
        """On a reports thread: ack a committed chunk and count what became of it."""
        m = self.metrics
        if report.db_errors:
            m.db_errors.inc(report.db_errors)
        if report.marked_offline:
            m.marked_offline.inc(report.marked_offline)
        if report.chunk_id is None:
            return
        with self._lock:
            entry = self._pending.pop(report.chunk_id, None)
            if entry is not None:
                self._pending_messages -= len(entry[1])
            depth = self._pending_messages
        if entry is None:  # a restarted worker committed it again: acked already
            return
        received = entry[1]
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
        m.held_bytes.set(self.source.held_bytes)

    # -- the workers' lives -------------------------------------------------------------------

    def _replace_dead_workers(self) -> None:
        for handle in list(self._workers):
            if handle.gone.is_set():
                self._restart_worker(handle)

    def _restart_worker(self, old: _WorkerHandle) -> None:
        """Replace a worker that died, after a backoff, and give the new one its chunks again."""
        index = old.index
        old.close()
        lived = time.monotonic() - old.started
        if lived > _HEALTHY_AFTER_S:
            self._restart_delay[index] = 1.0
        delay = self._restart_delay[index]
        with self._lock:
            pending = sorted(
                (chunk_id, share)
                for chunk_id, (owner, share) in self._pending.items()
                if owner == index
            )
        log.error(
            "ingest worker exited; starting another",
            worker=index,
            exitcode=old.process.exitcode,
            lived_s=round(lived, 1),
            chunks_to_redo=len(pending),
            in_s=delay,
        )
        if self._stop.wait(delay):
            return
        self._restart_delay[index] = min(delay * 2, _RESTART_BACKOFF_MAX_S)
        handle = _WorkerHandle(self.settings, index, self._handle_report)
        self._workers[index] = handle
        for chunk_id, share in pending:
            handle.send(_chunk(chunk_id, share))

    def _shutdown(self) -> None:
        running = [handle for handle in self._workers if not handle.gone.is_set()]
        for handle in running:
            handle.request_stop()
        deadline = time.monotonic() + _STOP_WAIT_S
        for handle in running:
            if not handle.wait(max(0.1, deadline - time.monotonic())):
                log.warning(
                    "a worker did not finish in time; its chunks stay unacknowledged",
                    worker=handle.index,
                )
        self.source.stop()
        for handle in self._workers:
            handle.close()
        log.info("ingest stopped", unacknowledged=self._pending_messages)


def _chunk(chunk_id: int, received: list[Received]) -> handoff.Chunk:
    return handoff.Chunk(
        chunk_id,
        [r.topic for r in received],
        [r.payload for r in received],
        [r.received_at for r in received],
    )
