"""The maintenance service: takes the inbox as soon as ingest's commit wakes it (LISTEN), and runs
the time-based rules on an APScheduler ticker. The wake-up is only a wake-up: on start, and every
second without one, it takes whatever waits, so nothing is missed while it was down. Any number
of instances may run: each transaction holds the maintenance lock, and every effect has a key."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
import structlog
from apscheduler.schedulers.background import BackgroundScheduler

from maintenance.alerts import settle_clears
from maintenance.inbox import lock, take_inbox
from maintenance.rules import (
    check_deadlines,
    check_inspections,
    check_service_life,
    check_unused,
    close_used_after_repair,
)
from maintenance.settings import MaintenanceSettings

log = structlog.get_logger(__name__)

CHANNEL = "fitmon_maintenance"
Job = Callable[[psycopg.Connection[Any], datetime, MaintenanceSettings], object]
# The ticker's rules, in the order they run each tick.
TICK_JOBS: tuple[Job, ...] = (
    settle_clears,
    close_used_after_repair,
    check_deadlines,
    check_service_life,
    check_inspections,
    check_unused,
)


def tick(conn: psycopg.Connection[Any], now: datetime, settings: MaintenanceSettings) -> None:
    """Run every time-based rule as of `now`, in one transaction under the maintenance lock."""
    with conn.transaction():
        lock(conn)
        for job in TICK_JOBS:
            job(conn, now, settings)


def drain_inbox(conn: psycopg.Connection[Any], settings: MaintenanceSettings) -> int:
    """Take everything waiting in the inbox, a transaction per slice; returns how many."""
    total = 0
    while True:
        with conn.transaction():
            taken = take_inbox(conn, datetime.now(UTC), settings)
        total += taken
        if not taken:
            return total


class MaintenanceService:
    def __init__(self, settings: MaintenanceSettings) -> None:
        self.settings = settings
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        url = self.settings.database_url.get_secret_value()
        scheduler = BackgroundScheduler(timezone=UTC)
        scheduler.add_job(
            self._tick,
            "interval",
            seconds=self.settings.tick_s,
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
        )
        with (
            psycopg.connect(url, autocommit=True) as listener,
            psycopg.connect(url, autocommit=True) as conn,
        ):
            listener.execute(f"LISTEN {CHANNEL}")
            scheduler.start()
            log.info("maintenance service started", tick_s=self.settings.tick_s)
            try:
                while not self.stopping.is_set():
                    taken = drain_inbox(conn, self.settings)
                    if taken:
                        log.info("inbox taken", events=taken)
                    # Wake at a notification, or after a second regardless.
                    for _ in listener.notifies(timeout=1.0, stop_after=1):
                        pass
            finally:
                scheduler.shutdown(wait=True)
        log.info("maintenance service stopped")

    def _tick(self) -> None:
        try:
            with psycopg.connect(self.settings.database_url.get_secret_value()) as conn:
                tick(conn, datetime.now(UTC), self.settings)
        except psycopg.Error as exc:
            log.warning("maintenance tick failed; the next one tries again", error=str(exc))
