"""The maintenance service: takes the inbox as soon as ingest's commit wakes it (LISTEN), runs
the time-based rules on an APScheduler ticker, and on a ticker of their own brings the dashboards'
usage rollups up to date (db/rollups.py). The wake-up is only a wake-up: on start, and every
second without one, it takes whatever waits, so nothing is missed while it was down. Any number
of instances may run: each transaction holds the maintenance lock, and every effect has a key."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
import structlog
from apscheduler.schedulers.background import BackgroundScheduler

from db.connections import connect_kwargs
from db.rollups import refresh_usage_rollups
from maintenance.alerts import settle_clears
from maintenance.inbox import lock, take_inbox
from maintenance.report_phones import erase_report_phones
from maintenance.rules import (
    check_deadlines,
    check_inspections,
    check_service_life,
    check_unused,
    clear_back_online,
    close_used_after_repair,
)
from maintenance.settings import MaintenanceSettings

log = structlog.get_logger(__name__)

CHANNEL = "fitmon_maintenance"
CONNECT_KWARGS = connect_kwargs("fitmon-maintenance")
SLOW_TICK_S = 0.5
Job = Callable[[psycopg.Connection[Any], datetime, MaintenanceSettings], object]
# The ticker's rules, in the order they run each tick.
TICK_JOBS: tuple[Job, ...] = (
    clear_back_online,
    settle_clears,
    close_used_after_repair,
    check_deadlines,
    check_service_life,
    check_inspections,
    check_unused,
    erase_report_phones,
)


def tick(conn: psycopg.Connection[Any], now: datetime, settings: MaintenanceSettings) -> None:
    """Run every time-based rule as of `now`, each in a transaction of its own under the
    maintenance lock, so that new faults wait for one rule at most, never for all of them."""
    for job in TICK_JOBS:
        with conn.transaction():
            lock(conn)
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
        for job, every_s in (
            (self._tick, self.settings.tick_s),
            (self._refresh_rollups, self.settings.rollup_refresh_s),
        ):
            scheduler.add_job(
                job,
                "interval",
                seconds=every_s,
                next_run_time=datetime.now(UTC),
                max_instances=1,
                coalesce=True,
            )
        with (
            psycopg.connect(url, autocommit=True, **CONNECT_KWARGS) as listener,
            psycopg.connect(url, autocommit=True, **CONNECT_KWARGS) as conn,
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

    def _refresh_rollups(self) -> None:
        """The dashboards' rollups: apart from the tick, and without the maintenance lock, so
        that new faults never wait for them."""
        try:
            url = self.settings.database_url.get_secret_value()
            with psycopg.connect(url, **CONNECT_KWARGS) as conn:
                started = time.monotonic()
                done = refresh_usage_rollups(conn)
        except psycopg.Error as exc:
            log.warning("rollup refresh failed; the next one tries again", error=str(exc))
            return
        if done.hours:
            took_s = round(time.monotonic() - started, 3)
            log.info("usage rollups refreshed", hours=done.hours, days=done.days, took_s=took_s)

    def _tick(self) -> None:
        try:
            url = self.settings.database_url.get_secret_value()
            with psycopg.connect(url, **CONNECT_KWARGS) as conn:
                started = time.monotonic()
                tick(conn, datetime.now(UTC), self.settings)
                took = time.monotonic() - started
        except psycopg.Error as exc:
            log.warning("maintenance tick failed; the next one tries again", error=str(exc))
            return
        if took > SLOW_TICK_S:  # it held the maintenance lock, and new faults waited, that long
            log.warning("slow tick: new events waited for it", took_s=round(took, 3))
