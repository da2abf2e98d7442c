"""The maintenance process: `fitmon maintenance` or `python -m maintenance`."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Mapping
from types import FrameType
from typing import Any

import psycopg
import structlog

from maintenance.service import MaintenanceService
from maintenance.settings import MaintenanceSettings
from runtime.logs import configure_logging

log = structlog.get_logger(__name__)

_MAX_BACKOFF_S = 10.0
_FIRST_BACKOFF_S = 0.5
# A run that lasted this long was healthy: the next failure starts the backoff afresh.
_HEALTHY_RUN_S = 30.0
# Told to stop, the service finishes the transaction in hand; one stuck on a database that has
# fallen silent is abandoned after this long. Nothing is lost: every effect is written in a
# transaction, which PostgreSQL rolls back when the connection goes.
STOP_GRACE_S = 5.0


class _Stop:
    """The signal handler only notes the request and sets the service's flag (it logs nothing:
    the main thread it interrupts may hold the log's write lock); a watchdog thread, started
    beforehand, ends the process if the stop has not finished within STOP_GRACE_S."""

    def __init__(self, service: MaintenanceService) -> None:
        self.service = service
        self.signal_name: str | None = None
        self._requested_at: float | None = None
        threading.Thread(target=self._watchdog, name="stop-watchdog", daemon=True).start()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        # A second signal changes nothing (Ctrl-C reaches a whole process group, and a parent
        # such as the demo may then send SIGTERM too): the watchdog bounds the stop anyway.
        if self._requested_at is None:
            self.signal_name = signal.Signals(signum).name
            self._requested_at = time.monotonic()
        self.service.stop()

    def _watchdog(self) -> None:
        while self._requested_at is None or time.monotonic() - self._requested_at < STOP_GRACE_S:
            time.sleep(0.1)
        # Logged from a thread of its own: stderr may be a pipe nobody reads any more.
        warn = threading.Thread(
            target=log.warning,
            args=("still stopping; exiting without waiting (the uncommitted is rolled back)",),
            kwargs={"grace_s": STOP_GRACE_S},
            daemon=True,
        )
        warn.start()
        warn.join(0.5)
        os._exit(1)


def run(settings: MaintenanceSettings) -> None:
    service = MaintenanceService(settings)
    stopping = service.stopping
    stop = _Stop(service)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    delay = _FIRST_BACKOFF_S
    while not stopping.is_set():
        started = time.monotonic()
        try:
            service.run()
        except psycopg.OperationalError as exc:
            if time.monotonic() - started > _HEALTHY_RUN_S:
                delay = _FIRST_BACKOFF_S
            log.warning("database unavailable, retrying", error=str(exc).strip(), in_s=delay)
            stopping.wait(delay)
            delay = min(delay * 2, _MAX_BACKOFF_S)
    log.info("stopped", signal=stop.signal_name)


def main(overrides: Mapping[str, Any] | None = None) -> None:
    settings = MaintenanceSettings(**(overrides or {}))
    configure_logging(settings.log_format)
    run(settings)
