"""The notify process's loop: one active instance at a time (it holds the notify lock; another
waits as a standby, so the rate limits it keeps in memory are the only ones), woken by the
outbox triggers' NOTIFY and at least every second, fanning out and dispatching lanes."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import psycopg
import structlog
from psycopg_pool import ConnectionPool

from db.connections import connect_kwargs
from notifications.channels.base import Channel, ChannelKind
from notifications.delivery import DeliveryCore
from notifications.metrics import NotifyMetrics
from notifications.settings import NotifySettings

log = structlog.get_logger(__name__)

CHANNEL = "fitmon_notify"
NOTIFY_LOCK = 0x6E6F74696679  # "notify": the advisory lock the active instance holds
GAUGES_EVERY_S = 2.0
CONNECT_KWARGS = connect_kwargs("fitmon-notify")


class NotifyService:
    def __init__(
        self,
        settings: NotifySettings,
        channels: Mapping[ChannelKind, Channel],
        metrics: NotifyMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.channels = channels
        self.metrics = metrics or NotifyMetrics()
        self.stopping = threading.Event()
        self.core: DeliveryCore | None = None

    def stop(self) -> None:
        self.stopping.set()
        if self.core is not None:
            self.core.stopping.set()

    def run(self) -> None:
        url = self.settings.database_url.get_secret_value()
        pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url,
            min_size=min(4, self.settings.workers + 1),
            max_size=self.settings.workers + 1,
            kwargs={**CONNECT_KWARGS, "autocommit": True},
            name="fitmon-notify",
            open=True,
        )
        try:
            with psycopg.connect(url, autocommit=True, **CONNECT_KWARGS) as listener:
                if not self._take_lock(listener):
                    return
                self.metrics.active.set(1)
                listener.execute(f"LISTEN {CHANNEL}")
                self.core = DeliveryCore(self.settings, self.channels, pool, self.metrics)
                if self.stopping.is_set():
                    self.core.stopping.set()
                log.info("notify service started", channels=sorted(self.channels))
                try:
                    self._loop(listener, pool, self.core)
                finally:
                    self.core.close()
                    self.metrics.active.set(0)
        finally:
            pool.close()
        log.info("notify service stopped")

    def _take_lock(self, listener: psycopg.Connection[Any]) -> bool:
        waiting_logged = False
        while not self.stopping.is_set():
            row = listener.execute("SELECT pg_try_advisory_lock(%s)", (NOTIFY_LOCK,)).fetchone()
            if row is not None and row[0]:
                return True
            if not waiting_logged:
                log.info("another notify process is active; standing by")
                waiting_logged = True
            self.stopping.wait(1.0)
        return False

    def _loop(
        self,
        listener: psycopg.Connection[Any],
        pool: ConnectionPool[psycopg.Connection[Any]],
        core: DeliveryCore,
    ) -> None:
        gauges_at = 0.0
        while not self.stopping.is_set():
            with pool.connection() as conn:
                made = core.fan_out(conn)
                if made:
                    log.debug("fanned out", deliveries=made)
                next_at = core.dispatch(conn)
                if time.monotonic() >= gauges_at:
                    core.refresh_gauges(conn)
                    gauges_at = time.monotonic() + GAUGES_EVERY_S
            wait = min(1.0, max(0.05, next_at - core.clock()))
            for _ in listener.notifies(timeout=wait, stop_after=1):
                pass
