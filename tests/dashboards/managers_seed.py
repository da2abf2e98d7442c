"""What the managers' dashboards read beyond telemetry, added to the dashboards' seed: the sites'
coordinates and hours, their district's name and population, a crew, tickets, alerts and citizens'
reports. Closed things sit in the seed's March 2019 window; open ones are counted from `now`.

At `now` the fleet is a1, a2, a3 and b1 (a4 is retired): a1 has an open critical alert and b1 is
out of service, so two of four items are in good order (完好率 50 %).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from tests.dashboards.conftest import Seed, at

DISTRICT_NAME = "Test District"
POPULATION = 50_000


@dataclass(frozen=True)
class ManagersSeed:
    crew: str
    t1: int  # a1, closed on time: resolved after 10 h, closed after 12 h
    t2: int  # b1, closed late: resolved after 30 h, closed after 32 h
    t3: int  # a2, open for 2 days with the crew, overdue by a day
    t4: int  # b1, open for 5 hours, no crew, due in 3 days


_TICKET = """
INSERT INTO tickets (code, site_code, crew_id, status, severity, title, opened_at, due_at,
                     resolved_at, closed_at, last_activity_at)
VALUES (%s, %s, %s, %s, 'major', 'seeded', %s, %s, %s, %s, %s) RETURNING id
"""
_ALERT = """
INSERT INTO alerts (subject, site_code, rule, fault, severity, status, raised_at, closed_at,
                    close_reason)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
"""
_REPORT = """
INSERT INTO citizen_reports (code, category, hazard, description, received_at)
VALUES (%s, %s, %s, 'seeded', %s)
"""


def _ticket(cur: psycopg.Cursor[Any], *row: object) -> int:
    found = cur.execute(_TICKET, (*row, row[-1] or row[4])).fetchone()
    assert found is not None
    return int(found[0])


def insert_managers_rows(conn: psycopg.Connection[Any], s: Seed) -> ManagersSeed:
    now = s.seeded_at
    district = s.site_a[:6]
    crew_name = f"Crew {s.site_a}"
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO divisions (code, name, population, level) VALUES (%s, %s, %s, 'county') "
            "ON CONFLICT (code) DO UPDATE SET name = excluded.name, "
            "population = excluded.population",
            (district, DISTRICT_NAME, POPULATION),
        )
        cur.execute(
            "UPDATE sites SET latitude = 31.2, longitude = 121.4, opens_at = '06:00', "
            "closes_at = '22:00' WHERE code = %s",
            (s.site_a,),
        )
        cur.execute(
            "UPDATE sites SET latitude = 31.3, longitude = 121.5 WHERE code = %s", (s.site_b,)
        )
        cur.execute("UPDATE equipment SET maker = 'Shuhua' WHERE code = %s", (s.a1,))
        cur.execute(
            "UPDATE equipment SET service_status = 'out_of_service' WHERE code = %s", (s.b1,)
        )
        row = cur.execute("INSERT INTO crews (name) VALUES (%s) RETURNING id", (crew_name,))
        found = row.fetchone()
        assert found is not None
        crew = int(found[0])
        t1 = _ticket(
            cur, s.a1, s.site_a, crew, "closed", at(10, 0), at(13, 0), at(10, 10), at(10, 12)
        )
        t2 = _ticket(
            cur, s.b1, s.site_b, crew, "closed", at(10, 2), at(10, 14), at(11, 8), at(11, 10)
        )
        t3 = _ticket(
            cur,
            s.a2,
            s.site_a,
            crew,
            "assigned",
            now - timedelta(days=2),
            now - timedelta(days=1),
            None,
            None,
        )
        t4 = _ticket(
            cur,
            s.b1,
            s.site_b,
            None,
            "open",
            now - timedelta(hours=5),
            now + timedelta(days=3),
            None,
            None,
        )
        cur.executemany(
            _ALERT,
            [
                (s.a1, s.site_a, "device_fault", "MECH_JAM", "critical", "open",
                 now - timedelta(hours=1), None, None),
                (s.a2, s.site_a, "device_fault", "STRUCTURE_TILT", "critical", "closed",
                 at(10, 6), at(10, 12), "cleared"),
                (s.a2, s.site_a, "device_fault", "LOW_BATTERY", "minor", "closed",
                 at(11, 2), at(11, 3), "cleared"),
                (s.b1, s.site_b, "device_fault", "TAMPER", "major", "closed",
                 at(11, 3), at(11, 4), "cleared"),
                (s.a2, s.site_a, "citizen_report", "broken", "major", "closed",
                 at(11, 5), at(11, 9), "resolved"),
            ],
        )  # fmt: skip
        cur.executemany(
            _REPORT,
            [
                (s.a2, "broken", True, at(11, 5)),
                (s.b1, "dirty", False, at(10, 8)),
                (s.a2, "broken", False, at(11, 6)),
                (s.a2, "broken", True, datetime(2019, 4, 1, tzinfo=at(1, 0).tzinfo)),  # outside
            ],
        )
    return ManagersSeed(crew_name, t1, t2, t3, t4)
