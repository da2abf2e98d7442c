"""The time-based rules, each called as a function of `now` against the real database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest

from maintenance.alerts import settle_clears
from maintenance.inbox import take_inbox
from maintenance.rules import (
    check_deadlines,
    check_inspections,
    check_service_life,
    check_unused,
    clear_back_online,
)
from tests.maintenance.support import make_world, one, rows, settings, write_fault

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
SETTINGS = settings()


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url) as connection:
        yield connection


def test_items_past_or_near_their_safe_service_life_get_an_alert_once(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    world = make_world(database_url, conn)
    past, near, young = world.codes
    today = T0.date()
    for code, installed in (
        (past, date(today.year - 9, 1, 1)),
        (near, today.replace(year=today.year - 8) + timedelta(days=30)),
        (young, today.replace(year=today.year - 2)),
    ):
        conn.execute("UPDATE equipment SET installed_on = %s WHERE code = %s", (installed, code))
    conn.commit()
    for _ in range(2):  # a second run finds them open and adds nothing
        check_service_life(conn, T0, SETTINGS)
        conn.commit()
    found = rows(
        conn,
        "SELECT subject, rule, severity, ticket_id IS NOT NULL FROM alerts "
        "WHERE site_code = %s ORDER BY subject",
        world.site,
    )
    assert found == [
        (past, "service_life_past", "major", True),
        (near, "service_life_near", "minor", False),
    ]


def test_a_site_not_inspected_within_its_interval_gets_an_alert_until_inspected(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    world = make_world(database_url, conn)
    conn.execute(
        "UPDATE sites SET created_at = %s, inspection_interval_days = 7 WHERE code = %s",
        (T0 - timedelta(days=30), world.site),
    )
    conn.execute(
        "INSERT INTO inspections (site_code, inspected_at) VALUES (%s, %s)",
        (world.site, T0 - timedelta(days=6)),
    )
    conn.commit()
    check_inspections(conn, T0, SETTINGS)
    conn.commit()
    assert one(conn, "SELECT count(*) FROM alerts WHERE subject = %s", world.site) == 0
    later = T0 + timedelta(days=2)
    check_inspections(conn, later, SETTINGS)
    check_inspections(conn, later, SETTINGS)
    conn.commit()
    assert rows(conn, "SELECT rule, status FROM alerts WHERE subject = %s", world.site) == [
        ("inspection_overdue", "open")
    ]
    conn.execute(
        "INSERT INTO inspections (site_code, inspected_at) VALUES (%s, %s)",
        (world.site, later + timedelta(hours=1)),
    )
    check_inspections(conn, later + timedelta(hours=2), SETTINGS)
    conn.commit()
    assert rows(conn, "SELECT rule, status FROM alerts WHERE subject = %s", world.site) == [
        ("inspection_overdue", "closed")
    ]


def test_a_reminder_before_the_deadline_and_escalations_after_it_each_once(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    world = make_world(database_url, conn)
    code = world.codes[0]
    write_fault(conn, code, 1, ts=T0)  # critical: 24 hours
    take_inbox(conn, T0, SETTINGS)
    conn.commit()
    ticket_id = one(conn, "SELECT id FROM tickets WHERE code = %s", code)
    assignee = one(conn, "SELECT assignee_id FROM tickets WHERE id = %s", ticket_id)
    for hours in (1, 19, 20.5, 21, 24.5, 30, 36.5, 37):
        check_deadlines(conn, T0 + timedelta(hours=hours), SETTINGS)
        conn.commit()
    notices = rows(
        conn,
        "SELECT kind, round, person_id FROM ticket_notices WHERE ticket_id = %s ORDER BY id",
        ticket_id,
    )
    assert notices == [
        ("assigned", 0, assignee),
        ("reminder", 0, assignee),
        ("escalation", 0, world.supervisor_id),
        ("escalation", 1, world.supervisor_id),
    ]


def test_an_online_item_unused_far_longer_than_its_history_makes_likely_gets_an_alert(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    world = make_world(database_url, conn)
    busy, quiet = world.codes[0], world.codes[1]
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai
    # Eight weeks of history: the busy item has 3 sessions every hour from 06:00 to 21:00
    # Shanghai time; the quiet one a session each Monday morning.
    for week in range(8):
        for day in range(7):
            midnight = (now - timedelta(weeks=week + 1, days=day)).replace(hour=16)  # 00:00 CST
            for local_hour in range(6, 21):
                hour = midnight + timedelta(hours=local_hour)
                conn.execute(
                    "INSERT INTO usage_hourly (code, hour, sessions, reps, duration_s, energy_wh) "
                    "VALUES (%s, %s, 3, 30, 300, 0)",
                    (busy, hour),
                )
            if day == 0:
                conn.execute(
                    "INSERT INTO usage_hourly (code, hour, sessions, reps, duration_s, energy_wh) "
                    "VALUES (%s, %s, 1, 10, 100, 0)",
                    (quiet, midnight + timedelta(hours=9)),
                )
    for code in (busy, quiet):
        conn.execute(
            "INSERT INTO device_state (code, boot, online, last_seen_at, online_changed_at) "
            "VALUES (%s, 1, true, %s, %s)",
            (code, now, now),
        )
    conn.commit()
    check_unused(conn, now, SETTINGS)
    conn.commit()
    found = rows(conn, "SELECT subject, rule FROM alerts WHERE site_code = %s", world.site)
    assert found == [(busy, "unused")]
    conn.execute(
        "INSERT INTO usage_hourly (code, hour, sessions, reps, duration_s, energy_wh) "
        "VALUES (%s, %s, 1, 10, 100, 0)",
        (busy, now),
    )
    conn.commit()
    check_unused(conn, now + timedelta(hours=1), SETTINGS)
    conn.commit()
    assert (
        one(conn, "SELECT clearing_since IS NOT NULL FROM alerts WHERE subject = %s", busy) is True
    )


def test_a_device_offline_gets_an_alert_and_heard_again_its_clear_starts(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    world = make_world(database_url, conn)
    code = world.codes[0]
    gone = T0 - timedelta(minutes=20)
    conn.execute(
        "INSERT INTO device_state (code, boot, online, online_changed_at, offline_reason) "
        "VALUES (%s, 1, false, %s, 'will')",
        (code, gone),
    )
    conn.execute(  # as ingest writes a will: its trigger tells the maintenance inbox
        "INSERT INTO device_presence (code, at, online, reason, boot) VALUES (%s, %s, false, "
        "'will', 1)",
        (code, gone),
    )
    conn.commit()
    take_inbox(conn, T0, SETTINGS)
    conn.commit()
    assert rows(
        conn, "SELECT rule, severity, status, clearing_since FROM alerts WHERE subject = %s", code
    ) == [("device_offline", "minor", "open", None)]
    clear_back_online(conn, T0, SETTINGS)  # still offline: its clear does not start
    conn.commit()
    assert one(conn, "SELECT clearing_since FROM alerts WHERE subject = %s", code) is None
    back = T0 + timedelta(minutes=5)
    conn.execute(
        "UPDATE device_state SET online = true, online_changed_at = %s WHERE code = %s",
        (back, code),
    )
    conn.commit()
    assert clear_back_online(conn, back, SETTINGS) >= 1  # other tests' devices may be back too
    conn.commit()
    assert one(conn, "SELECT clearing_since FROM alerts WHERE subject = %s", code) == back
    settle_clears(conn, back + timedelta(seconds=SETTINGS.clear_settle_s), SETTINGS)
    conn.commit()
    assert rows(conn, "SELECT status, close_reason FROM alerts WHERE subject = %s", code) == [
        ("closed", "cleared")
    ]
