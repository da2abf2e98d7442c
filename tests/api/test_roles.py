"""Every route says who may call it, and is held to it: each is called with no credential and
as every role, from the district and from another one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from api.auth import ROLES_KEY, Allow
from devices.codes import make_equipment_code
from tests.api.roles_support import add_person, bearer, make_district, token_for

# Path parameters that name nothing: an allowed caller gets past the roles to a 404 or a 422.
_PLACEHOLDERS = {"code": str(make_equipment_code("970000-0001", 999)), "token_id": "00" * 32}


@dataclass(frozen=True)
class Walked:
    method: str
    path: str
    roles: list[str] | None  # None: the route does not say
    allow: tuple[str, ...] | None  # the Allow dependency's roles; None: there is none
    has_body: bool


def _allows(dependant: Dependant) -> Iterator[Allow]:
    for sub in dependant.dependencies:
        if isinstance(sub.call, Allow):
            yield sub.call
        yield from _allows(sub)


def walk(app: FastAPI) -> list[Walked]:
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        path, methods = context.path, context.methods
        assert path is not None
        assert methods is not None
        for name in route.param_convertors:
            path = path.replace(f"{{{name}}}", _PLACEHOLDERS.get(name, "987654321"))
        roles = (route.openapi_extra or {}).get(ROLES_KEY)
        allows = {a.roles for a in _allows(route.dependant)}
        assert len(allows) <= 1, f"{route.path} depends on more than one Allow: {allows}"
        for method in sorted(methods):
            found.append(
                Walked(method, path, roles, next(iter(allows), None), route.body_field is not None)
            )
    return found


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url) as connection:
        yield connection


def test_every_route_declares_its_roles_and_depends_on_them(client: TestClient) -> None:
    routes = walk(client.app)  # type: ignore[arg-type]
    assert len(routes) > 30
    undeclared = [f"{r.method} {r.path}" for r in routes if r.roles is None]
    assert not undeclared, f"routes without {ROLES_KEY}: {undeclared}"
    for route in routes:
        assert route.roles is not None
        if route.roles:
            assert route.allow is not None, f"{route.path} declares roles but checks none"
            assert set(route.allow) == set(route.roles), route.path
        else:
            assert route.allow is None, f"{route.path} is declared public but checks roles"


def test_the_openapi_document_carries_every_routes_roles(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert ROLES_KEY in operation, f"{method.upper()} {path}"


def test_every_route_answers_each_caller_as_its_roles_say(
    database_url: str, conn: psycopg.Connection[Any], client: TestClient
) -> None:
    home, other = make_district(database_url, conn), make_district(database_url, conn)
    admin = token_for(conn, add_person(conn, "admin"))
    callers: dict[str, tuple[str | None, str | None]] = {
        "nobody": (None, None),
        "admin": (admin, "admin"),
        "manager": (home.manager, "manager"),
        "manager of another district": (other.manager, "manager"),
        "crew member": (home.crew, "crew"),
        "crew member of another district": (other.crew, "crew"),
        "crew supervisor": (home.supervisor, "crew"),
    }
    failures = []
    for route in walk(client.app):  # type: ignore[arg-type]
        assert route.roles is not None
        for caller, (token, role) in callers.items():
            response = client.request(
                route.method,
                route.path,
                headers=bearer(token),
                json={} if route.has_body else None,
            )
            if not route.roles:
                expected = "not 401/403"
                ok = response.status_code not in (401, 403)
            elif role is None:
                expected = "401"
                ok = response.status_code == 401 and "Bearer" in response.headers.get(
                    "www-authenticate", ""
                )
            elif role not in route.roles:
                expected = "403"
                ok = response.status_code == 403
            else:
                expected = "not 401/403"
                ok = response.status_code not in (401, 403)
            if response.status_code >= 400:
                ok = ok and response.headers["content-type"] == "application/problem+json"
            if not ok:
                failures.append(
                    f"{route.method} {route.path} as {caller}: {response.status_code}, "
                    f"expected {expected}"
                )
    assert not failures, "\n".join(failures)
