"""People, crews, inspections and maintenance windows through the API, within districts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from maintenance.inbox import take_inbox
from tests.api.roles_support import add_person, bearer, make_district, token_for
from tests.maintenance.support import settings, write_fault


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url) as connection:
        yield connection


def test_a_manager_sees_the_people_and_crews_of_their_districts_only(
    database_url: str, conn: psycopg.Connection[Any], client: TestClient
) -> None:
    home, other = make_district(database_url, conn), make_district(database_url, conn)
    people = client.get("/api/v1/people", headers=bearer(home.manager)).json()
    world = home.world
    assert {p["id"] for p in people} == {home.manager_id, world.supervisor_id, *world.members}
    member = next(p for p in people if p["id"] == world.members[0])
    assert (member["crew_id"], member["districts"]) == (world.crew_id, [home.district])
    assert (
        client.get(f"/api/v1/people/{other.manager_id}", headers=bearer(home.manager)).status_code
        == 404
    )
    crews = client.get("/api/v1/crews", headers=bearer(home.crew)).json()
    assert [c["id"] for c in crews] == [world.crew_id]
    assert [m["id"] for m in crews[0]["members"]] == world.members
    other_crew = other.world.crew_id
    assert client.get(f"/api/v1/crews/{other_crew}", headers=bearer(home.crew)).status_code == 404


def test_an_admin_builds_a_crew_and_a_district_has_one_crew(
    database_url: str, conn: psycopg.Connection[Any], client: TestClient
) -> None:
    home = make_district(database_url, conn)
    admin = token_for(conn, add_person(conn, "admin"))
    supervisor, member = add_person(conn, "crew"), add_person(conn, "crew")
    taken = client.post(
        "/api/v1/crews",
        json={"name": f"Crew of {member}", "districts": [home.district]},
        headers=bearer(admin),
    )
    assert taken.status_code == 409
    assert (
        f"district {home.district} is covered by crew {home.world.crew_id}"
        in (taken.json()["detail"])
    )
    made = client.post(
        "/api/v1/crews",
        json={"name": f"Crew of {member}", "supervisor_id": supervisor, "districts": ["970555"]},
        headers=bearer(admin),
    )
    assert made.status_code == 201, made.text
    crew = made.json()["id"]
    added = client.put(f"/api/v1/crews/{crew}/members/{member}", headers=bearer(admin))
    assert [m["id"] for m in added.json()["members"]] == [member]
    manager = add_person(conn, "manager")
    refused = client.put(f"/api/v1/crews/{crew}/members/{manager}", headers=bearer(admin))
    assert refused.status_code == 422
    assert "is a manager, not a crew member" in refused.json()["detail"]
    token = token_for(conn, supervisor)
    me = client.get("/api/v1/me", headers=bearer(token)).json()
    assert (me["supervises"], me["districts"]) == ([crew], ["970555"])


def test_a_maintenance_window_silences_new_alerts_until_it_ends(
    database_url: str, conn: psycopg.Connection[Any], client: TestClient
) -> None:
    home, other = make_district(database_url, conn), make_district(database_url, conn)
    now = datetime.now(UTC)
    window = {
        "site_code": home.world.site,
        "starts_at": (now - timedelta(minutes=1)).isoformat(),
        "ends_at": (now + timedelta(hours=2)).isoformat(),
        "reason": "replacing the rubber flooring",
    }
    refused = client.post("/api/v1/windows", json=window, headers=bearer(other.manager))
    assert refused.status_code == 403
    backwards = {**window, "ends_at": window["starts_at"]}
    assert (
        client.post("/api/v1/windows", json=backwards, headers=bearer(home.manager)).status_code
        == 422
    )
    made = client.post("/api/v1/windows", json=window, headers=bearer(home.manager))
    assert made.status_code == 201, made.text
    code = home.world.codes[0]
    write_fault(conn, code, 1, severity="major", ts=now)
    take_inbox(conn, datetime.now(UTC), settings(), limit=100_000)
    conn.commit()
    alerts = client.get(f"/api/v1/alerts?site={home.world.site}", headers=bearer(home.manager))
    assert [(a["silenced"], a["ticket_id"]) for a in alerts.json()] == [(True, None)]
    window_id = made.json()["id"]
    current = client.get("/api/v1/windows?current=true", headers=bearer(home.manager)).json()
    assert [w["id"] for w in current] == [window_id]
    ended = client.post(f"/api/v1/windows/{window_id}/end", headers=bearer(home.manager))
    assert ended.status_code == 200
    again = client.post(f"/api/v1/windows/{window_id}/end", headers=bearer(home.manager))
    assert again.status_code == 409
    assert client.get("/api/v1/windows?current=true", headers=bearer(home.manager)).json() == []


def test_an_inspection_is_recorded_by_the_districts_crew_only(
    database_url: str, conn: psycopg.Connection[Any], client: TestClient
) -> None:
    home, other = make_district(database_url, conn), make_district(database_url, conn)
    site = home.world.site
    body = {"site_code": site, "findings": {"I.3 fasteners": "ok"}, "note": "weekly patrol"}
    refused = client.post("/api/v1/inspections", json=body, headers=bearer(other.crew))
    assert refused.status_code == 403
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    ahead = client.post(
        "/api/v1/inspections", json={**body, "inspected_at": future}, headers=bearer(home.crew)
    )
    assert ahead.status_code == 422
    made = client.post("/api/v1/inspections", json=body, headers=bearer(home.crew))
    assert made.status_code == 201, made.text
    assert made.json()["inspector_id"] == home.world.members[0]
    listed = client.get(f"/api/v1/inspections?site={site}", headers=bearer(home.manager)).json()
    assert [i["id"] for i in listed] == [made.json()["id"]]
    assert (
        client.get(f"/api/v1/inspections?site={site}", headers=bearer(other.manager)).json() == []
    )
