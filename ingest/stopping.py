"""How a worker learns that ingest is stopping, and waits for the database only until then.

With the last chunk (None), the MQTT process sends each worker STOP_SIGNAL: commit what you
hold, but do not wait for a database that is not there. A chunk not committed is not reported,
so not acknowledged, and the broker delivers it again to ingest's next session.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from types import FrameType

STOP_SIGNAL = signal.SIGUSR1
_TICK_S = 0.1


class _Stop:
    requested = False


_stop = _Stop()


def _request_stop(signum: int, frame: FrameType | None) -> None:
    _stop.requested = True  # only a flag: a handler must not take a lock its thread may hold


def listen_for_stop() -> None:
    """In the worker's main thread, before anything else: STOP_SIGNAL requests a stop."""
    signal.signal(STOP_SIGNAL, _request_stop)


def back_off(delay_s: float, on_stop: Callable[[], None]) -> None:
    """Sleep `delay_s` before trying the database again, unless ingest is stopping: then call
    `on_stop` (to log) and end the process at once, from whichever thread waits."""
    deadline = time.monotonic() + delay_s
    while not _stop.requested:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        time.sleep(min(remaining, _TICK_S))
    on_stop()
    os._exit(0)
