"""Crews: who covers which districts and who is in them. Admins change them; everyone signed in
reads the crews of their districts (a supervisor assigns tickets to its members)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from api.alerts import DISTRICT_PATTERN
from api.auth import ADMIN, STAFF, Principal
from api.database import DbConnection
from api.problems import Problem, problem_responses
from maintenance.audit import Actor
from maintenance.crews import (
    Crew,
    add_crew_member,
    create_crew,
    get_crew,
    list_crews,
    remove_crew_member,
    set_crew_districts,
    update_crew,
)
from maintenance.people import AlreadyExists, PeopleError

router = APIRouter(
    prefix="/api/v1/crews", tags=["crews"], responses=problem_responses(401, 403, 404, 409, 422)
)
Admin = Annotated[Principal, Depends(ADMIN)]
Staff = Annotated[Principal, Depends(STAFF)]
District = Annotated[str, Field(pattern=DISTRICT_PATTERN)]


class Member(BaseModel):
    id: int
    name: str


class CrewOut(BaseModel):
    id: int
    name: str
    supervisor_id: int | None
    created_at: datetime
    districts: list[str]
    members: list[Member]


class CrewIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    supervisor_id: int | None = None
    districts: list[District] = Field(default=[], description="one crew covers a district")


class CrewChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    supervisor_id: int | None = None


class Districts(BaseModel):
    districts: list[District]


def _out(crew: Crew | None, crew_id: int) -> CrewOut:
    if crew is None:
        raise Problem(404, "Unknown crew", f"there is no crew {crew_id}")
    members = [Member(id=i, name=n) for i, n in zip(crew.members, crew.member_names, strict=True)]
    return CrewOut(
        id=crew.id,
        name=crew.name,
        supervisor_id=crew.supervisor_id,
        created_at=crew.created_at,
        districts=crew.districts,
        members=members,
    )


def _error(exc: PeopleError) -> Problem:
    if isinstance(exc, AlreadyExists):
        return Problem(409, "Already exists", str(exc))
    return Problem(422, "Invalid crew", str(exc))


@router.get("", openapi_extra=STAFF.openapi_extra)
def read_crews(conn: DbConnection, principal: Staff) -> list[CrewOut]:
    return [_out(c, c.id) for c in list_crews(conn, districts=principal.districts)]


@router.get("/{crew_id}", openapi_extra=STAFF.openapi_extra)
def read_crew(crew_id: int, conn: DbConnection, principal: Staff) -> CrewOut:
    return _out(get_crew(conn, crew_id, districts=principal.districts), crew_id)


@router.post("", status_code=201, openapi_extra=ADMIN.openapi_extra)
def add_crew(body: CrewIn, conn: DbConnection, principal: Admin) -> CrewOut:
    try:
        crew = create_crew(
            conn,
            datetime.now(UTC),
            name=body.name,
            actor=Actor.person(principal.person_id),
            supervisor_id=body.supervisor_id,
            districts=body.districts,
        )
    except PeopleError as exc:
        raise _error(exc) from None
    return _out(crew, crew.id)


@router.patch("/{crew_id}", openapi_extra=ADMIN.openapi_extra)
def change_crew(crew_id: int, body: CrewChange, conn: DbConnection, principal: Admin) -> CrewOut:
    try:
        crew = update_crew(
            conn,
            datetime.now(UTC),
            crew_id,
            Actor.person(principal.person_id),
            name=body.name,
            supervisor_id=body.supervisor_id,
        )
    except PeopleError as exc:
        raise _error(exc) from None
    return _out(crew, crew_id)


@router.put("/{crew_id}/districts", openapi_extra=ADMIN.openapi_extra)
def set_districts(crew_id: int, body: Districts, conn: DbConnection, principal: Admin) -> CrewOut:
    """The districts the crew covers, replacing the ones it had."""
    _out(get_crew(conn, crew_id), crew_id)
    try:
        set_crew_districts(
            conn, datetime.now(UTC), crew_id, body.districts, Actor.person(principal.person_id)
        )
    except PeopleError as exc:
        raise _error(exc) from None
    return _out(get_crew(conn, crew_id), crew_id)


@router.put("/{crew_id}/members/{person_id}", openapi_extra=ADMIN.openapi_extra)
def add_member(crew_id: int, person_id: int, conn: DbConnection, principal: Admin) -> CrewOut:
    """Put a crew member in this crew (out of any other: one crew each)."""
    _out(get_crew(conn, crew_id), crew_id)
    try:
        add_crew_member(
            conn, datetime.now(UTC), crew_id, person_id, Actor.person(principal.person_id)
        )
    except PeopleError as exc:
        raise _error(exc) from None
    return _out(get_crew(conn, crew_id), crew_id)


@router.delete("/{crew_id}/members/{person_id}", openapi_extra=ADMIN.openapi_extra)
def remove_member(crew_id: int, person_id: int, conn: DbConnection, principal: Admin) -> CrewOut:
    _out(get_crew(conn, crew_id), crew_id)
    if not remove_crew_member(
        conn, datetime.now(UTC), crew_id, person_id, Actor.person(principal.person_id)
    ):
        raise Problem(404, "Not a member", f"person {person_id} is not in crew {crew_id}")
    return _out(get_crew(conn, crew_id), crew_id)
