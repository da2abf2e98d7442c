"""A small, fully known world for the dashboard queries: two sites, five items, two days of data.

Everything sits in the dashboards' own database (no other test's rules act on it) and, for the
time-filtered panels, in March 2019, so that exact figures can be asserted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest

from db.rollups import refresh_usage_rollups
from devices.codes import make_equipment_code
from devices.registry_rows import EquipmentRow, Registry, SiteRow
from tests.support import load_registry, migrated_database, new_site_code

# The dashboards count days in Asia/Shanghai (UTC+8): this range is local 2019-03-10 and 03-11.
WINDOW_FROM = datetime(2019, 3, 9, 16, 0, tzinfo=UTC)
WINDOW_TO = datetime(2019, 3, 11, 15, 59, 59, 999_000, tzinfo=UTC)
DAY_1 = WINDOW_FROM  # local 2019-03-10 00:00
DAY_2 = WINDOW_FROM + timedelta(days=1)  # local 2019-03-11 00:00


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2019, 3, day, hour, minute, tzinfo=UTC)


@dataclass(frozen=True)
class Seed:
    site_a: str
    site_b: str
    name_a: str
    name_b: str
    a1: str  # air walker, past its service life (2010 + 8 years), online
    a2: str  # smart bike, 50-year life, offline (silent) for 2 hours
    a3: str  # seated push installed a year ago: not yet in the 2019 fleet, never heard from
    a4: str  # rider, retired: left out of every panel
    b1: str  # smart bike, past its service life (2012 + 10), offline (will) for 5 hours
    # when the seed was written: its "offline for 5 hours" and the like are counted from here
    seeded_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def _registry(seed: Seed) -> Registry:
    today = datetime.now(UTC).date()
    rows = [
        (seed.a1, seed.site_a, "air_walker", date(2010, 5, 1), 8),
        (seed.a2, seed.site_a, "smart_bike", date(2018, 1, 1), 50),
        (seed.a3, seed.site_a, "seated_push", today - timedelta(days=365), 8),
        (seed.a4, seed.site_a, "rider", date(2009, 1, 1), 8),
        (seed.b1, seed.site_b, "smart_bike", date(2012, 1, 1), 10),
    ]
    return Registry(
        sites=[
            SiteRow(seed.site_a, seed.name_a, None, None, None),
            SiteRow(seed.site_b, seed.name_b, None, None, None),
        ],
        equipment=[EquipmentRow(c, s, k, "M-1", on, life, None) for c, s, k, on, life in rows],
    )


_HOURLY = """
INSERT INTO usage_hourly (code, hour, sessions, reps, duration_s, energy_wh)
VALUES (%s, %s, %s, %s, %s, %s)
"""
_FAULT = """
INSERT INTO fault_events (code, boot, seq, ts, fault, severity, state, detail, received_at)
VALUES (%s, 1, %s, %s, %s, %s, %s, %s, %s)
"""
_STATE = """
INSERT INTO device_state (code, boot, online, last_seen_at, online_changed_at, offline_reason)
VALUES (%s, 1, %s, %s, %s, %s)
"""
_DEAD = """
INSERT INTO dead_letters (received_at, topic, payload, category, reason, code, digest, copies)
VALUES (%s, 'fitness/v1/test', %s, %s, %s, NULL, %s, %s)
"""


def _insert_telemetry(conn: psycopg.Connection[Any], s: Seed) -> None:
    now = s.seeded_at
    with conn.cursor() as cur:
        cur.executemany(
            _HOURLY,
            [
                (s.a2, at(10, 3), 2, 40, 90.0, 12.5),  # local 03-10 11:00
                (s.b1, at(10, 7), 1, 15, 60.0, 7.5),  # local 03-10 15:00
                (s.a1, at(10, 20), 3, 30, 120.0, 0.0),  # local 03-11 04:00: counts on day 2
                (s.b1, at(11, 1), 2, 20, 80.0, 5.0),  # local 03-11 09:00
                (s.a2, at(11, 10), 4, 60, 200.0, 20.0),  # local 03-11 18:00
                (s.a1, at(20, 0), 100, 1000, 9000.0, 0.0),  # outside the window
            ],
        )
        cur.executemany(
            _FAULT,
            [
                (s.a1, 1, at(10, 5), "MECH_JAM", "major", "raised", None, now),
                (s.a1, 2, at(10, 9), "MECH_JAM", "major", "cleared", None, now),
                (s.a2, 1, at(10, 6), "STRUCTURE_TILT", "critical", "raised", "12 deg", now),
                (s.a2, 2, at(11, 2), "LOW_BATTERY", "minor", "raised", None, now),
                (s.b1, 1, at(11, 3), "TAMPER", "major", "raised", None, now),
                (s.b1, 2, at(11, 4), "TAMPER", "major", "cleared", None, now),
                (s.b1, 3, at(11, 5), "TAMPER", "major", "raised", "lid open", now),
            ],
        )
        cur.executemany(
            _STATE,
            [
                (s.a1, True, now, now - timedelta(days=1), None),
                (
                    s.a2,
                    False,
                    now - timedelta(hours=2, minutes=3),
                    now - timedelta(hours=2),
                    "silent",
                ),
                (s.b1, False, now - timedelta(hours=5), now - timedelta(hours=5), "will"),
                (s.a4, False, now - timedelta(days=400), now - timedelta(days=400), "silent"),
            ],
        )
        cur.executemany(
            _DEAD,
            [
                (
                    at(10, 2, 10),
                    b"{}",
                    "unknown_code",
                    "unknown equipment code 320705-0042-007-4",
                    os.urandom(16),
                    3,
                ),
                (
                    at(10, 2, 30),
                    b"[]",
                    "unknown_code",
                    "batch item 3: unknown equipment code x",
                    os.urandom(16),
                    1,
                ),
                (
                    at(10, 2, 20),
                    b"{}",
                    "schema",
                    "usage: duration_s: Input should be greater than 0",
                    os.urandom(16),
                    1,
                ),
                (
                    at(10, 4, 0),
                    b"x" * 10,
                    "oversized",
                    "payload of 70000 bytes exceeds 64 KiB",
                    os.urandom(16),
                    1,
                ),
                (
                    at(10, 5, 10),
                    b"{",
                    "malformed_json",
                    "usage: Invalid JSON: EOF while parsing",
                    os.urandom(16),
                    1,
                ),
                (
                    at(10, 5, 20),
                    b"{",
                    "malformed_json",
                    "batch: malformed JSON: Expecting value",
                    os.urandom(16),
                    1,
                ),
                (
                    at(10, 5, 30),
                    b"{}",
                    "bad_topic",
                    "topic 'a/b' is not under 'fitness/v1'",
                    os.urandom(16),
                    1,
                ),
                (
                    at(10, 6, 0),
                    b"{}",
                    "future",
                    "ts 2019-03-10T07:00:00+00:00 is more than 5 minutes in the future",
                    os.urandom(16),
                    1,
                ),
                (
                    at(20, 6, 0),
                    b"{}",
                    "unknown_code",
                    "unknown site 990000-0001",
                    os.urandom(16),
                    1,
                ),  # outside
            ],
        )
        cur.execute("UPDATE equipment SET service_status = 'retired' WHERE code = %s", (s.a4,))


@pytest.fixture(scope="session")
def database_url(pg_admin_url: str) -> Iterator[str]:
    """The dashboards' own database: their figures are exact, and in the shared one other tests'
    rules and inbox takers open tickets and alerts for whatever items they find (the seed's too)."""
    with migrated_database(pg_admin_url, "fitmon_test_dashboards") as url:
        yield url


@pytest.fixture(scope="session")
def seed(database_url: str) -> Seed:
    site_a, site_b = new_site_code(), new_site_code()
    a1, a2, a3, a4 = (str(make_equipment_code(site_a, n)) for n in (1, 2, 3, 4))
    s = Seed(
        site_a=site_a,
        site_b=site_b,
        name_a=f"North Lake Park {site_a[-4:]}",
        name_b=f"Riverside Square {site_b[-4:]}",
        a1=a1,
        a2=a2,
        a3=a3,
        a4=a4,
        b1=str(make_equipment_code(site_b, 1)),
    )
    load_registry(database_url, _registry(s))
    with psycopg.connect(database_url) as conn:
        with conn.transaction():
            _insert_telemetry(conn, s)
        refresh_usage_rollups(conn, everything=True)  # written here, not by ingest
    return s
