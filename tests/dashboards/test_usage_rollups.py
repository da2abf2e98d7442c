"""The dashboards' usage rollups (db/rollups.py): recomputed from usage_hourly for the hours ingest
noted, by site and type per hour and by item per China day, replaced rather than added to, and
kept up to date by the maintenance service on its own ticker. (That ingest notes every hour it
adds to is proved by the simulated city: its panels equal the ledger after a refresh of only the
noted hours.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from db.rollups import refresh_usage_rollups
from devices.registry_rows import Registry
from tests.maintenance.process import MaintenanceProcess
from tests.support import load_registry, make_registry, migrated_database, wait_until

HOUR = datetime(2026, 3, 9, 15, 0, tzinfo=UTC)  # local 03-09 23:00; an hour on, local 03-10


@pytest.fixture
def database_url(pg_admin_url: str) -> Iterator[str]:
    with migrated_database(pg_admin_url, "fitmon_test_rollups") as url:
        yield url


@pytest.fixture
def city(database_url: str) -> Registry:
    walkers = make_registry(items=2, kind="air_walker")
    site = walkers.sites[0].code
    bike = make_registry(items=3, kind="smart_bike", site=site).equipment[2]
    return load_registry(
        database_url, Registry(sites=walkers.sites, equipment=[*walkers.equipment, bike])
    )


def add_usage(conn: psycopg.Connection[Any], code: str, hour: datetime, sessions: int) -> None:
    """As ingest adds to usage_hourly, noting the hour."""
    conn.execute(
        "INSERT INTO usage_hourly AS h VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (code, hour) "
        "DO UPDATE SET sessions = h.sessions + excluded.sessions, reps = h.reps + excluded.reps, "
        "duration_s = h.duration_s + excluded.duration_s, "
        "energy_wh = h.energy_wh + excluded.energy_wh",
        (code, hour, sessions, 10 * sessions, 60.0 * sessions, 1.5 * sessions),
    )
    conn.execute("INSERT INTO usage_rollup_pending (hour) VALUES (%s)", (hour,))


def site_hours(conn: psycopg.Connection[Any]) -> dict[tuple[datetime, str], tuple[int, int]]:
    rows = conn.execute("SELECT hour, kind, sessions, reps FROM usage_site_hourly").fetchall()
    return {(hour, kind): (sessions, reps) for hour, kind, sessions, reps in rows}


def days(conn: psycopg.Connection[Any]) -> dict[tuple[str, datetime], tuple[int, float]]:
    rows = conn.execute("SELECT code, day, sessions, energy_wh FROM usage_daily").fetchall()
    return {(code, day): (sessions, energy) for code, day, sessions, energy in rows}


def test_noted_hours_are_rolled_up_by_site_and_type_and_by_china_day(
    database_url: str, city: Registry
) -> None:
    walker_1, walker_2, bike = (item.code for item in city.equipment)
    with psycopg.connect(database_url) as conn:
        add_usage(conn, walker_1, HOUR, 2)
        add_usage(conn, walker_2, HOUR, 3)
        add_usage(conn, bike, HOUR, 1)
        add_usage(conn, walker_1, HOUR + timedelta(hours=1), 4)  # the next local day
        conn.commit()
        assert refresh_usage_rollups(conn).hours == 2
        assert site_hours(conn) == {
            (HOUR, "air_walker"): (5, 50),
            (HOUR, "smart_bike"): (1, 10),
            (HOUR + timedelta(hours=1), "air_walker"): (4, 40),
        }
        day_1, day_2 = HOUR - timedelta(hours=23), HOUR + timedelta(hours=1)  # local midnights
        assert days(conn) == {
            (walker_1, day_1): (2, 3.0),
            (walker_2, day_1): (3, 4.5),
            (bike, day_1): (1, 1.5),
            (walker_1, day_2): (4, 6.0),
        }
        assert conn.execute("SELECT count(*) FROM usage_rollup_pending").fetchone() == (0,)


def test_a_refresh_replaces_what_it_recomputes_and_never_counts_twice(
    database_url: str, city: Registry
) -> None:
    walker_1 = city.equipment[0].code
    with psycopg.connect(database_url) as conn:
        add_usage(conn, walker_1, HOUR, 2)
        conn.commit()
        refresh_usage_rollups(conn)
        assert refresh_usage_rollups(conn).hours == 0  # nothing noted since
        add_usage(conn, walker_1, HOUR, 5)  # more in the same hour, noted again
        add_usage(conn, walker_1, HOUR, 1)
        conn.commit()
        assert refresh_usage_rollups(conn).hours == 1
        assert site_hours(conn) == {(HOUR, "air_walker"): (8, 80)}
        assert days(conn) == {(walker_1, HOUR - timedelta(hours=23)): (8, 12.0)}


def test_a_late_hour_recomputes_its_own_day_only(database_url: str, city: Registry) -> None:
    walker_1, walker_2 = city.equipment[0].code, city.equipment[1].code
    old = HOUR - timedelta(days=20)
    with psycopg.connect(database_url) as conn:
        add_usage(conn, walker_1, HOUR, 2)
        add_usage(conn, walker_2, old, 1)
        conn.commit()
        refresh_usage_rollups(conn)
        add_usage(conn, walker_2, old + timedelta(hours=1), 3)  # a device back after 20 days
        conn.commit()
        done = refresh_usage_rollups(conn)
        assert (done.hours, done.days) == (1, 1)
        assert days(conn)[walker_2, old + timedelta(hours=1)] == (3, 4.5)  # local day after `old`
        assert days(conn)[walker_1, HOUR - timedelta(hours=23)] == (2, 3.0)


def test_a_rebuild_follows_usage_hourly_written_other_than_by_ingest(
    database_url: str, city: Registry
) -> None:
    walker_1, bike = city.equipment[0].code, city.equipment[2].code
    with psycopg.connect(database_url) as conn:
        add_usage(conn, walker_1, HOUR, 2)
        add_usage(conn, bike, HOUR + timedelta(hours=3), 1)
        conn.commit()
        refresh_usage_rollups(conn)
        conn.execute("DELETE FROM usage_hourly WHERE code = %s", (bike,))  # a correction
        conn.execute("UPDATE usage_hourly SET sessions = 7, reps = 70 WHERE code = %s", (walker_1,))
        conn.commit()
        refresh_usage_rollups(conn, everything=True)
        assert site_hours(conn) == {(HOUR, "air_walker"): (7, 70)}
        assert days(conn) == {(walker_1, HOUR - timedelta(hours=23)): (7, 3.0)}


def test_the_maintenance_service_keeps_the_rollups_up_to_date(
    database_url: str, city: Registry, tmp_path: Path
) -> None:
    walker_1 = city.equipment[0].code
    env = {"FITMON_DATABASE_URL": database_url, "FITMON_ROLLUP_REFRESH_S": "0.2"}
    service = MaintenanceProcess(env, tmp_path / "maintenance.log").start()
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            add_usage(conn, walker_1, HOUR, 2)
            wait_until(lambda: site_hours(conn), 20, "the service's refresh")
            assert site_hours(conn) == {(HOUR, "air_walker"): (2, 20)}
            add_usage(conn, walker_1, HOUR, 3)
            wait_until(lambda: site_hours(conn)[HOUR, "air_walker"] == (5, 50), 20, "a second")
            assert days(conn) == {(walker_1, HOUR - timedelta(hours=23)): (5, 7.5)}
    finally:
        service.kill()
    assert "usage rollups refreshed" in service.log()
