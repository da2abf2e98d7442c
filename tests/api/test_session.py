"""Signing in and out, API tokens and passwords, against the real database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api.roles_support import PASSWORD, add_person, bearer, new_login, token_for
from tests.support import scalar


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url) as connection:
        yield connection


def sign_in(client: TestClient, login: str, password: str) -> Any:
    return client.post("/api/v1/session", json={"login": login, "password": password})


def test_sign_in_gives_a_token_and_a_cookie_and_sign_out_revokes_them(
    conn: psycopg.Connection[Any], client: TestClient
) -> None:
    login = new_login("crew")
    person = add_person(conn, "crew", password=PASSWORD, login=login)
    response = sign_in(client, login, PASSWORD)
    assert response.status_code == 201
    body = response.json()
    assert body["me"]["person_id"] == person
    assert body["me"]["role"] == "crew"
    cookie = response.headers["set-cookie"]
    assert "fitmon_session=" in cookie
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    token = body["token"]
    client.cookies.clear()
    assert client.get("/api/v1/me", headers=bearer(token)).json()["login"] == login
    assert client.delete("/api/v1/session", headers=bearer(token)).status_code == 204
    after = client.get("/api/v1/me", headers=bearer(token))
    assert after.status_code == 401
    assert after.json()["detail"] == "the credential is unknown, expired or revoked"


def test_the_session_cookie_signs_the_pages_in(
    conn: psycopg.Connection[Any], client: TestClient
) -> None:
    login = new_login("manager")
    add_person(conn, "manager", password=PASSWORD, login=login, districts=("980999",))
    assert sign_in(client, login, PASSWORD).status_code == 201
    me = client.get("/api/v1/me")  # TestClient keeps the cookie
    assert me.status_code == 200
    assert me.json()["districts"] == ["980999"]


def test_a_wrong_password_and_an_unknown_login_are_the_same_401(
    database_url: str, conn: psycopg.Connection[Any], client: TestClient
) -> None:
    login = new_login("admin")
    person = add_person(conn, "admin", password=PASSWORD, login=login)
    wrong = sign_in(client, login, "not the password at all")
    unknown = sign_in(client, new_login("nobody"), PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.headers["content-type"] == "application/problem+json"
    assert "set-cookie" not in wrong.headers
    sessions = "SELECT count(*) FROM credentials WHERE person_id = %s"
    assert scalar(database_url, sessions, person) == 0


def test_a_deactivated_person_can_neither_sign_in_nor_use_their_tokens(
    conn: psycopg.Connection[Any], client: TestClient
) -> None:
    admin = token_for(conn, add_person(conn, "admin"))
    login = new_login("crew")
    person = add_person(conn, "crew", password=PASSWORD, login=login)
    token = token_for(conn, person)
    changed = client.patch(
        f"/api/v1/people/{person}", json={"active": False}, headers=bearer(admin)
    )
    assert changed.status_code == 200
    assert changed.json()["active"] is False
    assert sign_in(client, login, PASSWORD).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_an_api_token_works_until_an_admin_revokes_it(
    conn: psycopg.Connection[Any], client: TestClient
) -> None:
    admin = token_for(conn, add_person(conn, "admin"))
    integration = add_person(conn, "manager", districts=("980998",))
    made = client.post(
        "/api/v1/tokens",
        json={"person_id": integration, "name": "12345 hotline bridge"},
        headers=bearer(admin),
    )
    assert made.status_code == 201
    token, token_id = made.json()["token"], made.json()["token_id"]
    assert client.get("/api/v1/me", headers=bearer(token)).json()["person_id"] == integration
    listed = client.get(f"/api/v1/tokens?person_id={integration}", headers=bearer(admin)).json()
    assert [t["token_id"] for t in listed] == [token_id]
    assert "token" not in listed[0]  # shown once, at its making
    # An API token is not signed out; an admin revokes it.
    assert client.delete("/api/v1/session", headers=bearer(token)).status_code == 409
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=bearer(admin)).status_code == 204
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    listed = client.get(f"/api/v1/tokens?person_id={integration}", headers=bearer(admin)).json()
    assert listed[0]["revoked_at"] is not None


def test_an_admin_creates_people_with_strong_passwords_only(
    database_url: str, conn: psycopg.Connection[Any], client: TestClient
) -> None:
    admin = token_for(conn, add_person(conn, "admin"))
    login = new_login("crew")
    person = {"login": login, "name": "王师傅", "role": "crew"}
    for weak, why in (
        ("short1", "at least 10 characters"),
        ("aaaaaaaaaaaa", "5 different characters"),
        (f"{login}-2024", "must not contain the login"),
        ("password123", "most common"),
    ):
        refused = client.post(
            "/api/v1/people", json={**person, "password": weak}, headers=bearer(admin)
        )
        assert refused.status_code == 422, weak
        assert why in refused.json()["detail"]
    assert scalar(database_url, "SELECT count(*) FROM people WHERE login = %s", login) == 0
    made = client.post(
        "/api/v1/people", json={**person, "password": PASSWORD}, headers=bearer(admin)
    )
    assert made.status_code == 201
    stored = scalar(database_url, "SELECT password_hash FROM people WHERE login = %s", login)
    assert str(stored).startswith("$argon2id$")
    again = client.post(
        "/api/v1/people", json={**person, "password": PASSWORD}, headers=bearer(admin)
    )
    assert again.status_code == 409
    assert sign_in(client, login, PASSWORD).status_code == 201


def test_changing_ones_password_needs_the_current_one_and_signs_out_every_session(
    conn: psycopg.Connection[Any], client: TestClient
) -> None:
    login = new_login("crew")
    add_person(conn, "crew", password=PASSWORD, login=login)
    token = sign_in(client, login, PASSWORD).json()["token"]
    client.cookies.clear()
    new = "a different passphrase 7"
    wrong = client.put(
        "/api/v1/me/password",
        json={"current_password": "not it at all", "new_password": new},
        headers=bearer(token),
    )
    assert wrong.status_code == 403
    changed = client.put(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": new},
        headers=bearer(token),
    )
    assert changed.status_code == 204
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    assert sign_in(client, login, PASSWORD).status_code == 401
    assert sign_in(client, login, new).status_code == 201
