"""The maintenance process: `fitmon maintenance` or `python -m maintenance`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from db.connections import run_reconnecting
from maintenance.service import MaintenanceService
from maintenance.settings import MaintenanceSettings
from runtime.logs import configure_logging
from runtime.stop_on_signal import StopOnSignal

log = structlog.get_logger(__name__)

# Told to stop, the service finishes the transaction in hand; one stuck on a database that has
# fallen silent is abandoned after this long. Nothing is lost: every effect is written in a
# transaction, which PostgreSQL rolls back when the connection goes.
STOP_GRACE_S = 5.0


def run(settings: MaintenanceSettings) -> None:
    service = MaintenanceService(settings)
    stop = StopOnSignal(
        service.stop,
        STOP_GRACE_S,
        abandoned="still stopping; exiting without waiting (the uncommitted is rolled back)",
    )
    stop.install()
    run_reconnecting(service.run, service.stopping)
    log.info("stopped", signal=stop.signal_name)


def main(overrides: Mapping[str, Any] | None = None) -> None:
    settings = MaintenanceSettings(**(overrides or {}))
    configure_logging(settings.log_format)
    run(settings)
