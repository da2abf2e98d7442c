"""How a service process stops on SIGTERM or SIGINT: it is asked to stop, and a watchdog ends the
process if it has not stopped within its grace time (a database or receiver that hangs)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

import structlog

log = structlog.get_logger(__name__)


class StopOnSignal:
    """The signal handler only notes the request and calls `stop` (it logs nothing: the main
    thread it interrupts may hold the log's write lock); a watchdog thread, started beforehand,
    logs `abandoned` and ends the process (exit 1) if it is still running `grace_s` later."""

    def __init__(self, stop: Callable[[], None], grace_s: float, *, abandoned: str) -> None:
        self.stop = stop
        self.grace_s = grace_s
        self.abandoned = abandoned
        self.signal_name: str | None = None
        self._requested_at: float | None = None
        threading.Thread(target=self._watchdog, name="stop-watchdog", daemon=True).start()

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self)
        signal.signal(signal.SIGINT, self)

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        # A second signal changes nothing (Ctrl-C reaches a whole process group, and a parent
        # such as the demo may then send SIGTERM too): the watchdog bounds the stop anyway.
        if self._requested_at is None:
            self.signal_name = signal.Signals(signum).name
            self._requested_at = time.monotonic()
        self.stop()

    def _watchdog(self) -> None:
        while self._requested_at is None or time.monotonic() - self._requested_at < self.grace_s:
            time.sleep(0.1)
        # Logged from a thread of its own: stderr may be a pipe nobody reads any more.
        warn = threading.Thread(
            target=log.warning,
            args=(self.abandoned,),
            kwargs={"grace_s": self.grace_s},
            daemon=True,
        )
        warn.start()
        warn.join(0.5)
        os._exit(1)
