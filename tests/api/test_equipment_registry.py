"""Items through the API, and the registry file upload and download: every change audited, an
item with an open ticket not retired, a retired item's alerts closed, a bad file answered with
every bad cell, a file too large or of another type refused before it is read."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from devices.codes import make_equipment_code
from devices.registry_files import MAX_FILE_BYTES, MEDIA_TYPES
from maintenance.inbox import take_inbox
from tests.api.roles_support import District, bearer, make_district
from tests.db.registry_support import register_division
from tests.maintenance.support import settings, write_fault
from tests.support import scalar

CSV = {"Content-Type": "text/csv"}


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url) as connection:
        yield connection


@pytest.fixture
def district(database_url: str, conn: psycopg.Connection[Any]) -> District:
    made = make_district(database_url, conn)
    register_division(database_url, made.district)
    return made


def test_an_item_is_created_changed_listed_and_read_with_its_history(
    client: TestClient, district: District
) -> None:
    manager = bearer(district.manager)
    code = str(make_equipment_code(district.world.site, 50))
    body = {"code": code, "kind": "smart_bike", "installed_on": "2024-05-01", "maker": "舒华"}
    created = client.post("/api/v1/equipment", json=body, headers=manager)
    assert created.status_code == 201, created.text
    assert created.json()["service_life_years"] == 8  # the kind's (GB 19272)
    assert created.json()["service_ends_on"] == "2032-05-01"
    changed = client.patch(
        f"/api/v1/equipment/{code}", json={"location": "north gate"}, headers=manager
    )
    assert changed.status_code == 200, changed.text
    assert [h["action"] for h in changed.json()["history"]] == ["created", "updated"]
    assert (
        client.get(f"/api/v1/equipment/{code}").json()["kind"] == "smart_bike"
    )  # the public lookup
    listed = client.get(
        "/api/v1/equipment",
        params={"site": district.world.site, "sort": "-installed_on", "limit": 1},
        headers=bearer(district.crew),
    )
    assert listed.headers["x-total-count"] == "4"
    assert [i["code"] for i in listed.json()] == [code]
    ending = client.get(
        "/api/v1/equipment", params={"service_ends_before": "2030-01-01"}, headers=manager
    )
    assert {i["code"] for i in ending.json()} == set(district.world.codes)


def test_refused_items_say_why(client: TestClient, database_url: str, district: District) -> None:
    manager = bearer(district.manager)
    good = str(make_equipment_code(district.world.site, 60))
    wrong_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    no_site = str(make_equipment_code(f"{district.district}-9999", 1))
    cases: list[tuple[dict[str, Any], int, str]] = [
        (
            {"code": wrong_check, "kind": "rider", "installed_on": "2020-01-01"},
            422,
            "wrong check character",
        ),
        ({"code": good, "kind": "rowing_boat", "installed_on": "2020-01-01"}, 422, "unknown kind"),
        ({"code": good, "kind": "rider", "installed_on": "2020-02-30"}, 422, "installed_on"),
        (
            {"code": good, "kind": "rider", "installed_on": "2020-01-01", "service_life_years": 51},
            422,
            "service_life_years",
        ),
        (
            {"code": no_site, "kind": "rider", "installed_on": "2020-01-01"},
            422,
            "no site is registered",
        ),
        (
            {"code": district.world.codes[0], "kind": "rider", "installed_on": "2020-01-01"},
            409,
            "already registered",
        ),
    ]
    for body, status, detail in cases:
        answer = client.post("/api/v1/equipment", json=body, headers=manager)
        assert answer.status_code == status, (body, answer.text)
        assert detail in answer.json()["detail"]
    assert scalar(database_url, "SELECT count(*) FROM equipment WHERE code = %s", good) == 0
    crew = client.patch(
        f"/api/v1/equipment/{good}", json={"model": "X"}, headers=bearer(district.crew)
    )
    assert crew.status_code == 403
    missing = client.patch(f"/api/v1/equipment/{good}", json={"model": "X"}, headers=manager)
    assert missing.status_code == 404


def test_retiring_waits_for_the_open_ticket_and_closes_the_items_alerts(
    client: TestClient, district: District, conn: psycopg.Connection[Any]
) -> None:
    code = district.world.codes[0]
    write_fault(conn, code, 1, ts=datetime.now(UTC))
    take_inbox(conn, datetime.now(UTC), settings(), limit=100_000)
    conn.commit()
    manager = bearer(district.manager)
    answer = client.post(
        f"/api/v1/equipment/{code}/retire", json={"reason": "worn"}, headers=manager
    )
    assert answer.status_code == 409
    assert "open ticket" in answer.json()["detail"]
    ticket = conn.execute("SELECT id FROM tickets WHERE code = %s", (code,)).fetchone()
    conn.commit()
    assert ticket is not None
    dismissed = client.post(
        f"/api/v1/tickets/{ticket[0]}/actions",
        json={"action": "dismiss", "reason": "to be replaced"},
        headers=manager,
    )
    assert dismissed.status_code == 200, dismissed.text
    # an alert for planning, which has no ticket: open until the item is retired
    conn.execute(
        "INSERT INTO alerts (subject, site_code, rule, severity, raised_at) "
        "VALUES (%s, %s, 'service_life_near', 'minor', now())",
        (code, code[:11]),
    )
    conn.commit()
    answer = client.post(
        f"/api/v1/equipment/{code}/retire", json={"reason": "worn"}, headers=manager
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["service_status"] == "retired"
    row = conn.execute(
        "SELECT status, close_reason FROM alerts WHERE subject = %s AND rule = 'service_life_near'",
        (code,),
    ).fetchone()
    conn.commit()
    assert row == ("closed", "retired")
    assert answer.json()["history"][-1]["to_state"] == "retired"
    again = client.post(f"/api/v1/equipment/{code}/retire", json={"reason": "x"}, headers=manager)
    assert again.status_code == 409


def test_an_uploaded_file_is_imported_whole_or_answered_with_every_bad_cell(
    client: TestClient, database_url: str, district: District, conn: psycopg.Connection[Any]
) -> None:
    manager = bearer(district.manager)
    site = f"{district.district}-8001"
    a, b = (str(make_equipment_code(site, n)) for n in (1, 2))
    other = make_district(database_url, conn)
    register_division(database_url, other.district)
    header = "site_code,site_name,equipment_code,kind,installed_on\n"
    bad = (
        header
        + f"{site},Park,{a},rider,2020-01-01\n"
        + f"{site},Park,{b},rider,yesterday\n"
        + f"{other.world.site},Theirs,{other.world.codes[0]},rider,2020-01-01\n"
    )
    answer = client.post(
        "/api/v1/registry/import", content=bad.encode(), headers={**manager, **CSV}
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert [(e["line"], e["column"]) for e in answer.json()["errors"]] == [(3, "installed_on")]
    without = bad.replace(f"{site},Park,{b},rider,yesterday\n", "")
    answer = client.post(
        "/api/v1/registry/import", content=without.encode(), headers={**manager, **CSV}
    )
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {
            "line": 3,
            "column": "site_code",
            "message": f"district {other.district} is not one of yours",
        }
    ]
    assert scalar(database_url, "SELECT count(*) FROM sites WHERE code = %s", site) == 0

    good = header + f"{site},Park,{a},rider,2020-01-01\n{site},Park,{b},rider,2021-01-01\n"
    dry = client.post(
        "/api/v1/registry/import?dry_run=true", content=good.encode(), headers={**manager, **CSV}
    )
    assert dry.json()["items_created"] == 2
    assert scalar(database_url, "SELECT count(*) FROM sites WHERE code = %s", site) == 0
    done = client.post("/api/v1/registry/import", content=good.encode(), headers={**manager, **CSV})
    assert done.status_code == 200, done.text
    assert (done.json()["sites_created"], done.json()["items_created"]) == (1, 2)
    actor = "SELECT actor FROM audit_trail WHERE entity_id = %s AND action = 'created'"
    assert scalar(database_url, actor, a) == str(district.manager_id)

    exported = client.get(
        "/api/v1/registry/export", params={"format": "xlsx", "site": site}, headers=manager
    )
    assert exported.headers["content-type"] == MEDIA_TYPES["xlsx"]
    sheet = load_workbook(io.BytesIO(exported.content), read_only=True).worksheets[0]
    assert [r[2] for r in sheet.iter_rows(min_row=2, values_only=True)] == [a, b]
    back = client.post(
        "/api/v1/registry/import",
        content=exported.content,
        headers={**manager, "Content-Type": MEDIA_TYPES["xlsx"]},
    )
    assert back.json()["unchanged"] == 3, back.text
    assert (
        client.get(
            "/api/v1/registry/export", params={"district": other.district}, headers=manager
        ).status_code
        == 403
    )


def test_a_file_too_large_or_of_another_type_is_refused(
    client: TestClient, district: District
) -> None:
    manager = bearer(district.manager)
    huge = client.post(
        "/api/v1/registry/import", content=b"x" * (MAX_FILE_BYTES + 1), headers={**manager, **CSV}
    )
    assert huge.status_code == 413
    typed = client.post(
        "/api/v1/registry/import",
        content=b"{}",
        headers={**manager, "Content-Type": "application/json"},
    )
    assert typed.status_code == 415
    crew = client.post(
        "/api/v1/registry/import", content=b"", headers={**bearer(district.crew), **CSV}
    )
    assert crew.status_code == 403
    listed = client.get("/api/v1/divisions", params={"parent": "320100"}, headers=manager).json()
    assert {"code": "320102", "name": "玄武区"}.items() <= listed[0].items()
