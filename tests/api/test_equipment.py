"""The equipment lookup and problem+json errors, against the real database."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support import load_registry, make_registry


def test_registered_equipment_is_returned_with_its_site(
    database_url: str, client: TestClient
) -> None:
    registry = load_registry(database_url, make_registry(items=1, kind="leg_press"))
    code = registry.equipment[0].code
    response = client.get(f"/api/v1/equipment/{code}")
    assert response.status_code == 200
    body = response.json()
    assert (body["code"], body["kind"], body["service_life_years"]) == (code, "leg_press", 8)
    assert body["site_name"] == registry.sites[0].name


def test_bad_check_character_is_a_problem_naming_the_expected_character(
    client: TestClient,
) -> None:
    response = client.get("/api/v1/equipment/320705-0042-007-5")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "expected '4'" in response.json()["detail"]


def test_unknown_equipment_is_404_problem(client: TestClient) -> None:
    response = client.get("/api/v1/equipment/320705-0042-007-4")
    assert response.status_code == 404
    assert response.json()["title"] == "Unknown equipment"


def test_health_checks_the_database(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}
