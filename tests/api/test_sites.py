"""Sites through the API: created, read, changed and retired by the district's managers, every
change in the audit trail; a division not in the list, a code taken, another district, a crew
member's write and bad values are refused with what was wrong, and nothing is written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from devices.codes import make_site_code
from tests.api.roles_support import District, add_person, bearer, make_district, token_for
from tests.db.registry_support import register_division
from tests.support import scalar


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url) as connection:
        yield connection


@pytest.fixture
def district(database_url: str, conn: psycopg.Connection[Any]) -> District:
    made = make_district(database_url, conn)
    register_division(database_url, made.district)
    return made


def new_site(district: District, serial: int = 0) -> str:
    return str(make_site_code(district.district, 9000 + serial))


def test_a_manager_creates_changes_and_reads_a_site_with_its_history(
    client: TestClient, district: District
) -> None:
    code = new_site(district)
    body = {
        "code": code,
        "name": "滨江健身点",
        "address": "江东中路 1 号",
        "latitude": 32.03,
        "longitude": 118.73,
        "opens_at": "06:00",
        "closes_at": "22:00",
        "responsible_unit": "滨江街道办事处",
        "hotline": "025-12345",
    }
    created = client.post("/api/v1/sites", json=body, headers=bearer(district.manager))
    assert created.status_code == 201, created.text
    assert created.json()["inspection_interval_days"] == 7
    assert created.json()["division_name"] == f"Test district {district.district}"
    changed = client.patch(
        f"/api/v1/sites/{code}",
        json={"hotline": None, "inspection_interval_days": 14},
        headers=bearer(district.manager),
    )
    assert changed.status_code == 200, changed.text
    read = client.get(f"/api/v1/sites/{code}", headers=bearer(district.crew)).json()
    assert (read["hotline"], read["inspection_interval_days"]) == (None, 14)
    assert [h["action"] for h in read["history"]] == ["created", "updated"]
    assert read["history"][1]["detail"] == (
        "inspection_interval_days: 7 -> 14; hotline: '025-12345' -> None"
    )


def test_refused_sites_say_why_and_write_nothing(
    client: TestClient, database_url: str, district: District, conn: psycopg.Connection[Any]
) -> None:
    manager = bearer(district.manager)
    prefecture = {"code": "320100-0001", "name": "Park"}
    cases: list[tuple[dict[str, Any], str, int, str]] = [
        ({"code": "960001-0001", "name": "Park"}, district.manager, 403, "not one of yours"),
        ({"code": new_site(district, 1), "name": "P"}, district.crew, 403, "for admin, manager"),
        ({"code": new_site(district, 2), "name": "P\x00"}, district.manager, 422, "name"),
        (
            {"code": new_site(district, 3), "name": "P", "latitude": 91},
            district.manager,
            422,
            "latitude",
        ),
        (
            {"code": new_site(district, 4), "name": "P", "opens_at": "06:00"},
            district.manager,
            422,
            "neither",
        ),
        (
            {"code": new_site(district, 5), "name": "P", "hotline": "call"},
            district.manager,
            422,
            "hotline",
        ),
        ({"code": "1234-0001", "name": "P"}, district.manager, 422, "code"),
        ({"code": district.world.site, "name": "P"}, district.manager, 409, "already registered"),
    ]
    for body, token, status, detail in cases:
        answer = client.post("/api/v1/sites", json=body, headers=bearer(token))
        assert answer.status_code == status, (body, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert detail in answer.json()["detail"], answer.json()
    admin = token_for(conn, add_person(conn, "admin"))
    answer = client.post("/api/v1/sites", json=prefecture, headers=bearer(admin))
    assert answer.status_code == 422
    assert "南京市, a prefecture" in answer.json()["detail"]
    written = "SELECT count(*) FROM sites WHERE code LIKE %s OR code = '320100-0001'"
    assert scalar(database_url, written, f"{district.district}-9%") == 0
    assert (
        client.patch(
            f"/api/v1/sites/{district.world.site}", json={"name": None}, headers=manager
        ).status_code
        == 422
    )
    assert client.get("/api/v1/sites/960001-0001", headers=manager).status_code == 404


def test_sites_are_listed_in_pages_within_the_callers_districts(
    client: TestClient, database_url: str, district: District, conn: psycopg.Connection[Any]
) -> None:
    other = make_district(database_url, conn)
    for serial in range(3):
        body = {"code": new_site(district, serial), "name": f"Park {serial}"}
        assert (
            client.post("/api/v1/sites", json=body, headers=bearer(district.manager)).status_code
            == 201
        )
    page = client.get(
        "/api/v1/sites",
        params={"sort": "-name", "limit": 2, "offset": 1},
        headers=bearer(district.manager),
    )
    assert page.status_code == 200
    assert page.headers["x-total-count"] == "4"  # the world's site and the three
    assert [s["name"] for s in page.json()] == ["Park 2", "Park 1"]  # after "Test site ..."
    named = client.get("/api/v1/sites", params={"name": "park 2"}, headers=bearer(district.crew))
    assert [s["name"] for s in named.json()] == ["Park 2"]
    theirs = client.get("/api/v1/sites", headers=bearer(other.manager)).json()
    assert [s["code"] for s in theirs] == [other.world.site]
    assert (
        client.get(
            f"/api/v1/sites/{district.world.site}", headers=bearer(other.manager)
        ).status_code
        == 404
    )
    assert (
        client.get(
            "/api/v1/sites", params={"sort": "hotline"}, headers=bearer(other.manager)
        ).status_code
        == 422
    )


def test_a_site_is_retired_only_once_its_items_are(client: TestClient, district: District) -> None:
    site = district.world.site
    manager = bearer(district.manager)
    answer = client.post(
        f"/api/v1/sites/{site}/retire", json={"reason": "park rebuilt"}, headers=manager
    )
    assert answer.status_code == 409
    assert "3 item(s) not retired" in answer.json()["detail"]
    for code in district.world.codes:
        retired = client.post(
            f"/api/v1/equipment/{code}/retire", json={"reason": "worn"}, headers=manager
        )
        assert retired.status_code == 200, retired.text
    answer = client.post(
        f"/api/v1/sites/{site}/retire", json={"reason": "park rebuilt"}, headers=manager
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["retired_at"] is not None
    assert answer.json()["history"][-1]["detail"] == "park rebuilt"
    again = client.patch(f"/api/v1/sites/{site}", json={"name": "New"}, headers=manager)
    assert again.status_code == 409
