"""The notification routes: a person's own preferences, a crew's channels whose secrets go in and
never come out, and dead-lettered deliveries with every attempt, visible to managers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import api_client
from tests.api.roles_support import bearer, make_district, token_for
from tests.notifications.robot_receiver import RobotReceiver
from tests.notifications.support import delivery_rows, notify_settings, raise_fault, running_notify
from tests.support import wait_until


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with api_client(database_url) as test_client:
        yield test_client


def test_a_person_keeps_their_own_preferences_and_the_secret_stays_in(
    database_url: str, conn: psycopg.Connection[Any], client: TestClient
) -> None:
    home = make_district(database_url, conn)
    me = home.world.members[0]
    url = f"/api/v1/people/{me}/notification-preferences"
    assert client.get(url, headers=bearer(home.crew)).json()["severities"] == ["critical", "major"]
    body = {
        "severities": ["critical"],
        "channels": ["email", "webhook"],
        "quiet_from": "22:00:00",
        "quiet_until": "07:00:00",
        "language": "en",
        "webhook_url": "https://hooks.example.test/me",
        "webhook_secret": "very-secret-hmac-key",
    }
    changed = client.put(url, json=body, headers=bearer(home.crew))
    assert changed.status_code == 200, changed.text
    assert changed.json()["has_webhook_secret"] is True
    assert "very-secret" not in changed.text
    stored = conn.execute(
        "SELECT webhook_secret FROM notification_preferences WHERE person_id = %s", (me,)
    ).fetchone()
    assert stored is not None
    assert b"very-secret" not in bytes(stored[0])
    # Changing something else keeps the secret, which is never sent back.
    again = client.put(
        url, json=body | {"webhook_secret": None, "language": "zh"}, headers=bearer(home.crew)
    )
    assert again.json()["has_webhook_secret"] is True
    assert again.json()["language"] == "zh"
    # Another crew member may not see them; a bad value is refused saying which.
    other = token_for(conn, home.world.members[1])
    assert client.get(url, headers=bearer(other)).status_code == 404
    bad = client.put(url, json=body | {"time_zone": "Mars/Olympus"}, headers=bearer(home.crew))
    assert bad.status_code == 422
    assert "Mars/Olympus" in bad.json()["detail"]
    half = client.put(url, json=body | {"quiet_until": None}, headers=bearer(home.crew))
    assert half.status_code == 422


def test_crew_channels_take_secrets_and_never_return_them(
    database_url: str, conn: psycopg.Connection[Any], client: TestClient
) -> None:
    home, other = make_district(database_url, conn), make_district(database_url, conn)
    url = f"/api/v1/crews/{home.world.crew_id}/channels"
    key = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
    robot = {
        "kind": "wecom",
        "name": "维修群",
        "url": f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={key}",
    }
    added = client.post(url, json=robot, headers=bearer(home.manager))
    assert added.status_code == 201, added.text
    assert key not in added.text
    assert added.json()["shown"].endswith("/send?…")
    listed = client.get(url, headers=bearer(home.crew))
    assert [c["name"] for c in listed.json()] == ["维修群"]
    assert key not in listed.text
    assert client.get(url, headers=bearer(other.crew)).status_code == 404
    assert client.post(url, json=robot, headers=bearer(other.manager)).status_code == 404
    assert client.post(url, json=robot, headers=bearer(home.crew)).status_code == 403
    unsigned = {"kind": "webhook", "name": "dispatch", "url": "https://hooks.example.test/x"}
    refused = client.post(url, json=unsigned, headers=bearer(home.manager))
    assert refused.status_code == 422
    assert "secret" in refused.json()["detail"]
    stored = conn.execute(
        "SELECT url_sealed FROM crew_channels WHERE crew_id = %s", (home.world.crew_id,)
    ).fetchone()
    assert stored is not None
    assert key.encode() not in bytes(stored[0])
    channel = added.json()["id"]
    off = client.delete(f"{url}/{channel}", headers=bearer(home.manager))
    assert off.status_code == 200
    assert off.json()["active"] is False


def test_dead_deliveries_and_their_attempts_are_visible_to_managers(
    database_url: str, conn: psycopg.Connection[Any], client: TestClient
) -> None:
    home, other = make_district(database_url, conn), make_district(database_url, conn)
    with RobotReceiver() as robots:
        target = robots.target("webhook", "down")
        client.post(
            f"/api/v1/crews/{home.world.crew_id}/channels",
            json={
                "kind": "webhook",
                "name": "down",
                "url": target.address,
                "secret": target.secret,
            },
            headers=bearer(home.manager),
        ).raise_for_status()
        robots.fail_next("webhook", "down", "500", times=5)
        with running_notify(notify_settings(database_url, max_attempts=2)):
            alert = raise_fault(conn, home.world.codes[0])
            wait_until(
                lambda: [
                    r
                    for r in delivery_rows(conn, "o.alert_id = %s", alert.id)
                    if r["status"] == "dead"
                ],
                message="dead-lettered",
            )
    dead = client.get("/api/v1/deliveries?status=dead", headers=bearer(home.manager)).json()
    mine = [d for d in dead if d["alert_id"] == alert.id]
    assert len(mine) == 1
    assert mine[0]["attempts"] == 2
    assert mine[0]["last_code"] == "500"
    detail = client.get(f"/api/v1/deliveries/{mine[0]['id']}", headers=bearer(home.manager))
    assert [(a["attempt"], a["ok"], a["code"]) for a in detail.json()["attempt_log"]] == [
        (1, False, "500"),
        (2, False, "500"),
    ]
    assert target.secret is not None
    assert target.secret not in detail.text
    assert target.address not in detail.text
    theirs = client.get("/api/v1/deliveries?status=dead", headers=bearer(other.manager)).json()
    assert all(d["alert_id"] != alert.id for d in theirs)
    hidden = client.get(f"/api/v1/deliveries/{mine[0]['id']}", headers=bearer(other.manager))
    assert hidden.status_code == 404
