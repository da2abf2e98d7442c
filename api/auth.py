"""Who is calling: a bearer credential (a signed-in session or an API token) resolved to a person
with a role, and the declaration every route makes of who may call it.

Roles: admin (everything), manager (the districts assigned to them), crew (their crew's
districts and tickets). `Allow(...)` is a route's dependency; the roles it names are also kept on
the route (`ROLES_KEY` in its OpenAPI extras), so that a test can walk every route with every role.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import psycopg
from fastapi import Depends, Request
from psycopg.rows import class_row

from api.database import DbConnection
from api.problems import Problem

Role = Literal["admin", "manager", "crew"]
ROLES: tuple[Role, ...] = ("admin", "manager", "crew")
ROLES_KEY = "x-fitmon-roles"  # in a route's openapi_extra: the roles that may call it; [] = anyone
TOKEN_PREFIX = "fm_"  # noqa: S105 - marks fitmon tokens, not a secret


@dataclass(frozen=True, slots=True)
class Principal:
    person_id: int
    role: Role
    name: str
    # The districts this person may see: a manager's own, a crew member's crew's; None = all.
    districts: frozenset[str] | None
    crew_id: int | None

    def sees_district(self, district: str) -> bool:
        return self.districts is None or district in self.districts

    def sees_site(self, site_code: str) -> bool:
        return self.sees_district(site_code[:6])


@dataclass(frozen=True, slots=True)
class _Holder:
    person_id: int
    role: Role
    name: str
    crew_id: int | None
    districts: list[str] | None


_RESOLVE = """
SELECT p.id AS person_id, p.role, p.name, m.crew_id,
       CASE p.role
           WHEN 'admin' THEN NULL
           WHEN 'manager' THEN coalesce((SELECT array_agg(district) FROM manager_districts
                                         WHERE person_id = p.id), '{}')
           ELSE coalesce((SELECT array_agg(district) FROM crew_districts
                          WHERE crew_id = m.crew_id), '{}')
       END AS districts
FROM credentials c JOIN people p ON p.id = c.person_id
LEFT JOIN crew_members m ON m.person_id = p.id
WHERE c.token_hash = %(hash)s AND c.revoked_at IS NULL
  AND (c.expires_at IS NULL OR c.expires_at > %(now)s) AND p.active
"""


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def resolve(conn: psycopg.Connection[Any], token: str, now: datetime) -> Principal | None:
    with conn.cursor(row_factory=class_row(_Holder)) as cur:
        holder = cur.execute(_RESOLVE, {"hash": hash_token(token), "now": now}).fetchone()
    if holder is None:
        return None
    districts = None if holder.districts is None else frozenset(holder.districts)
    return Principal(holder.person_id, holder.role, holder.name, districts, holder.crew_id)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.cookies.get("fitmon_session")


def current_principal(request: Request, conn: DbConnection) -> Principal | None:
    """The caller, or None when no credential came; a credential that is unknown, expired or
    revoked is a 401."""
    token = _bearer(request)
    if token is None:
        return None
    principal = resolve(conn, token, datetime.now(UTC))
    if principal is None:
        raise Problem(401, "Not signed in", "the credential is unknown, expired or revoked")
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
            raise Problem(401, "Not signed in", "this needs a signed-in person or an API token")
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
