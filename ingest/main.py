"""The ingest process: `python -m ingest` or `fitmon ingest`."""

from __future__ import annotations

import signal
from collections.abc import Mapping
from types import FrameType
from typing import Any

import structlog
from prometheus_client import start_http_server

from ingest.service import IngestService
from ingest.settings import IngestSettings
from runtime.logs import configure_logging

log = structlog.get_logger(__name__)


def run(settings: IngestSettings) -> None:
    service = IngestService(settings)

    def request_stop(signum: int, frame: FrameType | None) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        service.stop()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    server, thread = start_http_server(
        settings.metrics_port, settings.metrics_host, registry=service.metrics.registry
    )
    log.info(
        "ingest starting",
        broker=settings.mqtt_url,
        topic_root=settings.topic_root,
        metrics=f"http://{settings.metrics_host}:{settings.metrics_port}/metrics",
    )
    try:
        service.run()
    finally:
        server.shutdown()
        thread.join(5)


def main(overrides: Mapping[str, Any] | None = None) -> None:
    """Run ingest with settings from FITMON_* variables and `overrides` (the command line's)."""
    settings = IngestSettings(**(overrides or {}))
    configure_logging(settings.log_format)
    run(settings)
