"""The public report intake (扫码报修): a report and its inbox row in one transaction, a wake-up
for the maintenance service, and clear errors that store nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from devices.codes import make_equipment_code
from maintenance.inbox import take_inbox
from tests.maintenance.support import settings
from tests.support import load_registry, make_registry, scalar


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url) as connection:
        yield connection


def report(code: str, **overrides: Any) -> dict[str, Any]:
    return {
        "code": code,
        "category": "unsafe",
        "description": "坐垫松动 扶手有裂缝",
        "hazard": False,
        **overrides,
    }


def stored_reports(database_url: str, code: str) -> tuple[object, object]:
    return (
        scalar(database_url, "SELECT count(*) FROM citizen_reports WHERE code = %s", code),
        scalar(database_url, "SELECT count(*) FROM maintenance_inbox WHERE subject = %s", code),
    )


def test_a_hazard_report_takes_the_item_out_of_service_with_a_critical_ticket(
    database_url: str, conn: psycopg.Connection[Any], client: TestClient
) -> None:
    code = load_registry(database_url, make_registry(items=1)).equipment[0].code
    listener = psycopg.connect(database_url, autocommit=True)
    listener.execute("LISTEN fitmon_maintenance")
    response = client.post("/api/v1/reports", json=report(code, hazard=True, phone="13800138000"))
    assert response.status_code == 202, response.text
    report_id = response.json()["id"]
    woken = list(listener.notifies(timeout=10, stop_after=1))
    listener.close()
    assert [n.channel for n in woken] == ["fitmon_maintenance"]
    inbox = conn.execute(
        "SELECT kind, subject, report_id FROM maintenance_inbox WHERE report_id = %s", (report_id,)
    ).fetchall()
    assert inbox == [("report", code, report_id)]
    take_inbox(conn, datetime.now(UTC), settings(), limit=100_000)
    conn.commit()
    status = conn.execute("SELECT service_status FROM equipment WHERE code = %s", (code,))
    assert status.fetchone() == ("out_of_service",)
    ticket = conn.execute(
        "SELECT severity, takes_out_of_service FROM tickets WHERE code = %s", (code,)
    ).fetchall()
    assert ticket == [("critical", True)]
    alert = conn.execute(
        "SELECT rule, fault, severity FROM alerts WHERE subject = %s", (code,)
    ).fetchall()
    assert alert == [("citizen_report", "unsafe", "critical")]


def test_a_report_for_an_unknown_code_is_404_and_stores_nothing(
    database_url: str, client: TestClient
) -> None:
    code = str(make_equipment_code("970001-0001", 5))  # well formed; nothing registered there
    response = client.post("/api/v1/reports", json=report(code))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert code in response.json()["detail"]
    assert stored_reports(database_url, code) == (0, 0)


def test_a_mistyped_check_character_is_422_saying_which_is_expected(
    database_url: str, client: TestClient
) -> None:
    code = load_registry(database_url, make_registry(items=1)).equipment[0].code
    check = code[-1]
    mistyped = code[:-1] + ("0" if check != "0" else "1")
    response = client.post("/api/v1/reports", json=report(mistyped))
    assert response.status_code == 422
    assert (
        f"wrong check character {mistyped[-1]!r}, expected {check!r}" in (response.json()["detail"])
    )
    assert stored_reports(database_url, code) == (0, 0)
    assert stored_reports(database_url, mistyped) == (0, 0)


def test_an_oversize_or_empty_report_is_422_and_stores_nothing(
    database_url: str, client: TestClient
) -> None:
    code = load_registry(database_url, make_registry(items=1)).equipment[0].code
    for bad in (
        report(code, description="x" * 2001),
        report(code, description="   "),
        report(code, category="on_fire"),
        report(code, phone="call me maybe"),
    ):
        response = client.post("/api/v1/reports", json=bad)
        assert response.status_code == 422, bad
        assert response.headers["content-type"] == "application/problem+json"
    assert stored_reports(database_url, code) == (0, 0)
