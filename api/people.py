"""People and their API tokens: admins create and change them; managers read the people of
their districts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from api.alerts import DISTRICT_PATTERN
from api.auth import ADMIN, MANAGERS, Principal, Role
from api.database import DbConnection
from api.problems import Problem, problem_responses
from maintenance.audit import Actor
from maintenance.credentials import create_api_token, list_api_tokens, revoke_token_id
from maintenance.people import (
    PASSWORD_MAX,
    AlreadyExists,
    PeopleError,
    create_person,
    get_person,
    list_people,
    set_manager_districts,
    set_password,
    update_person,
)

router = APIRouter(
    prefix="/api/v1", tags=["people"], responses=problem_responses(401, 403, 404, 409, 422)
)
Admin = Annotated[Principal, Depends(ADMIN)]
Managers = Annotated[Principal, Depends(MANAGERS)]
District = Annotated[str, Field(pattern=DISTRICT_PATTERN)]


class PersonOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    login: str
    name: str
    role: str
    phone: str | None
    email: str | None
    active: bool
    created_at: datetime
    districts: list[str] = Field(description="a manager's own; a crew member's crew's")
    crew_id: int | None


class PersonIn(BaseModel):
    login: str = Field(pattern=r"^[a-z0-9._-]{2,64}$")
    name: str = Field(min_length=1, max_length=200)
    role: Role
    password: str | None = Field(
        default=None, max_length=PASSWORD_MAX, description="none: API tokens only"
    )
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    districts: list[District] = Field(default=[], description="a manager's districts")


class PersonChange(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    active: bool | None = Field(default=None, description="false also revokes their credentials")


class Districts(BaseModel):
    districts: list[District]


class NewPassword(BaseModel):
    password: str = Field(min_length=1, max_length=PASSWORD_MAX)


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    token_id: str = Field(description="names the token (the hex of its SHA-256), to revoke it")
    person_id: int
    name: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenIn(BaseModel):
    person_id: int = Field(description="the integration acts as this person, with their role")
    name: str = Field(min_length=1, max_length=200, description="what uses it")
    expires_at: datetime | None = None


class IssuedToken(TokenOut):
    token: str = Field(description="shown only here; only its hash is kept")


def _people_error(exc: PeopleError) -> Problem:
    if isinstance(exc, AlreadyExists):
        return Problem(409, "Already exists", str(exc))
    return Problem(422, "Invalid person", str(exc))


def _found(person: object, person_id: int) -> None:
    if person is None:
        raise Problem(404, "Unknown person", f"there is no person {person_id}")


@router.get("/people", openapi_extra=MANAGERS.openapi_extra)
def read_people(
    conn: DbConnection,
    principal: Managers,
    role: Role | None = None,
    active: bool | None = None,
) -> list[PersonOut]:
    """People of your districts: their managers, crew members and crew supervisors."""
    found = list_people(conn, districts=principal.districts, role=role, active=active)
    return [PersonOut.model_validate(p) for p in found]


@router.get("/people/{person_id}", openapi_extra=MANAGERS.openapi_extra)
def read_person(person_id: int, conn: DbConnection, principal: Managers) -> PersonOut:
    person = get_person(conn, person_id, districts=principal.districts)
    _found(person, person_id)
    return PersonOut.model_validate(person)


@router.post("/people", status_code=201, openapi_extra=ADMIN.openapi_extra)
def add_person(body: PersonIn, conn: DbConnection, principal: Admin) -> PersonOut:
    try:
        person = create_person(
            conn,
            datetime.now(UTC),
            login=body.login,
            name=body.name,
            role=body.role,
            actor=Actor.person(principal.person_id),
            password=body.password,
            phone=body.phone,
            email=body.email,
            districts=body.districts,
        )
    except PeopleError as exc:
        raise _people_error(exc) from None
    return PersonOut.model_validate(person)


@router.patch("/people/{person_id}", openapi_extra=ADMIN.openapi_extra)
def change_person(
    person_id: int, body: PersonChange, conn: DbConnection, principal: Admin
) -> PersonOut:
    try:
        person = update_person(
            conn,
            datetime.now(UTC),
            person_id,
            Actor.person(principal.person_id),
            **body.model_dump(exclude_unset=True),
        )
    except PeopleError as exc:
        raise _people_error(exc) from None
    _found(person, person_id)
    return PersonOut.model_validate(person)


@router.put("/people/{person_id}/districts", openapi_extra=ADMIN.openapi_extra)
def set_districts(
    person_id: int, body: Districts, conn: DbConnection, principal: Admin
) -> PersonOut:
    """A manager's districts, replacing the ones they had."""
    _found(get_person(conn, person_id), person_id)
    try:
        set_manager_districts(
            conn, datetime.now(UTC), person_id, body.districts, Actor.person(principal.person_id)
        )
    except PeopleError as exc:
        raise _people_error(exc) from None
    return PersonOut.model_validate(get_person(conn, person_id))


@router.put("/people/{person_id}/password", status_code=204, openapi_extra=ADMIN.openapi_extra)
def reset_password(person_id: int, body: NewPassword, conn: DbConnection, principal: Admin) -> None:
    """Set a person's password (they forgot it); their sessions are signed out."""
    _found(get_person(conn, person_id), person_id)
    try:
        set_password(
            conn, datetime.now(UTC), person_id, body.password, Actor.person(principal.person_id)
        )
    except PeopleError as exc:
        raise Problem(422, "Weak password", str(exc)) from None


@router.get("/tokens", tags=["tokens"], openapi_extra=ADMIN.openapi_extra)
def read_tokens(
    conn: DbConnection,
    principal: Admin,
    person_id: Annotated[int | None, Query(description="only this person's")] = None,
) -> list[TokenOut]:
    return [TokenOut.model_validate(t) for t in list_api_tokens(conn, person_id=person_id)]


@router.post("/tokens", status_code=201, tags=["tokens"], openapi_extra=ADMIN.openapi_extra)
def add_token(body: TokenIn, conn: DbConnection, principal: Admin) -> IssuedToken:
    """An API token for an integration; the token is in this answer and nowhere else."""
    try:
        issued = create_api_token(
            conn,
            datetime.now(UTC),
            body.person_id,
            body.name,
            Actor.person(principal.person_id),
            expires_at=body.expires_at,
        )
    except PeopleError as exc:
        raise Problem(422, "Invalid token", str(exc)) from None
    out = TokenOut.model_validate(issued.credential)
    return IssuedToken(token=issued.token, **out.model_dump())


@router.delete(
    "/tokens/{token_id}", status_code=204, tags=["tokens"], openapi_extra=ADMIN.openapi_extra
)
def revoke_token(token_id: str, conn: DbConnection, principal: Admin) -> None:
    """Revoke an API token at once (again: no change)."""
    if revoke_token_id(conn, datetime.now(UTC), token_id, kind="api_token") is None:
        raise Problem(404, "Unknown token", f"there is no API token {token_id}")
