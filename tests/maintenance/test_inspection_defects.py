"""An inspection's defects reach the maintenance loop through the inbox, as citizens' reports do:
a failed check of an item opens one alert (its fault the check's key) and a ticket; the same
defect found again while that alert is open adds none; a passed inspection opens nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from maintenance.inbox import take_inbox
from maintenance.inspections import InspectionError, record_inspection
from tests.maintenance.support import World, make_world, one, rows, settings

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url) as connection:
        yield connection


@pytest.fixture
def world(database_url: str, conn: psycopg.Connection[Any]) -> World:
    return make_world(database_url, conn)  # three air walkers


def inspect(
    conn: psycopg.Connection[Any], world: World, at: datetime, items: dict[str, dict[str, str]]
) -> int:
    """Record an inspection with these item findings, as the crew pages send them; then take the
    inbox as the maintenance service would."""
    findings = {"site": {"surface": "ok", "signage": "ok"}, "items": items}
    inspection = record_inspection(
        conn, at, site_code=world.site, inspector_id=world.members[0], findings=findings
    )
    conn.commit()
    take_inbox(conn, at, settings(), limit=100_000)
    conn.commit()
    return inspection.id


def alerts_of(conn: psycopg.Connection[Any], code: str) -> list[tuple[Any, ...]]:
    return rows(
        conn,
        "SELECT rule, fault, severity, status, ticket_id IS NOT NULL, detail FROM alerts "
        "WHERE subject = %s ORDER BY id",
        code,
    )


def tickets_of(conn: psycopg.Connection[Any], code: str) -> list[tuple[Any, ...]]:
    return rows(conn, "SELECT severity, status, crew_id, title FROM tickets WHERE code = %s", code)


def test_a_failed_check_opens_one_alert_and_a_ticket(
    conn: psycopg.Connection[Any], world: World
) -> None:
    code = world.codes[0]
    inspection = inspect(conn, world, T0, {code: {"structure": "defect", "fasteners": "ok"}})
    [(rule, fault, severity, status, linked, detail)] = alerts_of(conn, code)
    assert (rule, fault, severity, status, linked) == (
        "inspection_defect",
        "structure",
        "major",
        "open",
        True,
    )
    assert detail == (
        f"inspection {inspection}, failed check: "
        "立柱、主体无开裂、变形、严重锈蚀 / Frame free of cracks, bends, heavy rust"
    )
    [(t_severity, t_status, crew, title)] = tickets_of(conn, code)
    assert (t_severity, t_status, crew) == ("major", "assigned", world.crew_id)
    assert "Frame free of cracks" in title
    # a major defect is wear to repair, not a hazard: the item stays in service
    assert one(conn, "SELECT service_status FROM equipment WHERE code = %s", code) == "in_service"
    actor = (
        "SELECT actor FROM audit_trail WHERE entity = 'alert' AND action = 'raised' "
        "AND detail LIKE %s"
    )
    assert one(conn, actor, f"%inspection {inspection},%") == f"inspection_{inspection}"
    assert alerts_of(conn, world.codes[1]) == []


def test_a_passed_inspection_opens_nothing(conn: psycopg.Connection[Any], world: World) -> None:
    every_check_ok = {code: {"structure": "ok", "limit_stop": "ok"} for code in world.codes}
    inspect(conn, world, T0, every_check_ok)
    inspect(conn, world, T0 + timedelta(hours=1), {})  # nothing but the site's checks
    for code in world.codes:
        assert alerts_of(conn, code) == []
        assert tickets_of(conn, code) == []
    waiting = "SELECT count(*) FROM maintenance_inbox WHERE subject = ANY(%s)"
    assert one(conn, waiting, world.codes) == 0


def test_the_same_defect_found_again_while_its_alert_is_open_adds_no_second_alert(
    conn: psycopg.Connection[Any], world: World
) -> None:
    code = world.codes[0]
    inspect(conn, world, T0, {code: {"parts": "defect"}})
    inspect(conn, world, T0 + timedelta(days=7), {code: {"parts": "defect"}})
    assert [a[:4] for a in alerts_of(conn, code)] == [
        ("inspection_defect", "parts", "major", "open")
    ]
    # another defect of the item is an alert of its own, joining the item's one ticket
    inspect(conn, world, T0 + timedelta(days=8), {code: {"parts": "defect", "labels": "defect"}})
    assert [(a[1], a[2], a[4]) for a in alerts_of(conn, code)] == [
        ("parts", "major", True),
        ("labels", "minor", True),
    ]
    assert len(tickets_of(conn, code)) == 1


def test_an_entrapment_gap_is_critical_and_takes_the_item_out_of_service(
    conn: psycopg.Connection[Any], world: World
) -> None:
    code = world.codes[2]
    inspect(conn, world, T0, {code: {"entrapment": "defect"}})
    assert [a[:4] for a in alerts_of(conn, code)] == [
        ("inspection_defect", "entrapment", "critical", "open")
    ]
    assert [t[:2] for t in tickets_of(conn, code)] == [("critical", "assigned")]
    status = "SELECT service_status FROM equipment WHERE code = %s"
    assert one(conn, status, code) == "out_of_service"


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ({"{other}": {"structure": "defect"}}, "is no item in service at this site"),
        ({"{code}": {"electrics": "defect"}}, "'electrics' is no check of kind air_walker"),
        ({"{code}": {"structure": "broken"}}, "answer ok or defect, not 'broken'"),
        ({"{code}": ["structure"]}, "map each check to ok or defect"),
    ],
)
def test_findings_that_name_no_check_of_the_sites_items_are_refused_and_nothing_is_recorded(
    conn: psycopg.Connection[Any],
    database_url: str,
    world: World,
    items: dict[str, Any],
    message: str,
) -> None:
    other = make_world(database_url, conn, items=1).codes[0]
    named = {k.format(code=world.codes[0], other=other): v for k, v in items.items()}
    with pytest.raises(InspectionError, match=message):
        record_inspection(
            conn, T0, site_code=world.site, inspector_id=None, findings={"items": named}
        )
    conn.rollback()
    assert one(conn, "SELECT count(*) FROM inspections WHERE site_code = %s", world.site) == 0
