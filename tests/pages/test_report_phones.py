"""A citizen's phone number is kept while a ticket needs the follow-up call, then erased."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from maintenance.audit import Actor
from maintenance.inbox import take_inbox
from maintenance.report_phones import erase_report_phones, mask_phone
from maintenance.reports import file_report
from maintenance.ticket_states import TicketAction
from maintenance.tickets import act
from tests.maintenance.support import make_world, settings


def phone_of(conn: psycopg.Connection[Any], report_id: int) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT phone, phone_erased_at IS NOT NULL FROM citizen_reports WHERE id = %s",
        (report_id,),
    ).fetchone()
    conn.commit()
    assert row is not None
    return tuple(row)


def test_the_phone_is_kept_while_the_ticket_is_open_and_erased_once_it_closes(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    world = make_world(database_url, conn)
    now = datetime.now(UTC)
    report = file_report(
        conn,
        now,
        code=world.codes[0],
        category="broken",
        hazard=True,
        description="断了",
        phone="13800138000",
    )
    take_inbox(conn, now, settings(), limit=100_000)
    conn.commit()
    erase_report_phones(conn, now + timedelta(days=60), settings())
    conn.commit()
    assert phone_of(conn, report.id) == ("13800138000", False)  # its ticket is still open
    ticket = conn.execute(
        "SELECT id FROM tickets WHERE code = %s AND status <> 'closed'", (world.codes[0],)
    ).fetchone()
    assert ticket is not None
    person = Actor.person(world.supervisor_id)
    for action in (TicketAction.START, TicketAction.RESOLVE, TicketAction.VERIFY):
        act(conn, now, ticket[0], action, person)
    conn.commit()
    assert erase_report_phones(conn, now + timedelta(seconds=1), settings()) >= 1
    conn.commit()
    assert phone_of(conn, report.id) == (None, True)


def test_a_phone_no_ticket_came_of_is_erased_after_30_days(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    world = make_world(database_url, conn)
    then = datetime.now(UTC) - timedelta(days=31)
    report = file_report(
        conn,
        then,
        code=world.codes[1],
        category="dirty",
        hazard=False,
        description="脏",
        phone="+86 139 1234 5678",
    )
    conn.execute("DELETE FROM maintenance_inbox WHERE report_id = %s", (report.id,))
    conn.commit()
    erase_report_phones(conn, then + timedelta(days=29), settings())
    conn.commit()
    assert phone_of(conn, report.id)[0] == "+86 139 1234 5678"
    erase_report_phones(conn, datetime.now(UTC), settings())
    conn.commit()
    assert phone_of(conn, report.id) == (None, True)


def test_phones_are_masked_but_for_the_first_three_and_last_four_digits() -> None:
    assert mask_phone("13800138000") == "138****8000"
    assert mask_phone("138-0013-8000") == "138****8000"
    assert mask_phone("+86 139 1234 5678") == "*********5678"
