"""An inspection recorded through the API: a defect it finds reaches the maintenance loop (an
alert once the inbox is taken), and findings naming no check of the site's items are a 422."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from maintenance.inbox import take_inbox
from tests.api.roles_support import bearer, make_district
from tests.maintenance.support import rows, settings


def test_a_defect_recorded_through_the_api_becomes_an_alert_and_a_bad_check_is_a_422(
    client: TestClient, database_url: str
) -> None:
    with psycopg.connect(database_url) as conn:
        district = make_district(database_url, conn)
        site, code = district.world.site, district.world.codes[0]
        crew = bearer(district.crew)
        bad: dict[str, Any] = {"site_code": site, "findings": {"items": {code: {"wings": "ok"}}}}
        refused = client.post("/api/v1/inspections", json=bad, headers=crew)
        assert refused.status_code == 422
        assert "'wings' is no check of kind air_walker" in refused.json()["detail"]

        found = {"items": {code: {"edges": "defect"}}}
        body = {"site_code": site, "findings": found}
        recorded = client.post("/api/v1/inspections", json=body, headers=crew)
        assert recorded.status_code == 201, recorded.text
        take_inbox(conn, datetime.now(UTC), settings(), limit=100_000)
        conn.commit()
        alerts = rows(conn, "SELECT rule, fault, severity FROM alerts WHERE subject = %s", code)
        assert alerts == [("inspection_defect", "edges", "major")]
        listed = client.get(
            "/api/v1/alerts", params={"rule": "inspection_defect", "site": site}, headers=crew
        )
        assert listed.status_code == 200, listed.text
        assert [a["fault"] for a in listed.json()] == ["edges"]
