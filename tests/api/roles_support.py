"""Callers for the API tests: two districts, each with a site, a crew (supervisor and members)
and a manager, plus an admin; each person holds an API token made by the real code."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from maintenance.audit import Actor
from maintenance.credentials import create_api_token
from maintenance.people import Role, create_person
from tests.maintenance.support import World, make_world

TESTS = Actor.rule("tests")
PASSWORD = "correct horse battery staple"


def new_login(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def add_person(
    conn: psycopg.Connection[Any],
    role: Role,
    *,
    districts: tuple[str, ...] = (),
    password: str | None = None,
    login: str | None = None,
) -> int:
    person = create_person(
        conn,
        datetime.now(UTC),
        login=login or new_login(role),
        name=f"Test {role}",
        role=role,
        actor=TESTS,
        password=password,
        districts=districts,
    )
    conn.commit()
    return person.id


def token_for(conn: psycopg.Connection[Any], person_id: int) -> str:
    issued = create_api_token(conn, datetime.now(UTC), person_id, "tests", TESTS)
    conn.commit()
    return issued.token


@dataclass(frozen=True)
class District:
    world: World
    manager_id: int
    manager: str  # tokens
    crew: str
    supervisor: str

    @property
    def district(self) -> str:
        return self.world.site[:6]


def make_district(database_url: str, conn: psycopg.Connection[Any]) -> District:
    world = make_world(database_url, conn)
    manager_id = add_person(conn, "manager", districts=(world.site[:6],))
    return District(
        world,
        manager_id,
        token_for(conn, manager_id),
        token_for(conn, world.members[0]),
        token_for(conn, world.supervisor_id),
    )


def bearer(token: str | None) -> dict[str, str]:
    return {} if token is None else {"Authorization": f"Bearer {token}"}
