"""The notify process: `fitmon notify` or `python -m notifications`.

A process of its own, beside the maintenance service rather than inside it: delivery waits on
receivers outside fitmon (robots, mail servers) for up to their timeouts, and must never hold the
maintenance lock or delay a new fault's alert and ticket while it does; and it restarts, scales
and is configured (SMTP, robots' limits) apart from the maintenance loop.
"""

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
from prometheus_client import start_http_server

from notifications.metrics import NotifyMetrics
from notifications.registry import build_channels, http_client
from notifications.service import NotifyService
from notifications.settings import NotifySettings
from runtime.logs import configure_logging

log = structlog.get_logger(__name__)

_MAX_BACKOFF_S = 10.0
_FIRST_BACKOFF_S = 0.5
_HEALTHY_RUN_S = 30.0


def _stop_grace_s(settings: NotifySettings) -> float:
    """Told to stop, lanes in hand finish their send (bounded by the send timeout); past this the
    process exits anyway. Nothing is lost: an unrecorded send is sent again after a restart."""
    return settings.send_timeout_s + 3.0


class _Stop:
    """The signal handler only notes the request; a watchdog ends the process after the grace."""

    def __init__(self, service: NotifyService, grace_s: float) -> None:
        self.service = service
        self.grace_s = grace_s
        self.signal_name: str | None = None
        self._requested_at: float | None = None
        threading.Thread(target=self._watchdog, name="stop-watchdog", daemon=True).start()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self._requested_at is None:
            self.signal_name = signal.Signals(signum).name
            self._requested_at = time.monotonic()
        self.service.stop()

    def _watchdog(self) -> None:
        while self._requested_at is None or time.monotonic() - self._requested_at < self.grace_s:
            time.sleep(0.1)
        os._exit(1)


def run(settings: NotifySettings, metrics: NotifyMetrics) -> None:
    http = http_client()
    service = NotifyService(settings, build_channels(settings, http), metrics)
    stop = _Stop(service, _stop_grace_s(settings))
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    delay = _FIRST_BACKOFF_S
    try:
        while not service.stopping.is_set():
            started = time.monotonic()
            try:
                service.run()
            except psycopg.OperationalError as exc:
                if time.monotonic() - started > _HEALTHY_RUN_S:
                    delay = _FIRST_BACKOFF_S
                log.warning("database unavailable, retrying", error=str(exc).strip(), in_s=delay)
                service.stopping.wait(delay)
                delay = min(delay * 2, _MAX_BACKOFF_S)
    finally:
        http.close()
    log.info("stopped", signal=stop.signal_name)


def main(overrides: Mapping[str, Any] | None = None) -> None:
    settings = NotifySettings(**(overrides or {}))
    configure_logging(settings.log_format)
    metrics = NotifyMetrics()
    if settings.metrics_port:
        start_http_server(settings.metrics_port, registry=metrics.registry)
    run(settings, metrics)
