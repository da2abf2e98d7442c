"""`python -m maintenance` as its own process, the way it runs in production, for the tests that
start, stop and kill the service."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support import wait_until

STARTED = '"maintenance service started"'  # its JSON log line once it listens and ticks


@dataclass
class MaintenanceProcess:
    """`env` holds FITMON_* settings (FITMON_DATABASE_URL, FITMON_TICK_S, FITMON_CLEAR_SETTLE_S,
    ...); the process logs JSON lines into `log_path`, appended across restarts."""

    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log_from: int = 0

    def start(self, *, wait: bool = True) -> MaintenanceProcess:
        """Start it; with `wait`, return once it has connected, listens and has started ticking."""
        assert self.process is None or self.process.poll() is not None, "already running"
        env = {**os.environ, "FITMON_ENV": "test", "FITMON_LOG_FORMAT": "json", **self.env}
        self._log_from = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "maintenance"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        if wait:
            wait_until(self.ready, 30, f"the maintenance service to start (log: {self.log_path})")
        return self

    def ready(self) -> bool:
        if not self.running:
            raise AssertionError(f"maintenance exited with {self.returncode}: {self.log()}")
        return STARTED in self.log()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def log(self) -> str:
        """What it logged since its latest start."""
        with self.log_path.open("rb") as log:
            log.seek(self._log_from)
            return log.read().decode(errors="replace")

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30.0) -> float:
        """Send `signum` and wait for it to exit; returns the seconds it took (SIGKILL past
        `timeout`, and then an AssertionError)."""
        if not self.running:
            return 0.0
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signum)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"maintenance still running {timeout} s after {signal.Signals(signum).name}: "
                f"{self.log()[-3000:]}"
            ) from None
        return time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, as a crash or the OOM killer leaves it."""
        if self.running:
            assert self.process is not None
            self.process.kill()
            self.process.wait()
