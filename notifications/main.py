"""The notify process: `fitmon notify` or `python -m notifications`.

A process of its own, beside the maintenance service rather than inside it: delivery waits on
receivers outside fitmon (robots, mail servers) for up to their timeouts, and must never hold the
maintenance lock or delay a new fault's alert and ticket while it does; and it restarts, scales
and is configured (SMTP, robots' limits) apart from the maintenance loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from prometheus_client import start_http_server

from db.connections import run_reconnecting
from notifications.metrics import NotifyMetrics
from notifications.registry import build_channels, http_client
from notifications.service import NotifyService
from notifications.settings import NotifySettings
from runtime.logs import configure_logging
from runtime.stop_on_signal import StopOnSignal

log = structlog.get_logger(__name__)


def _stop_grace_s(settings: NotifySettings) -> float:
    """Told to stop, lanes in hand finish their send (bounded by the send timeout); past this the
    process exits anyway. Nothing is lost: an unrecorded send is sent again after a restart."""
    return settings.send_timeout_s + 3.0


def run(settings: NotifySettings, metrics: NotifyMetrics) -> None:
    http = http_client()
    service = NotifyService(settings, build_channels(settings, http), metrics)
    stop = StopOnSignal(
        service.stop,
        _stop_grace_s(settings),
        abandoned="still stopping; exiting without waiting (an unrecorded send is sent again)",
    )
    stop.install()
    try:
        run_reconnecting(service.run, service.stopping)
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
