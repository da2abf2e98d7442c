"""Ticket actions and alert acknowledgements through the API: who may do what, in which district,
and that a refused action leaves everything as it was. Against the real database; the maintenance
inbox is taken by calling the service's function directly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api.roles_support import District, add_person, bearer, make_district, token_for
from tests.pages.support import faulty_ticket as ticket_of_fault


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url) as connection:
        yield connection


def faulty_ticket(conn: psycopg.Connection[Any], district: District) -> int:
    """A critical fault on the district's first item, taken: its ticket's id."""
    return ticket_of_fault(conn, district.world.codes[0], fault="MECH_JAM")


def ticket_state(conn: psycopg.Connection[Any], ticket_id: int) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT status, assignee_id, hold_reason, last_activity_at FROM tickets WHERE id = %s",
        (ticket_id,),
    ).fetchone()
    conn.commit()
    assert row is not None
    return tuple(row)


def audit_count(conn: psycopg.Connection[Any], ticket_id: int) -> int:
    row = conn.execute(
        "SELECT count(*) FROM audit_trail WHERE entity = 'ticket' AND entity_id = %s",
        (str(ticket_id),),
    ).fetchone()
    conn.commit()
    assert row is not None
    return int(row[0])


def act(client: TestClient, token: str, ticket_id: int, **body: Any) -> Any:
    return client.post(f"/api/v1/tickets/{ticket_id}/actions", json=body, headers=bearer(token))


def test_a_crew_member_of_the_district_works_the_ticket_through_to_resolved(
    database_url: str, conn: psycopg.Connection[Any], client: TestClient
) -> None:
    home = make_district(database_url, conn)
    ticket = faulty_ticket(conn, home)
    started = act(client, home.crew, ticket, action="start")
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "in_progress"
    held = act(client, home.crew, ticket, action="hold", reason="waiting for a bearing")
    assert (held.json()["status"], held.json()["hold_reason"]) == (
        "on_hold",
        "waiting for a bearing",
    )
    assert act(client, home.crew, ticket, action="resume").json()["status"] == "in_progress"
    resolved = act(client, home.crew, ticket, action="resolve")
    assert resolved.json()["status"] == "resolved"
    body = resolved.json()
    assert [h["action"] for h in body["history"]] == [
        "opened",
        "start",
        "hold",
        "resume",
        "resolve",
    ]
    assert body["history"][-1]["actor"] == str(home.world.members[0])
    assert [a["rule"] for a in body["alerts"]] == ["device_fault"]
    assert body["allowed_actions"] == ["reopen", "verify"]
    # Verifying the repair is the supervisor's, not the crew member's.
    refused = act(client, home.crew, ticket, action="verify")
    assert refused.status_code == 403
    assert "supervisor" in refused.json()["detail"]
    verified = act(client, home.supervisor, ticket, action="verify")
    assert verified.json()["status"] == "closed"
    code = home.world.codes[0]
    status = conn.execute("SELECT service_status FROM equipment WHERE code = %s", (code,))
    assert status.fetchone() == ("in_service",)


def test_a_crew_member_of_another_district_may_not_act_and_nothing_changes(
    database_url: str, conn: psycopg.Connection[Any], client: TestClient
) -> None:
    home, other = make_district(database_url, conn), make_district(database_url, conn)
    ticket = faulty_ticket(conn, home)
    before, audited = ticket_state(conn, ticket), audit_count(conn, ticket)
    for token in (other.crew, other.supervisor, other.manager):
        refused = act(client, token, ticket, action="start")
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert f"district {home.district}" in refused.json()["detail"]
        # Reading it is a 404: outside one's districts a ticket is as if absent.
        assert client.get(f"/api/v1/tickets/{ticket}", headers=bearer(token)).status_code == 404
        listed = client.get("/api/v1/tickets", headers=bearer(token)).json()
        assert ticket not in [t["id"] for t in listed]
    assert ticket_state(conn, ticket) == before
    assert audit_count(conn, ticket) == audited


def test_a_transition_its_state_forbids_is_409_naming_the_allowed_ones(
    database_url: str, conn: psycopg.Connection[Any], client: TestClient
) -> None:
    home = make_district(database_url, conn)
    ticket = faulty_ticket(conn, home)
    before, audited = ticket_state(conn, ticket), audit_count(conn, ticket)
    refused = act(client, home.crew, ticket, action="resume")
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        "a ticket that is assigned cannot be resumed; "
        "allowed: assign, dismiss, hold, resolve, start"
    )
    assert ticket_state(conn, ticket) == before
    assert audit_count(conn, ticket) == audited


def test_missing_reasons_unknown_tickets_and_outsiders_are_refused_clearly(
    database_url: str, conn: psycopg.Connection[Any], client: TestClient
) -> None:
    home = make_district(database_url, conn)
    ticket = faulty_ticket(conn, home)
    no_reason = act(client, home.crew, ticket, action="hold")
    assert no_reason.status_code == 422
    assert "give a reason" in no_reason.json()["detail"]
    assert act(client, home.crew, 987_654_321, action="start").status_code == 404
    assert act(client, home.crew, ticket, action="auto_close").status_code == 422
    stranger = add_person(conn, "crew")
    outside = act(client, home.supervisor, ticket, action="assign", assignee_id=stranger)
    assert outside.status_code == 422
    assert f"person {stranger} is not an active member" in outside.json()["detail"]
    member = home.world.members[1]
    assigned = act(client, home.manager, ticket, action="assign", assignee_id=member)
    assert assigned.status_code == 200
    assert assigned.json()["assignee_id"] == member


def test_tickets_and_alerts_are_listed_by_filter_within_ones_districts(
    database_url: str, conn: psycopg.Connection[Any], client: TestClient
) -> None:
    home, other = make_district(database_url, conn), make_district(database_url, conn)
    mine, theirs = faulty_ticket(conn, home), faulty_ticket(conn, other)
    admin = token_for(conn, add_person(conn, "admin"))
    site = home.world.site
    listed = client.get(f"/api/v1/tickets?site={site}", headers=bearer(home.crew)).json()
    assert [t["id"] for t in listed] == [mine]
    everyone = client.get("/api/v1/tickets?status=assigned&limit=1000", headers=bearer(admin))
    assert {mine, theirs} <= {t["id"] for t in everyone.json()}
    overdue = client.get(f"/api/v1/tickets?site={site}&overdue=true", headers=bearer(admin))
    assert overdue.json() == []
    alerts = client.get(
        f"/api/v1/alerts?district={home.district}&severity=critical", headers=bearer(home.manager)
    ).json()
    assert [(a["subject"], a["ticket_id"]) for a in alerts] == [(home.world.codes[0], mine)]
    assert (
        client.get(f"/api/v1/alerts?district={other.district}", headers=bearer(home.manager)).json()
        == []
    )


def test_an_alert_is_acknowledged_once_by_someone_of_its_district(
    database_url: str, conn: psycopg.Connection[Any], client: TestClient
) -> None:
    home, other = make_district(database_url, conn), make_district(database_url, conn)
    faulty_ticket(conn, home)
    alert = client.get(f"/api/v1/alerts?site={home.world.site}", headers=bearer(home.crew)).json()[
        0
    ]["id"]
    refused = client.post(f"/api/v1/alerts/{alert}/acknowledge", headers=bearer(other.crew))
    assert refused.status_code == 403
    done = client.post(f"/api/v1/alerts/{alert}/acknowledge", headers=bearer(home.crew))
    assert done.status_code == 200
    assert done.json()["status"] == "acknowledged"
    assert done.json()["acknowledged_by"] == home.world.members[0]
    assert [h["action"] for h in done.json()["history"]] == ["raised", "acknowledged"]
    again = client.post(f"/api/v1/alerts/{alert}/acknowledge", headers=bearer(home.manager))
    assert again.status_code == 409
