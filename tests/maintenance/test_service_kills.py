"""The maintenance service killed with SIGKILL mid-work, then restarted: an event's alert, its
ticket, the item out of service, the audit trail and the event leaving the inbox are one
transaction, so a kill leaves all of them or none, and the restart does what was left once."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.maintenance.process import MaintenanceProcess
from tests.maintenance.support import World, make_world, one, rows, write_fault
from tests.support import wait_until

# A maintenance backend inside a transaction that has written (it holds a transaction id).
_WRITING = """
SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND application_name = 'fitmon-maintenance'
  AND backend_xid IS NOT NULL
"""


@pytest.fixture(scope="module")
def database_url(service_database_url: str) -> str:
    return service_database_url


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


def query(conn: psycopg.Connection[Any], sql: str, **params: object) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(sql, params).fetchall()]


def backend_gone(conn: psycopg.Connection[Any], pid: int) -> bool:
    return not one(conn, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", pid)


def test_killed_between_opening_an_alert_and_its_ticket_it_leaves_neither_and_restarts(
    database_url: str,
    conn: psycopg.Connection[Any],
    maintenance_factory: Callable[..., MaintenanceProcess],
) -> None:
    world = make_world(database_url, conn, items=1)
    code = world.codes[0]
    service = maintenance_factory().start()
    # Hold the item's row: the service opens the alert, then stops at its ticket's insert (whose
    # foreign key must lock the item's row), inside the transaction that took the event.
    with psycopg.connect(database_url) as holder:
        holder.execute("SELECT 1 FROM equipment WHERE code = %s FOR UPDATE", (code,))
        write_fault(conn, code, 1, fault="PART_MISSING", ts=datetime.now(UTC))
        pid = wait_until(
            lambda: one(
                conn,
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'fitmon-maintenance' "
                "AND wait_event_type = 'Lock' AND query LIKE '%%INSERT INTO tickets%%'",
            ),
            10,
            "the service to wait at the ticket's insert",
        )
        wrote_alert = one(
            conn,
            "SELECT count(*) FROM pg_locks WHERE pid = %s AND relation = 'alerts'::regclass "
            "AND mode = 'RowExclusiveLock' AND granted",
            pid,
        )
        assert wrote_alert == 1, "the alert is opened in the transaction that waits"
        service.kill()
        holder.rollback()
    wait_until(lambda: backend_gone(conn, pid), 10, "its backend to roll back and end")
    assert one(conn, "SELECT count(*) FROM alerts WHERE subject = %s", code) == 0
    assert one(conn, "SELECT count(*) FROM tickets WHERE code = %s", code) == 0
    assert one(conn, "SELECT count(*) FROM audit_trail WHERE entity_id = %s", code) == 0
    assert one(conn, "SELECT count(*) FROM maintenance_inbox WHERE subject = %s", code) == 1
    service.start()
    wait_until(
        lambda: one(conn, "SELECT count(*) FROM maintenance_inbox WHERE subject = %s", code) == 0,
        10,
        "the restarted service to take the event",
    )
    (alert_id, ticket_id, status), *more = rows(
        conn,
        "SELECT a.id, a.ticket_id, e.service_status FROM alerts a "
        "JOIN equipment e ON e.code = a.subject WHERE a.subject = %s",
        code,
    )
    assert (more, status, ticket_id is not None) == ([], "out_of_service", True)
    trail = rows(
        conn,
        "SELECT entity, action FROM audit_trail WHERE (entity, entity_id) IN "
        "(('alert', %s), ('ticket', %s), ('equipment', %s)) ORDER BY id",
        str(alert_id),
        str(ticket_id),
        code,
    )
    assert trail == [
        ("alert", "raised"),
        ("ticket", "opened"),
        ("equipment", "taken out of service"),
    ]


# Each item's events, in order: a raise of the first fault, then a second fault raised and cleared.
def _events(n: int) -> list[tuple[str, str, str]]:
    first = ("PART_MISSING", "critical") if n % 2 == 0 else ("TAMPER", "major")
    return [
        (*first, "raised"),
        ("LOW_BATTERY", "minor", "raised"),
        ("LOW_BATTERY", "minor", "cleared"),
    ]


def test_killed_again_and_again_while_taking_a_stream_of_faults_it_ends_consistent(
    database_url: str,
    conn: psycopg.Connection[Any],
    maintenance_factory: Callable[..., MaintenanceProcess],
) -> None:
    world: World = make_world(database_url, conn, items=120)
    service = maintenance_factory(FITMON_CLEAR_SETTLE_S="120")
    now = datetime.now(UTC)
    written = threading.Event()

    def stream() -> None:
        # Chunks of 30 events, each one transaction, as an ingest worker commits a chunk.
        with psycopg.connect(database_url) as writer:
            for seq in range(1, 4):
                for start in range(0, len(world.codes), 30):
                    for n, code in enumerate(world.codes[start : start + 30], start=start):
                        fault, severity, state = _events(n)[seq - 1]
                        writer.execute(
                            "INSERT INTO fault_events (code, boot, seq, ts, fault, severity, "
                            "state, received_at) VALUES (%s, 1, %s, %s, %s, %s, %s, %s)",
                            (code, seq, now + timedelta(seconds=seq), fault, severity, state, now),
                        )
                    writer.commit()
        written.set()

    writer = threading.Thread(target=stream)
    writer.start()
    rng = random.Random(7)
    kills = mid_write = 0
    while kills < 6:
        service.start()
        # Kill it the moment one of its transactions is seen writing, or after a little while.
        try:
            wait_until(lambda: one(conn, _WRITING), rng.uniform(0.05, 0.4), interval=0.002)
            mid_write += 1
        except AssertionError:
            pass
        service.kill()
        kills += 1
    writer.join(30)
    assert written.is_set()
    service.start()
    wait_until(
        lambda: (
            one(
                conn,
                "SELECT count(*) FROM maintenance_inbox WHERE left(subject, 11) = %s",
                world.site,
            )
            == 0
        ),
        20,
        "the last start to take what is left",
    )
    print(f"{kills} kills, {mid_write} seen inside a writing transaction")
    check_consistent(conn, world)


def check_consistent(conn: psycopg.Connection[Any], world: World) -> None:
    """Every raised (item, fault) has one alert on the item's one unclosed ticket; critical
    items are out of service; each change is in the audit trail once."""
    alerts = rows(
        conn,
        "SELECT a.subject, a.fault, a.severity, a.clearing_since IS NOT NULL, count(*) OVER w, "
        "a.ticket_id = t.id, t.takes_out_of_service, e.service_status "
        "FROM alerts a JOIN equipment e ON e.code = a.subject "
        "LEFT JOIN tickets t ON t.code = a.subject AND t.status <> 'closed' "
        "WHERE a.site_code = %s WINDOW w AS (PARTITION BY a.subject, a.fault) "
        "ORDER BY a.subject, a.fault",
        world.site,
    )
    expected = []
    for n, code in enumerate(world.codes):
        critical = n % 2 == 0
        first = ("PART_MISSING", "critical") if critical else ("TAMPER", "major")
        status = "out_of_service" if critical else "in_service"
        rows_of = [(code, *first, False), (code, "LOW_BATTERY", "minor", True)]
        expected += sorted((*r, 1, True, critical, status) for r in rows_of)
    assert alerts == expected
    duplicated = query(
        conn,
        "SELECT entity, entity_id, action, count(*) FROM audit_trail "
        "WHERE entity_id IN (SELECT id::text FROM alerts WHERE site_code = %(site)s) "
        "OR entity_id IN (SELECT id::text FROM tickets WHERE site_code = %(site)s) "
        "OR left(entity_id, 11) = %(site)s "
        "GROUP BY 1, 2, 3 HAVING count(*) > 1",
        site=world.site,
    )
    assert duplicated == []
    counts = query(
        conn,
        "SELECT action, count(*) FROM audit_trail WHERE (entity = 'alert' AND entity_id IN "
        "(SELECT id::text FROM alerts WHERE site_code = %(site)s)) OR (entity = 'ticket' AND "
        "entity_id IN (SELECT id::text FROM tickets WHERE site_code = %(site)s)) OR "
        "(entity = 'equipment' AND left(entity_id, 11) = %(site)s) GROUP BY 1 ORDER BY 1",
        site=world.site,
    )
    items = len(world.codes)
    assert counts == sorted(
        [
            ("cleared", items),
            ("opened", items),
            ("raised", 2 * items),
            ("taken out of service", items // 2),
        ]
    )
