"""Who is calling: a bearer credential (a signed-in session or an API token) resolved to a person
with a role, and the declaration every route makes of who may call it.

Roles: admin (everything), manager (the districts assigned to them), crew (their crew's
districts and tickets). `Allow(...)` is a route's dependency; the roles it names are also kept on
the route (`ROLES_KEY` in its OpenAPI extras), so that a test can walk every route with every role.

Districts: reading a thing (an alert, a ticket, a person, a crew, a window) outside the caller's
districts is a 404, as if it did not exist, and lists leave such things out; acting on one (a
ticket action, an acknowledgement, an inspection, a window) is a 403 naming the district, since
whoever acts came with its identifier and needs to know why they may not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from api.database import DbConnection
from api.problems import Problem
from maintenance.credentials import credential_holder
from maintenance.people import ROLES, Role

ROLES_KEY = "x-fitmon-roles"  # in a route's openapi_extra: the roles that may call it; [] = anyone
SESSION_COOKIE = "fitmon_session"

__all__ = [
    "ADMIN",
    "MANAGERS",
    "PUBLIC",
    "ROLES",
    "ROLES_KEY",
    "SESSION_COOKIE",
    "STAFF",
    "Allow",
    "Principal",
    "Role",
    "current_principal",
    "forbidden_unless_seen",
    "hidden_unless_seen",
    "presented_token",
    "resolve",
]


@dataclass(frozen=True, slots=True)
class Principal:
    person_id: int
    role: Role
    name: str
    # The districts this person may see: a manager's own, a crew member's crew's (and those of
    # the crews they supervise); None = all.
    districts: frozenset[str] | None
    crew_id: int | None
    supervises: frozenset[int] = frozenset()  # the crews whose supervisor this person is

    def sees_district(self, district: str) -> bool:
        return self.districts is None or district in self.districts

    def sees_site(self, site_code: str) -> bool:
        return self.sees_district(site_code[:6])


def resolve(conn: psycopg.Connection[Any], token: str, now: datetime) -> Principal | None:
    holder = credential_holder(conn, token, now)
    if holder is None:
        return None
    districts = None if holder.districts is None else frozenset(holder.districts)
    return Principal(
        holder.person_id,
        holder.role,
        holder.name,
        districts,
        holder.crew_id,
        frozenset(holder.supervises),
    )


def presented_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.cookies.get(SESSION_COOKIE)


# Declared so that the OpenAPI document names both ways in (its securitySchemes); the token
# itself is read by presented_token.
_BEARER = HTTPBearer(
    auto_error=False, description="a session from POST /api/v1/session, or an API token"
)
_COOKIE = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="the pages' session")


def current_principal(
    request: Request,
    conn: DbConnection,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    _cookie: Annotated[str | None, Depends(_COOKIE)],
) -> Principal | None:
    """The caller, or None when no credential came; a credential that is unknown, expired or
    revoked is a 401."""
    token = presented_token(request)
    if token is None:
        return None
    principal = resolve(conn, token, datetime.now(UTC))
    if principal is None:
        raise Problem(
            401,
            "Not signed in",
            "the credential is unknown, expired or revoked",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return principal


class Allow:
    """A route's dependency: only `roles` may call it. Declare the same on the route, so the
    role walk finds it: `@router.get(..., openapi_extra=STAFF.openapi_extra)`."""

    def __init__(self, *roles: Role) -> None:
        if not roles:
            raise ValueError("name at least one role; a public route uses PUBLIC")
        self.roles = roles

    def __call__(
        self, principal: Annotated[Principal | None, Depends(current_principal)]
    ) -> Principal:
        if principal is None:
            raise Problem(
                401,
                "Not signed in",
                "this needs a signed-in person or an API token",
                {"WWW-Authenticate": "Bearer"},  # RFC 6750 section 3
            )
        if principal.role not in self.roles:
            allowed = ", ".join(self.roles)
            raise Problem(403, "Not allowed", f"this is for {allowed}; you are {principal.role}")
        return principal

    @property
    def openapi_extra(self) -> dict[str, Any]:
        return {ROLES_KEY: list(self.roles)}


# A route anyone may call, signed in or not (the public scan page, the report intake).
PUBLIC: dict[str, Any] = {ROLES_KEY: []}
ADMIN = Allow("admin")
MANAGERS = Allow("admin", "manager")
STAFF = Allow("admin", "manager", "crew")


def hidden_unless_seen(principal: Principal, site_code: str, what: str) -> None:
    """A read of something outside the caller's districts: 404, as for something absent."""
    if not principal.sees_site(site_code):
        raise Problem(404, "Not found", f"there is no {what}")


def forbidden_unless_seen(principal: Principal, site_code: str, what: str) -> None:
    """An action on something outside the caller's districts: 403 naming the district."""
    if not principal.sees_site(site_code):
        raise Problem(
            403,
            "Another district",
            f"{what} is in district {site_code[:6]}, which is not one of yours",
        )
