"""Signing in and out, and who the caller is. Signing in gives a bearer token and sets it as an
HttpOnly cookie too, for the server-rendered pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from api.auth import PUBLIC, SESSION_COOKIE, STAFF, Principal, presented_token, resolve
from api.database import DbConnection
from api.problems import Problem, problem_responses
from api.settings import ApiSettings
from maintenance.audit import Actor
from maintenance.credentials import sign_in
from maintenance.credentials import sign_out as revoke_session
from maintenance.people import (
    PASSWORD_MAX,
    PeopleError,
    get_person,
    set_password,
    verify_password,
)

router = APIRouter(
    prefix="/api/v1", tags=["session"], responses=problem_responses(401, 403, 409, 422)
)
Staff = Annotated[Principal, Depends(STAFF)]


class SignIn(BaseModel):
    login: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=PASSWORD_MAX)


class Me(BaseModel):
    person_id: int
    login: str
    name: str
    role: str
    districts: list[str] | None = Field(description="the districts you see; null: all")
    crew_id: int | None
    supervises: list[int] = Field(description="the crews you supervise")


class SessionOut(BaseModel):
    token: str = Field(description="send as `Authorization: Bearer <token>`; shown only here")
    expires_at: datetime
    me: Me


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=PASSWORD_MAX)
    new_password: str = Field(min_length=1, max_length=PASSWORD_MAX)


def session_ttl(settings: ApiSettings) -> timedelta:
    return timedelta(hours=settings.session_hours)


def set_session_cookie(response: Response, token: str, settings: ApiSettings) -> None:
    """The session as an HttpOnly cookie, for the pages (the API's sign-in and the pages' own)."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(session_ttl(settings).total_seconds()),
        httponly=True,
        secure=settings.env == "prod",
        samesite="lax",  # no cookie on a cross-site POST: the pages' forms are not forgeable
    )


def _me(conn: DbConnection, principal: Principal) -> Me:
    person = get_person(conn, principal.person_id)
    assert person is not None  # the credential resolved to an active person in this transaction
    return Me(
        person_id=principal.person_id,
        login=person.login,
        name=principal.name,
        role=principal.role,
        districts=None if principal.districts is None else sorted(principal.districts),
        crew_id=principal.crew_id,
        supervises=sorted(principal.supervises),
    )


@router.post("/session", status_code=201, openapi_extra=PUBLIC)
def create_session(
    body: SignIn, request: Request, response: Response, conn: DbConnection
) -> SessionOut:
    """Sign in with a login and password. A wrong password and an unknown login are the same
    401, so the answer does not tell whether a login exists."""
    settings: ApiSettings = request.app.state.settings
    issued = sign_in(conn, datetime.now(UTC), body.login, body.password, session_ttl(settings))
    if issued is None:
        raise Problem(401, "Sign-in failed", "the login or the password is wrong")
    expires_at = issued.credential.expires_at
    assert expires_at is not None
    set_session_cookie(response, issued.token, settings)
    principal = resolve(conn, issued.token, datetime.now(UTC))
    assert principal is not None
    return SessionOut(token=issued.token, expires_at=expires_at, me=_me(conn, principal))


@router.delete("/session", status_code=204, openapi_extra=STAFF.openapi_extra)
def delete_session(
    request: Request, response: Response, conn: DbConnection, principal: Staff
) -> None:
    """Sign out: the session presented is revoked. An API token is revoked by an admin."""
    token = presented_token(request)
    assert token is not None  # STAFF let the request through
    if revoke_session(conn, datetime.now(UTC), token) is None:
        raise Problem(
            409, "Not a session", "this is an API token; an admin revokes it at /api/v1/tokens"
        )
    response.delete_cookie(SESSION_COOKIE)


@router.get("/me", openapi_extra=STAFF.openapi_extra)
def read_me(conn: DbConnection, principal: Staff) -> Me:
    return _me(conn, principal)


@router.put("/me/password", status_code=204, openapi_extra=STAFF.openapi_extra)
def change_my_password(body: PasswordChange, conn: DbConnection, principal: Staff) -> None:
    """Every session of yours is signed out, this one too: sign in again with the new one."""
    person = get_person(conn, principal.person_id)
    assert person is not None
    if verify_password(conn, person.login, body.current_password) != principal.person_id:
        raise Problem(403, "Wrong password", "the current password is wrong")
    try:
        set_password(
            conn,
            datetime.now(UTC),
            principal.person_id,
            body.new_password,
            Actor.person(principal.person_id),
        )
    except PeopleError as exc:
        raise Problem(422, "Weak password", str(exc)) from None
