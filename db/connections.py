"""How a long-running process (the maintenance service, the notify process) holds its database:
connections that notice a database gone silent, and a loop that reconnects with a backoff."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import structlog

log = structlog.get_logger(__name__)

_FIRST_BACKOFF_S = 0.5
_MAX_BACKOFF_S = 10.0
# A run that lasted this long was healthy: the next failure starts the backoff afresh.
_HEALTHY_RUN_S = 30.0


def connect_kwargs(application_name: str) -> dict[str, Any]:
    """psycopg's connection arguments for a service. A connect gives up after 5 s, and an
    established connection whose server has fallen silent fails after about 15 s (TCP keepalives
    and TCP_USER_TIMEOUT), so the service reconnects instead of waiting for ever."""
    return {
        "application_name": application_name,
        "connect_timeout": 5,
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 3,
        "tcp_user_timeout": 15_000,
    }


def run_reconnecting(run: Callable[[], None], stopping: threading.Event) -> None:
    """Call `run` again and again until `stopping` is set. While the database is unavailable
    (`run` raises psycopg.OperationalError) wait before the next call: 0.5 s, doubling to 10 s,
    from 0.5 s again after a run that lasted 30 s. The wait ends at once when `stopping` is set."""
    delay = _FIRST_BACKOFF_S
    while not stopping.is_set():
        started = time.monotonic()
        try:
            run()
        except psycopg.OperationalError as exc:
            if time.monotonic() - started > _HEALTHY_RUN_S:
                delay = _FIRST_BACKOFF_S
            log.warning("database unavailable, retrying", error=str(exc).strip(), in_s=delay)
            stopping.wait(delay)
            delay = min(delay * 2, _MAX_BACKOFF_S)
