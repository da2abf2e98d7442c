"""The maintenance process: `fitmon maintenance` or `python -m maintenance`."""

from __future__ import annotations

import signal
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


def run(settings: MaintenanceSettings) -> None:
    service = MaintenanceService(settings)
    stopping = service.stopping

    def request_stop(signum: int, frame: FrameType | None) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        service.stop()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    delay = 0.5
    while not stopping.is_set():
        try:
            service.run()
        except psycopg.OperationalError as exc:
            log.warning("database unavailable, retrying", error=str(exc).strip(), in_s=delay)
            stopping.wait(delay)
            delay = min(delay * 2, _MAX_BACKOFF_S)


def main(overrides: Mapping[str, Any] | None = None) -> None:
    settings = MaintenanceSettings(**(overrides or {}))
    configure_logging(settings.log_format)
    run(settings)
