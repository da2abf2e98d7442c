"""GET /api/v1/equipment/state: every item's current state, filtered, sorted and paged within the
caller's districts, against the real database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api.roles_support import District, bearer, make_district

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url) as connection:
        yield connection


@pytest.fixture
def district(database_url: str, conn: psycopg.Connection[Any]) -> District:
    """Three items: the first online with a raised fault and an open ticket, out of service; the
    second offline since its last will; the third never heard."""
    made = make_district(database_url, conn)
    one, two, _ = made.world.codes
    for code, online, seen, reason in (
        (one, True, NOW, None),
        (two, False, NOW - timedelta(hours=5), "will"),
    ):
        conn.execute(
            "INSERT INTO device_state (code, boot, online, last_seen_at, online_changed_at, "
            "offline_reason) VALUES (%s, 1, %s, %s, %s, %s)",
            (code, online, seen, seen, reason),
        )  # fmt: skip
    conn.execute(
        "INSERT INTO device_fault_state (code, fault, boot, seq, state, ts) VALUES "
        "(%s, 'MECH_JAM', 1, 3, 'raised', %s), (%s, 'LOW_BATTERY', 1, 4, 'cleared', %s)",
        (one, NOW, one, NOW),
    )
    conn.execute("UPDATE equipment SET service_status = 'out_of_service' WHERE code = %s", (one,))
    conn.execute(
        "INSERT INTO tickets (code, site_code, severity, title, opened_at, due_at, "
        "last_activity_at) VALUES (%s, %s, 'critical', 'jammed', %s, %s, %s)",
        (one, made.world.site, NOW, NOW + timedelta(days=3), NOW),
    )
    conn.execute(
        "INSERT INTO usage_hourly (code, hour, sessions, reps, duration_s, energy_wh) VALUES "
        "(%s, %s, 1, 10, 60, 0), (%s, %s, 1, 10, 60, 0)",
        (two, NOW.replace(minute=0, second=0) - timedelta(hours=3), two,
         NOW.replace(minute=0, second=0) - timedelta(hours=30)),
    )  # fmt: skip
    conn.commit()
    return made


def states(client: TestClient, token: str, **params: Any) -> Any:
    return client.get("/api/v1/equipment/state", params=params, headers=bearer(token))


def test_every_item_comes_with_its_current_state(district: District, client: TestClient) -> None:
    response = states(client, district.crew)
    assert response.status_code == 200, response.text
    assert response.headers["X-Total-Count"] == "3"
    one, two, three = response.json()
    assert [one["code"], two["code"], three["code"]] == district.world.codes
    assert (one["online"], one["service_status"], one["raised_faults"]) == (
        True, "out_of_service", ["MECH_JAM"],
    )  # fmt: skip
    assert (one["ticket_status"], one["ticket_id"] is not None) == ("open", True)
    assert (two["online"], two["offline_reason"], two["raised_faults"]) == (False, "will", [])
    last_used = NOW.replace(minute=0, second=0) - timedelta(hours=3)
    assert datetime.fromisoformat(two["last_used_hour"]) == last_used
    assert (three["online"], three["last_seen_at"], three["ticket_id"]) == (None, None, None)


def test_filters_sorting_and_pages(district: District, client: TestClient) -> None:
    one, two, three = district.world.codes
    site = district.world.site

    def codes(**params: Any) -> list[str]:
        response = states(client, district.manager, site=site, **params)
        assert response.status_code == 200, response.text
        return [row["code"] for row in response.json()]

    assert codes(presence="online") == [one]
    assert codes(presence="offline") == [two]
    assert codes(presence="never") == [three]
    assert codes(faulty=True) == [one]
    assert codes(faulty=False) == [two, three]
    assert codes(service_status="out_of_service") == [one]
    assert codes(kind="leg_press") == []
    assert codes(sort="-code") == [three, two, one]
    assert codes(sort="-last_seen_at") == [one, two, three]
    assert codes(sort="last_seen_at") == [three, two, one]
    assert codes(sort="-last_used") == [two, one, three]
    assert codes(limit=2) == [one, two]
    paged = states(client, district.manager, site=site, limit=2, offset=2)
    assert [r["code"] for r in paged.json()] == [three]
    assert paged.headers["X-Total-Count"] == "3"


def test_callers_see_their_districts_only_and_bad_filters_are_problems(
    database_url: str, conn: psycopg.Connection[Any], district: District, client: TestClient
) -> None:
    other = make_district(database_url, conn)
    mine = {row["code"] for row in states(client, other.manager, limit=1000).json()}
    assert mine == set(other.world.codes)
    for params, status, said in (
        ({"district": district.district}, 403, "outside your districts"),
        ({"site": district.world.site}, 403, "outside your districts"),
        ({"kind": "trampoline"}, 422, "'trampoline' is not one of"),
        ({"sort": "weight"}, 422, "sort"),
        ({"limit": 0}, 422, "limit"),
        ({"presence": "maybe"}, 422, "presence"),
    ):
        response = states(client, other.manager, **params)
        assert response.status_code == status, (params, response.text)
        assert said in response.json()["detail"]
    assert client.get("/api/v1/equipment/state").status_code == 401
