"""The maintenance service as its own process against the real database (and the real broker and
ingest where a device publishes): it takes faults within moments of ingest's commit, misses
nothing while it is down, and two instances at once still make every effect once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from maintenance.inbox import take_inbox
from maintenance.service import tick
from tests.maintenance.process import MaintenanceProcess
from tests.maintenance.support import World, make_world, one, rows, settings, write_fault
from tests.support import IngestProcess, Publisher, item_topic, v1, wait_until

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def database_url(service_database_url: str) -> str:
    return service_database_url


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


def inbox_of(conn: psycopg.Connection[Any], world: World) -> int:
    return int(
        one(conn, "SELECT count(*) FROM maintenance_inbox WHERE left(subject, 11) = %s", world.site)
    )


def audit_of(conn: psycopg.Connection[Any], entity: str, entity_id: object) -> list[str]:
    found = rows(
        conn,
        "SELECT action FROM audit_trail WHERE entity = %s AND entity_id = %s ORDER BY id",
        entity,
        str(entity_id),
    )
    return [action for (action,) in found]


def out_of_service_with_ticket(conn: psycopg.Connection[Any], code: str) -> bool:
    return bool(
        one(
            conn,
            "SELECT e.service_status = 'out_of_service' AND EXISTS "
            "(SELECT 1 FROM tickets t WHERE t.code = e.code AND t.status <> 'closed') "
            "FROM equipment e WHERE e.code = %s",
            code,
        )
    )


def test_a_critical_fault_a_device_publishes_takes_its_item_out_of_service_with_a_ticket(
    database_url: str,
    conn: psycopg.Connection[Any],
    ingest_factory: Callable[..., IngestProcess],
    maintenance_factory: Callable[..., MaintenanceProcess],
    publisher: Publisher,
    topic_root: str,
) -> None:
    world = make_world(database_url, conn, items=2)
    code = world.codes[0]
    ingest_factory()
    maintenance_factory(FITMON_CLEAR_SETTLE_S="1").start()
    topic = item_topic(topic_root, code, "fault")
    tilt = {"fault": "STRUCTURE_TILT", "severity": "critical"}
    published = time.monotonic()
    publisher.publish(topic, {**v1(code, 1), **tilt, "state": "raised", "detail": "frame leans 9°"})
    wait_until(lambda: out_of_service_with_ticket(conn, code), 10, "out of service, a ticket")
    print(f"published to out of service with a ticket: {time.monotonic() - published:.3f} s")
    alert = rows(
        conn,
        "SELECT id, severity, status, ticket_id IS NOT NULL FROM alerts "
        "WHERE subject = %s AND rule = 'device_fault'",
        code,
    )
    assert [a[1:] for a in alert] == [("critical", "open", True)]
    # The device clears it: the alert closes once the clear has held for the settle time (1 s);
    # the ticket, and the "do not use", stay until a person closes the ticket.
    publisher.publish(topic, {**v1(code, 2), **tilt, "state": "cleared"})
    closed = wait_until(
        lambda: one(
            conn,
            "SELECT closed_at - clearing_since FROM alerts WHERE id = %s AND close_reason = "
            "'cleared'",
            alert[0][0],
        ),
        10,
        "the alert to close after the settle time",
    )
    assert closed >= timedelta(seconds=1)
    assert out_of_service_with_ticket(conn, code)
    assert world.codes[1] not in [s for (s,) in rows(conn, "SELECT subject FROM alerts")]


def test_faults_stored_while_the_service_is_down_are_taken_when_it_starts(
    database_url: str,
    conn: psycopg.Connection[Any],
    maintenance_factory: Callable[..., MaintenanceProcess],
) -> None:
    world = make_world(database_url, conn, items=3)
    service = maintenance_factory().start()
    service.stop()
    now = datetime.now(UTC)
    for n, code in enumerate(world.codes):
        write_fault(conn, code, 1, severity="critical" if n else "major", ts=now)
    assert inbox_of(conn, world) == 3
    service.start()
    wait_until(lambda: inbox_of(conn, world) == 0, 10, "the inbox taken on start")
    assert rows(
        conn,
        "SELECT e.code, e.service_status, count(DISTINCT a.id), count(DISTINCT t.id) "
        "FROM equipment e JOIN alerts a ON a.subject = e.code JOIN tickets t ON t.code = e.code "
        "WHERE e.site_code = %s GROUP BY 1, 2 ORDER BY 1",
        world.site,
    ) == [
        (world.codes[0], "in_service", 1, 1),
        (world.codes[1], "out_of_service", 1, 1),
        (world.codes[2], "out_of_service", 1, 1),
    ]


# Per item, in order: what the two services get to race on, and the one audit trail it makes.
RACE_EVENTS = [
    ("MECH_JAM", "major", "raised"),
    ("STRUCTURE_TILT", "critical", "raised"),
    ("MECH_JAM", "major", "cleared"),  # settles only after 120 s: it stays open
    ("MECH_JAM", "major", "raised"),
]


def test_two_services_racing_on_the_same_faults_make_every_effect_once(
    database_url: str,
    conn: psycopg.Connection[Any],
    maintenance_factory: Callable[..., MaintenanceProcess],
) -> None:
    world = make_world(database_url, conn, items=40, members=3)
    services = [maintenance_factory(FITMON_CLEAR_SETTLE_S="120").start() for _ in range(2)]
    now = datetime.now(UTC)

    def write(codes: list[str]) -> None:
        # Several writers, each a transaction per event, as ingest's workers commit.
        with psycopg.connect(database_url) as writer:
            for seq, (fault, severity, state) in enumerate(RACE_EVENTS, start=1):
                for code in codes:
                    write_fault(
                        writer,
                        code,
                        seq,
                        fault=fault,
                        severity=severity,
                        state=state,
                        ts=now + timedelta(seconds=seq),
                    )

    writers = [threading.Thread(target=write, args=(world.codes[k::4],)) for k in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    wait_until(lambda: inbox_of(conn, world) == 0, 20, "both services to take the inbox")
    assert all(service.running for service in services)
    print("inbox takes per service:", [s.log().count('"inbox taken"') for s in services])
    alerts = rows(
        conn,
        "SELECT subject, fault, count(*), count(*) FILTER (WHERE status = 'open'), "
        "count(DISTINCT ticket_id) FROM alerts WHERE site_code = %s GROUP BY 1, 2 ORDER BY 1, 2",
        world.site,
    )
    assert alerts == [
        (code, fault, 1, 1, 1) for code in world.codes for fault in ("MECH_JAM", "STRUCTURE_TILT")
    ]
    tickets = rows(
        conn,
        "SELECT code, id, severity, takes_out_of_service FROM tickets WHERE site_code = %s "
        "AND status <> 'closed' ORDER BY code",
        world.site,
    )
    assert [(t[0], t[2], t[3]) for t in tickets] == [(c, "critical", True) for c in world.codes]
    for code, ticket_id, _, _ in tickets:
        jam, tilt = rows(conn, "SELECT id FROM alerts WHERE subject = %s ORDER BY fault", code)
        assert audit_of(conn, "alert", jam[0]) == ["raised", "cleared", "raised again"]
        assert audit_of(conn, "alert", tilt[0]) == ["raised"]
        assert audit_of(conn, "ticket", ticket_id) == ["opened", "made more urgent"]
        assert audit_of(conn, "equipment", code) == ["taken out of service"]
    notices = one(
        conn,
        "SELECT count(*) FROM ticket_notices n JOIN tickets t ON t.id = n.ticket_id "
        "WHERE t.site_code = %s AND n.kind = 'assigned'",
        world.site,
    )
    assert notices == len(world.codes)


def test_ticks_from_two_connections_at_once_make_each_notice_once(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    world = make_world(database_url, conn, items=4)
    ruled = settings(database_url=database_url)
    critical, major = world.codes[:2], world.codes[2:]
    for code in world.codes:
        write_fault(conn, code, 1, severity="critical" if code in critical else "major", ts=T0)
    with psycopg.connect(database_url) as taker:
        take_inbox(taker, T0, ruled, limit=100_000)
        taker.commit()
    tickets = dict(rows(conn, "SELECT code, id FROM tickets WHERE site_code = %s", world.site))
    # Critical tickets are due at T0+24h, major ones at T0+72h; reminders 4 h before, then an
    # escalation every 12 h past the deadline.
    moments = [T0 + timedelta(hours=h) for h in (21, 25, 37, 38, 69, 73)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def ticker() -> None:
        try:
            with psycopg.connect(database_url) as own:
                for now in moments:
                    barrier.wait(10)
                    tick(own, now, ruled)
        except BaseException as exc:  # reported by the test below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=ticker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    made = rows(
        conn,
        "SELECT t.code, n.kind, n.round, count(*) FROM ticket_notices n "
        "JOIN tickets t ON t.id = n.ticket_id WHERE t.site_code = %s AND n.kind <> 'assigned' "
        "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        world.site,
    )
    expected = [
        *[
            (c, kind, r, 1)
            for c in critical
            for kind, r in (
                ("escalation", 0),
                ("escalation", 1),
                ("escalation", 3),
                ("escalation", 4),
                ("reminder", 0),
            )
        ],
        *[(c, kind, 0, 1) for c in major for kind in ("escalation", "reminder")],
    ]
    assert made == sorted(expected)
    for code, ticket_id in tickets.items():
        trail = audit_of(conn, "ticket", ticket_id)
        escalations = 4 if code in critical else 1
        assert (trail.count("reminder"), trail.count("escalation")) == (1, escalations)
