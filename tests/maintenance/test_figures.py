"""The managers' figures, exactly, from rows each test writes in districts of its own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest

from maintenance.figures import (
    GoodOrder,
    ItemMtbf,
    KindMtbf,
    OnTime,
    OpenTickets,
    Period,
    RepairTimes,
    Scope,
    closed_on_time,
    good_order,
    mtbf_per_item,
    mtbf_per_kind,
    open_tickets,
    repair_times,
)
from tests.maintenance.figure_rows import add_alert, add_ticket
from tests.maintenance.support import make_world

H = timedelta(hours=1)
D = timedelta(days=1)


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url) as connection:
        yield connection


def test_good_order_counts_installed_unretired_items_in_service_without_open_safety_fault(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    now = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)  # 12:00 in China
    world = make_world(database_url, conn, items=6)
    district, c = world.site[:6], world.codes
    conn.execute("UPDATE equipment SET service_status = 'out_of_service' WHERE code = %s", (c[0],))
    add_alert(conn, c[1], raised_at=now - H)  # an open safety fault
    add_alert(conn, c[2], raised_at=now - 3 * H, closed_at=now - H)  # closed before now
    add_alert(conn, c[2], raised_at=now + H, fault="PART_MISSING")  # raised after now
    add_alert(conn, c[3], raised_at=now - H, severity="major")  # not a safety fault
    conn.execute("UPDATE equipment SET service_status = 'retired' WHERE code = %s", (c[4],))
    conn.execute("UPDATE equipment SET installed_on = '2026-06-02' WHERE code = %s", (c[5],))
    conn.commit()
    total = GoodOrder(None, None, 4, 2, 0.5)
    per_district = GoodOrder(district, None, 4, 2, 0.5)
    assert good_order(conn, now, Scope(district=district)) == [total, per_district]
    assert good_order(conn, now, Scope(districts=[district]), by_site=True) == [
        total,
        per_district,
        GoodOrder(district, world.site, 4, 2, 0.5),
    ]
    assert good_order(conn, now, Scope(site=world.site[:7] + "9999")) == [
        GoodOrder(None, None, 0, 0, None)
    ]


def test_repair_times_and_deadlines_over_tickets_closed_in_the_period_by_china_month(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    t0 = datetime(2026, 3, 30, tzinfo=UTC)  # 08:00 on 30 March in China
    world = make_world(database_url, conn, items=4)
    c, crew = world.codes, world.crew_id
    # Closed after 12 h, within its 24 h; resolved after 10 h.
    add_ticket(
        conn,
        c[0],
        crew_id=crew,
        opened_at=t0,
        due_at=t0 + 24 * H,
        resolved_at=t0 + 10 * H,
        closed_at=t0 + 12 * H,
    )
    # Dismissed after 40 h, late: at 00:00 on 1 April in China, so in April.
    add_ticket(conn, c[1], crew_id=crew, opened_at=t0, due_at=t0 + 24 * H, closed_at=t0 + 40 * H)
    add_ticket(conn, c[2], crew_id=crew, opened_at=t0 - 9 * D, due_at=t0, closed_at=t0 - D)
    add_ticket(conn, c[3], crew_id=crew, opened_at=t0, due_at=t0 + 24 * H)  # still open
    conn.commit()
    period, scope = Period(t0, t0 + 7 * D), Scope(district=world.site[:6])
    assert repair_times(conn, period, scope) == [
        RepairTimes(None, 2, 26.0, 1, 10.0),
        RepairTimes(world.site[:6], 2, 26.0, 1, 10.0),
    ]
    name = f"Crew {world.site}"
    assert closed_on_time(conn, period, scope) == [
        OnTime(True, None, None, None, 2, 1, 0.5),
        OnTime(False, date(2026, 3, 1), crew, name, 1, 1, 1.0),
        OnTime(False, date(2026, 4, 1), crew, name, 1, 0, 0.0),
    ]
    empty = Period(t0 + 30 * D, t0 + 31 * D)
    assert repair_times(conn, empty, scope) == [RepairTimes(None, 0, None, 0, None)]
    assert closed_on_time(conn, empty, scope) == [OnTime(True, None, None, None, 0, 0, None)]


def test_mtbf_is_exposure_after_installation_per_device_fault_or_citizen_report(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    world = make_world(database_url, conn, items=3)
    c = world.codes
    conn.execute("UPDATE equipment SET kind = 'leg_press' WHERE code = %s", (c[1],))
    # Installed on 5 March: from 00:00 China time (4 March 16:00 UTC), 152 of the period's 240 h.
    conn.execute("UPDATE equipment SET installed_on = '2026-03-05' WHERE code = %s", (c[2],))
    add_alert(conn, c[0], raised_at=t0 + H, closed_at=t0 + 2 * H)
    add_alert(conn, c[0], raised_at=t0 + 3 * D, fault="LOW_BATTERY", severity="minor")
    add_alert(conn, c[0], raised_at=t0 - H, fault="TAMPER", closed_at=t0)  # before the period
    add_alert(conn, c[0], raised_at=t0 + D, rule="device_offline", fault="")  # not a failure
    add_alert(conn, c[1], raised_at=t0 + 9 * D, rule="citizen_report", fault="broken")
    conn.commit()
    period, scope = Period(t0, t0 + 10 * D), Scope(district=world.site[:6])
    assert mtbf_per_item(conn, period, scope) == [
        ItemMtbf(c[0], "air_walker", 240.0, 2, 120.0),
        ItemMtbf(c[1], "leg_press", 240.0, 1, 240.0),
    ]
    assert mtbf_per_kind(conn, period, scope) == [
        KindMtbf(None, 3, 632.0, 3, pytest.approx(632 / 3)),  # type: ignore[arg-type]
        KindMtbf("air_walker", 2, 392.0, 2, 196.0),
        KindMtbf("leg_press", 1, 240.0, 1, 240.0),
    ]


def test_open_tickets_by_age_bucket_and_crew_at_now(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    now = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
    world = make_world(database_url, conn, items=7)
    other = make_world(database_url, conn, items=1)
    c = world.codes
    for code, age in zip(c, (H, D, 2 * D, 5 * D, 8 * D), strict=False):
        add_ticket(conn, code, crew_id=world.crew_id, opened_at=now - age, due_at=now - age + 3 * D)
    add_ticket(conn, c[5], crew_id=None, opened_at=now - 7 * D, due_at=now + D)
    add_ticket(conn, c[6], crew_id=world.crew_id, opened_at=now - 2 * D, due_at=now, closed_at=now)
    add_ticket(conn, other.codes[0], crew_id=other.crew_id, opened_at=now + H, due_at=now + D)
    conn.commit()
    scope = Scope(districts=[world.site[:6], other.site[:6]])
    assert open_tickets(conn, now, scope) == [
        OpenTickets(True, None, None, 6, 1, 2, 1, 2, 2),
        OpenTickets(False, world.crew_id, f"Crew {world.site}", 5, 1, 2, 1, 1, 2),
        OpenTickets(False, None, None, 1, 0, 0, 0, 1, 0),
    ]
    # The other crew's ticket is open once it has been opened.
    later = open_tickets(conn, now + 2 * H, Scope(site=other.site))
    assert later == [
        OpenTickets(True, None, None, 1, 1, 0, 0, 0, 0),
        OpenTickets(False, other.crew_id, f"Crew {other.site}", 1, 1, 0, 0, 0, 0),
    ]


def test_a_period_must_end_after_it_starts() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="ends after it starts"):
        Period(t0, t0)
