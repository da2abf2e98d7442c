"""The ingest worker process: decode and store what the MQTT process hands over, then report.

The MQTT process (ingest.service) receives and acknowledges; this process does everything else,
so that paho's receive loop and the decoding and writing do not take turns on one interpreter
lock. It takes numbered chunks of messages from the MQTT process and answers each, once it is
committed, with a Report; only then does the MQTT process acknowledge the chunk's messages.

Inside, two threads overlap: the decoder validates the next chunk while the writer waits for
PostgreSQL to take the previous one. A database outage pauses the writer, which retries until the
write commits; chunks queue up behind it and, beyond the MQTT receive window, at the broker.
"""

from __future__ import annotations

import gc
import os
import queue
import signal
import threading
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

import psycopg
import structlog

from ingest.commit import Committed, commit_chunk
from ingest.decode import Decoder
from ingest.decoded import DecodedBatch
from ingest.handoff import Chunk, Report
from ingest.known_codes import KnownCodes
from ingest.presence import PresenceCache, mark_silent_devices_offline
from ingest.settings import IngestSettings
from ingest.stopping import back_off, listen_for_stop
from ingest.writer import prepare_connection
from runtime.logs import configure_logging

log = structlog.get_logger(__name__)

_MAX_BACKOFF_S = 5.0
# Decoded chunks held at once: the one being written and the next; more would only hold memory
# (a decoded chunk takes about ten times its JSON).
_DECODED_AT_ONCE = 2
_YOUNG_COLLECTION_EVERY = 20_000  # container allocations (the interpreter's default is 700)


class _Stop:
    pass


_STOP = _Stop()


class Worker:
    def __init__(self, settings: IngestSettings, outbox: Connection, index: int = 0) -> None:
        self.settings = settings
        # Worker 0 also runs the periodic check for silent devices, for all of them.
        self._checks_offline = index == 0
        self._outbox = outbox
        self._send_lock = threading.Lock()
        # A chunk and its decoding (None: decoding failed, and commit_chunk takes it apart).
        self._decoded: queue.SimpleQueue[tuple[Chunk, DecodedBatch | None] | _Stop] = (
            queue.SimpleQueue()
        )
        self._slots = threading.Semaphore(_DECODED_AT_ONCE)
        self._writer_failed = threading.Event()
        self._conn: psycopg.Connection[Any] | None = None  # the writer's
        self._lookup: psycopg.Connection[Any] | None = None  # the decoder's, for unknown codes
        self._known: KnownCodes | None = None
        self._next_offline_check = 0.0
        self._presence = PresenceCache()

    def run(self, inbox: Connection) -> None:
        """Decode chunks from `inbox` until it says stop (None) and the writer has drained."""
        self._known = KnownCodes(self._lookup_connection(), self.settings.registry_refresh_s)
        self._known.reload()
        self._write_connection()
        self._report(Report(ready=True))
        # What exists by now lives as long as the process: keep it out of the collector's passes,
        # which a chunk's allocations would otherwise set off again and again.
        gc.freeze()
        # Decoding a chunk allocates hundreds of thousands of short-lived rows, nearly all of
        # them gone with the chunk: young collections every 700 allocations (the default) cost
        # about a tenth of the decoding and find nothing to free.
        gc.set_threshold(_YOUNG_COLLECTION_EVERY, 10, 10)
        writer = threading.Thread(target=self._write_loop, name="writer", daemon=True)
        writer.start()
        # Take chunks off the pipe as they come, so that the MQTT process never waits on a
        # worker that waits on the database; the broker's receive window bounds what piles up.
        chunks: queue.SimpleQueue[Chunk | None] = queue.SimpleQueue()
        threading.Thread(
            target=_receive, args=(inbox, chunks), name="receiver", daemon=True
        ).start()
        while (chunk := chunks.get()) is not None:
            while not self._slots.acquire(timeout=1):
                if self._writer_failed.is_set():
                    raise RuntimeError("the writer thread failed")
            self._decoded.put((chunk, self._decode(chunk)))
        self._decoded.put(_STOP)
        writer.join()
        if self._writer_failed.is_set():
            raise RuntimeError("the writer thread failed")

    # -- decoding -----------------------------------------------------------------------------

    def _decode(self, chunk: Chunk) -> DecodedBatch | None:
        """Decode; looking up a code the registry may have gained needs the database, so an
        outage pauses decoding too, until it is back. None if decoding failed otherwise: the
        writer then takes the chunk apart (ingest.commit)."""
        assert self._known is not None
        decoder = Decoder(self.settings.topic_root, self._known)
        delay = 0.5
        while True:
            try:
                return decoder.decode(chunk.topics, chunk.payloads, chunk.received_at)
            except psycopg.OperationalError as exc:
                self._report(Report(db_errors=1))
                log.warning("registry lookup failed, retrying", error=str(exc).strip(), in_s=delay)
                if self._lookup is not None:
                    self._lookup.close()
                    self._lookup = None
                back_off(delay, _stopping_without_database)
                delay = min(delay * 2, _MAX_BACKOFF_S)
                self._known.use_connection(self._lookup_connection())
            except Exception:
                log.exception("decoding a chunk failed; it is stored message by message")
                return None

    def _lookup_connection(self) -> psycopg.Connection[Any]:
        if self._lookup is None:
            self._lookup = self._connect(autocommit=True)
        return self._lookup

    # -- writing ------------------------------------------------------------------------------

    def _write_loop(self) -> None:
        try:
            while True:
                try:
                    job = self._decoded.get(timeout=1)
                except queue.Empty:
                    self._maybe_mark_silent_offline()
                    continue
                if isinstance(job, _Stop):
                    return
                chunk, decoded = job
                committed = self._write(chunk, decoded)
                self._report(_report(chunk.chunk_id, committed))
                del job, chunk, decoded, committed
                self._slots.release()
                self._maybe_mark_silent_offline()
        except BaseException:
            log.exception("writer failed")
            self._writer_failed.set()
            raise

    def _write(self, chunk: Chunk, decoded: DecodedBatch | None) -> Committed:
        """Commit `chunk`, retrying through database outages until it is stored."""
        assert self._known is not None
        delay = 0.5
        while True:
            conn = self._write_connection()
            # Taking a refused chunk apart decodes it again, asking over this thread's connection.
            decoder = Decoder(self.settings.topic_root, self._known.over(conn))
            try:
                return commit_chunk(conn, decoder, chunk, decoded, self._presence)
            except psycopg.OperationalError as exc:
                self._report(Report(db_errors=1))
                log.warning("database write failed, retrying", error=str(exc).strip(), in_s=delay)
                self._drop_write_connection()
                back_off(delay, _stopping_without_database)
                delay = min(delay * 2, _MAX_BACKOFF_S)

    def _write_connection(self) -> psycopg.Connection[Any]:
        if self._conn is None:
            conn = self._connect(autocommit=False)
            prepare_connection(conn)
            self._conn = conn
        return self._conn

    def _drop_write_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def _connect(self, *, autocommit: bool) -> psycopg.Connection[Any]:
        """Connect, retrying with backoff until the database answers."""
        delay = 0.5
        while True:
            try:
                conn = psycopg.connect(
                    self.settings.database_url.get_secret_value(),
                    connect_timeout=5,
                    autocommit=autocommit,
                )
                log.info("database connected", autocommit=autocommit)
                return conn
            except psycopg.OperationalError as exc:
                self._report(Report(db_errors=1))
                log.warning("database unavailable, retrying", error=str(exc).strip(), in_s=delay)
                back_off(delay, _stopping_without_database)
                delay = min(delay * 2, _MAX_BACKOFF_S)

    def _maybe_mark_silent_offline(self) -> None:
        if not self._checks_offline:
            return
        now = time.monotonic()
        if now < self._next_offline_check:
            return
        self._next_offline_check = now + self.settings.offline_check_s
        if self._conn is None:
            return
        try:
            count = mark_silent_devices_offline(
                self._conn,
                datetime.now(UTC),
                self.settings.offline_after_heartbeats,
                self.settings.default_heartbeat_s,
            )
            self._conn.commit()
        except Exception as exc:  # the next check tries again; it must never stop the writer
            log.warning("offline check failed", error=str(exc).strip())
            self._drop_write_connection()
            return
        if count:
            log.info("devices marked offline after silence", count=count)
            self._report(Report(marked_offline=count))

    def _report(self, report: Report) -> None:
        with self._send_lock:
            try:
                self._outbox.send(report)
            except OSError:  # the MQTT process is gone: nothing will be acknowledged
                log.warning("ingest's MQTT process is gone; the worker stops")
                os._exit(1)


def _receive(inbox: Connection, chunks: queue.SimpleQueue[Chunk | None]) -> None:
    """Move chunks from the pipe to `chunks` until None; exit if the MQTT process is gone."""
    try:
        while True:
            chunk: Chunk | None = inbox.recv()
            chunks.put(chunk)
            if chunk is None:
                return
    except (EOFError, OSError):
        log.warning("ingest's MQTT process is gone; the worker stops")
        os._exit(1)


def _report(chunk_id: int, committed: Committed) -> Report:
    """The report of a committed chunk: what became of its messages (dead letters are logged)."""
    for letter in committed.dead:
        log.warning("dead letter", topic=letter.topic, reason=letter.reason, code=letter.code)
    result = committed.result
    if result.wills_stale:
        log.info("stale wills ignored", count=result.wills_stale)
    return Report(
        chunk_id=chunk_id,
        received_kinds=committed.received_kinds,
        stored=result.stored,
        duplicates=result.duplicates,
        dead_letters=committed.dead_by_category,
        wills_applied=result.wills_applied,
        wills_stale=result.wills_stale,
        newest_device_ts=committed.newest_device_ts,
    )


def _stopping_without_database() -> None:
    log.warning(
        "ingest is stopping and the database is unavailable: what is not committed "
        "stays unacknowledged, for the broker to deliver again"
    )


def main(settings: IngestSettings, index: int, inbox: Connection, outbox: Connection) -> None:
    """The worker process `index` (spawned by ingest.service through ingest.worker_entry)."""
    # Ctrl-C reaches the whole process group: the MQTT process decides when the worker stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    listen_for_stop()  # ingest.stopping: then the worker waits no longer for the database
    configure_logging(settings.log_format)
    structlog.contextvars.bind_contextvars(worker=index)
    Worker(settings, outbox, index).run(inbox)
