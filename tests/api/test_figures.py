"""The figures' routes with a manager's credential: only the manager's districts, exact figures."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.maintenance.figure_rows import add_alert, add_ticket
from tests.maintenance.support import World, add_person, make_world

NOW = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url) as connection:
        yield connection


def credential(conn: psycopg.Connection[Any], role: str, districts: list[str]) -> dict[str, str]:
    """A person of `role` seeing `districts`, and the bearer header of an API token of theirs."""
    person = add_person(conn, role, f"Test {role}")
    for district in districts:
        conn.execute(
            "INSERT INTO manager_districts (person_id, district) VALUES (%s, %s)",
            (person, district),
        )
    token = "fm_" + secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO credentials (token_hash, person_id, kind, name) "
        "VALUES (%s, %s, 'api_token', 'test')",
        (hashlib.sha256(token.encode()).digest(), person),
    )
    conn.commit()
    return {"authorization": f"Bearer {token}"}


def two_districts(database_url: str, conn: psycopg.Connection[Any]) -> tuple[World, World]:
    """Two worlds: in the first, one of two items has an open safety fault and a ticket open for
    two days; in the second, its one item is fine and a ticket was closed late."""
    mine = make_world(database_url, conn, items=2)
    other = make_world(database_url, conn, items=1)
    add_alert(conn, mine.codes[0], raised_at=NOW - 2 * timedelta(days=1))
    add_ticket(
        conn,
        mine.codes[0],
        crew_id=mine.crew_id,
        opened_at=NOW - timedelta(days=2),
        due_at=NOW - timedelta(days=1),
    )
    add_ticket(
        conn,
        other.codes[0],
        crew_id=other.crew_id,
        opened_at=NOW - timedelta(days=3),
        due_at=NOW - timedelta(days=2),
        closed_at=NOW - timedelta(days=1),
    )
    conn.commit()
    return mine, other


def test_a_manager_sees_the_figures_of_their_districts_only(
    database_url: str, conn: psycopg.Connection[Any], client: TestClient
) -> None:
    mine, other = two_districts(database_url, conn)
    manager = credential(conn, "manager", [mine.site[:6]])
    now = {"now": NOW.isoformat()}
    good = client.get("/api/v1/figures/good-order", params=now, headers=manager)
    assert good.status_code == 200, good.text
    assert good.json()["rows"] == [
        {"district": None, "site": None, "items": 2, "good": 1, "share": 0.5},
        {"district": mine.site[:6], "site": None, "items": 2, "good": 1, "share": 0.5},
    ]
    opened = client.get("/api/v1/figures/open-tickets", params=now, headers=manager).json()
    assert [
        (r["total"], r["crew_id"], r["tickets"], r["from_1d_to_3d"]) for r in opened["rows"]
    ] == [
        (True, None, 1, 1),
        (False, mine.crew_id, 1, 1),
    ]
    period = {"end": NOW.isoformat()}
    repair = client.get("/api/v1/figures/repair-times", params=period, headers=manager).json()
    assert repair["rows"] == [
        {
            "district": None,
            "closed": 0,
            "mean_hours_to_close": None,
            "resolved": 0,
            "mean_hours_to_resolve": None,
        }
    ]
    assert datetime.fromisoformat(repair["start"]) == NOW - timedelta(days=30)
    refused = client.get(
        "/api/v1/figures/good-order", params={"district": other.site[:6]}, headers=manager
    )
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert other.site[:6] in refused.json()["detail"]


def test_an_admin_sees_any_district_and_the_period_figures(
    database_url: str, conn: psycopg.Connection[Any], client: TestClient
) -> None:
    _, other = two_districts(database_url, conn)
    admin = credential(conn, "admin", [])
    params = {"end": NOW.isoformat(), "district": other.site[:6]}
    on_time = client.get("/api/v1/figures/on-time", params=params, headers=admin)
    assert on_time.status_code == 200, on_time.text
    rows = on_time.json()["rows"]
    assert [(r["total"], r["closed"], r["on_time"], r["share"]) for r in rows] == [
        (True, 1, 0, 0.0),
        (False, 1, 0, 0.0),
    ]
    assert rows[1]["crew_id"] == other.crew_id
    assert rows[1]["month"] == "2026-04-01"
    repair = client.get("/api/v1/figures/repair-times", params=params, headers=admin).json()
    assert repair["rows"][0]["mean_hours_to_close"] == 48.0
    kinds = client.get("/api/v1/figures/mtbf/kinds", params=params, headers=admin).json()
    assert kinds["rows"][0] == {
        "kind": None,
        "items": 1,
        "exposure_hours": 720.0,
        "failures": 0,
        "mtbf_hours": None,
    }
    items = client.get("/api/v1/figures/mtbf/items", params=params, headers=admin).json()
    assert items["rows"] == []


def test_figures_need_a_manager_and_an_aware_time(
    database_url: str, conn: psycopg.Connection[Any], client: TestClient
) -> None:
    world = make_world(database_url, conn, items=1)
    assert client.get("/api/v1/figures/good-order").status_code == 401
    crew = credential(conn, "crew", [])
    assert client.get("/api/v1/figures/good-order", headers=crew).status_code == 403
    manager = credential(conn, "manager", [world.site[:6]])
    naive = client.get(
        "/api/v1/figures/open-tickets", params={"now": "2026-04-10T12:00:00"}, headers=manager
    )
    assert naive.status_code == 422
    backwards = client.get(
        "/api/v1/figures/on-time",
        params={"start": NOW.isoformat(), "end": (NOW - timedelta(days=1)).isoformat()},
        headers=manager,
    )
    assert backwards.status_code == 422
