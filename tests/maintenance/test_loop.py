"""From a device's fault to a repaired machine, against the real database: the inbox and the
rules called directly as functions of `now`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from maintenance.alerts import settle_clears
from maintenance.audit import Actor, history
from maintenance.inbox import take_inbox
from maintenance.rules import close_used_after_repair
from maintenance.ticket_states import TicketAction, TransitionError
from maintenance.tickets import act
from tests.maintenance.support import make_world, one, rows, settings, write_fault

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
SETTINGS = settings(clear_settle_s=120)


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url) as connection:
        yield connection


def take(conn: psycopg.Connection[Any], now: datetime) -> int:
    taken = take_inbox(conn, now, SETTINGS, limit=100_000)
    conn.commit()
    return taken


def alerts_of(conn: psycopg.Connection[Any], code: str) -> list[tuple[Any, ...]]:
    return rows(
        conn,
        "SELECT rule, fault, severity, status, close_reason FROM alerts WHERE subject = %s "
        "ORDER BY id",
        code,
    )


def status_of(conn: psycopg.Connection[Any], code: str) -> str:
    return str(one(conn, "SELECT service_status FROM equipment WHERE code = %s", code))


def test_a_critical_fault_takes_the_item_out_of_service_until_its_ticket_closes(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    world = make_world(database_url, conn)
    code = world.codes[0]
    write_fault(conn, code, 1, ts=T0)
    take(conn, T0 + timedelta(seconds=1))
    assert alerts_of(conn, code) == [("device_fault", "MECH_JAM", "critical", "open", None)]
    assert status_of(conn, code) == "out_of_service"
    ticket = rows(
        conn,
        "SELECT id, status, crew_id, assignee_id, severity, due_at - opened_at FROM tickets "
        "WHERE code = %s",
        code,
    )
    assert len(ticket) == 1
    ticket_id, status, crew, assignee, severity, deadline = ticket[0]
    assert (status, crew, severity, deadline) == (
        "assigned",
        world.crew_id,
        "critical",
        timedelta(hours=24),
    )
    assert assignee in world.members
    # The device clears it; the clear holds; the alert closes, the ticket and the "do not use" stay.
    write_fault(conn, code, 2, state="cleared", ts=T0 + timedelta(minutes=5))
    take(conn, T0 + timedelta(minutes=5))
    settle_clears(conn, T0 + timedelta(minutes=8), SETTINGS)
    conn.commit()
    assert alerts_of(conn, code)[0][3:] == ("closed", "cleared")
    assert status_of(conn, code) == "out_of_service"
    crew_member = Actor.person(assignee)
    for action in (TicketAction.START, TicketAction.RESOLVE):
        act(conn, T0 + timedelta(hours=2), ticket_id, action, crew_member)
    conn.commit()
    assert status_of(conn, code) == "out_of_service"
    act(
        conn,
        T0 + timedelta(hours=3),
        ticket_id,
        TicketAction.VERIFY,
        Actor.person(world.supervisor_id),
    )
    conn.commit()
    assert status_of(conn, code) == "in_service"
    trail = [(e.action, e.from_state, e.to_state) for e in history(conn, "ticket", ticket_id)]
    assert trail == [
        ("opened", None, "assigned"),
        ("start", "assigned", "in_progress"),
        ("resolve", "in_progress", "resolved"),
        ("verify", "resolved", "closed"),
    ]
    equipment_trail = [e.action for e in history(conn, "equipment", code)]
    assert equipment_trail == ["taken out of service", "back in service"]


def test_a_clear_that_overtook_its_raise_leaves_no_open_alert(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    world = make_world(database_url, conn)
    code = world.codes[0]
    write_fault(conn, code, 5, state="cleared", ts=T0 + timedelta(seconds=5))
    take(conn, T0 + timedelta(seconds=6))
    write_fault(conn, code, 4, state="raised", ts=T0 + timedelta(seconds=4))
    take(conn, T0 + timedelta(seconds=7))
    assert alerts_of(conn, code) == []
    assert status_of(conn, code) == "in_service"
    assert "fault event out of order" in [e.action for e in history(conn, "equipment", code)]


def test_both_orders_in_one_take_end_in_the_same_state(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    world = make_world(database_url, conn)
    code = world.codes[0]
    write_fault(conn, code, 9, state="cleared", ts=T0 + timedelta(seconds=9))
    write_fault(conn, code, 8, state="raised", severity="minor", ts=T0 + timedelta(seconds=8))
    take(conn, T0 + timedelta(seconds=10))
    # Ordered by (boot, seq): raised, then cleared; the clear settles.
    settle_clears(conn, T0 + timedelta(minutes=5), SETTINGS)
    conn.commit()
    assert alerts_of(conn, code) == [("device_fault", "MECH_JAM", "minor", "closed", "cleared")]


def test_flapping_is_damped_and_a_raise_after_close_opens_a_new_alert(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    world = make_world(database_url, conn)
    code = world.codes[1]
    for seq, state in enumerate(["raised", "cleared", "raised", "cleared", "raised"], start=1):
        write_fault(conn, code, seq, state=state, severity="major", ts=T0 + timedelta(seconds=seq))
        take(conn, T0 + timedelta(seconds=seq))
        settle_clears(conn, T0 + timedelta(seconds=seq + 30), SETTINGS)
        conn.commit()
    assert alerts_of(conn, code) == [("device_fault", "MECH_JAM", "major", "open", None)]
    write_fault(conn, code, 6, state="cleared", severity="major", ts=T0 + timedelta(seconds=6))
    take(conn, T0 + timedelta(seconds=6))
    settle_clears(conn, T0 + timedelta(minutes=10), SETTINGS)
    write_fault(conn, code, 7, state="raised", severity="major", ts=T0 + timedelta(minutes=11))
    take(conn, T0 + timedelta(minutes=11))
    assert [a[3] for a in alerts_of(conn, code)] == ["closed", "open"]
    # Both alerts are on the item's one unclosed ticket.
    assert one(conn, "SELECT count(DISTINCT ticket_id) FROM alerts WHERE subject = %s", code) == 1


def test_a_raise_for_a_retired_item_is_ignored_and_kept_in_the_trail(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    world = make_world(database_url, conn)
    code = world.codes[2]
    conn.execute("UPDATE equipment SET service_status = 'retired' WHERE code = %s", (code,))
    conn.commit()
    write_fault(conn, code, 1, ts=T0)
    take(conn, T0)
    assert alerts_of(conn, code) == []
    assert one(conn, "SELECT count(*) FROM tickets WHERE code = %s", code) == 0
    assert status_of(conn, code) == "retired"
    assert [e.action for e in history(conn, "equipment", code)] == ["fault ignored"]


def test_a_forbidden_transition_is_a_clear_error_and_changes_nothing(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    world = make_world(database_url, conn)
    code = world.codes[0]
    write_fault(conn, code, 1, severity="minor", ts=T0)
    take(conn, T0)
    ticket_id = one(conn, "SELECT id FROM tickets WHERE code = %s", code)
    with pytest.raises(TransitionError, match="a ticket that is assigned cannot be verified"):
        act(conn, T0, ticket_id, TicketAction.VERIFY, Actor.person(world.supervisor_id))
    conn.rollback()
    with pytest.raises(ValueError, match="give a reason"):
        act(conn, T0, ticket_id, TicketAction.HOLD, Actor.person(world.members[0]), reason=" ")
    conn.rollback()
    assert one(conn, "SELECT status FROM tickets WHERE id = %s", ticket_id) == "assigned"


def test_tickets_go_to_the_least_loaded_member_of_the_districts_crew(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    world = make_world(database_url, conn, items=4, members=2)
    for n, code in enumerate(world.codes):
        write_fault(conn, code, 1, severity="major", ts=T0 + timedelta(seconds=n))
    take(conn, T0 + timedelta(seconds=10))
    loads = rows(
        conn,
        "SELECT assignee_id, count(*) FROM tickets WHERE crew_id = %s GROUP BY 1 ORDER BY 1",
        world.crew_id,
    )
    assert loads == [(world.members[0], 2), (world.members[1], 2)]


def test_a_resolved_ticket_closes_by_itself_once_the_item_is_used_again(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    world = make_world(database_url, conn)
    code = world.codes[0]
    write_fault(conn, code, 1, ts=T0)
    take(conn, T0)
    ticket_id = one(conn, "SELECT id FROM tickets WHERE code = %s", code)
    assignee = Actor.person(world.members[0])
    act(conn, T0 + timedelta(hours=1), ticket_id, TicketAction.RESOLVE, assignee)
    conn.commit()
    assert close_used_after_repair(conn, T0 + timedelta(hours=2), SETTINGS) == 0
    used = T0 + timedelta(hours=3)
    conn.execute(
        "INSERT INTO usage_sessions (code, boot, seq, ts, started_at, duration_s, reps, "
        "received_at) VALUES (%s, 1, 2, %s, %s, 60, 10, %s)",
        (code, used, used, used),
    )
    assert close_used_after_repair(conn, used + timedelta(minutes=1), SETTINGS) == 1
    conn.commit()
    assert one(conn, "SELECT status FROM tickets WHERE id = %s", ticket_id) == "closed"
    assert status_of(conn, code) == "in_service"
    assert history(conn, "ticket", ticket_id)[-1].actor == "used_after_repair"


def test_an_alert_in_a_maintenance_window_is_kept_silenced_without_a_ticket(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    world = make_world(database_url, conn)
    code = world.codes[0]
    conn.execute(
        "INSERT INTO maintenance_windows (site_code, starts_at, ends_at, reason) "
        "VALUES (%s, %s, %s, 'repainting')",
        (world.site, T0 - timedelta(hours=1), T0 + timedelta(hours=1)),
    )
    conn.commit()
    write_fault(conn, code, 1, ts=T0)
    take(conn, T0)
    assert rows(conn, "SELECT silenced, ticket_id FROM alerts WHERE subject = %s", code) == [
        (True, None)
    ]
    assert status_of(conn, code) == "in_service"
