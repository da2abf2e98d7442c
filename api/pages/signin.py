"""Signing in and out of the crew pages, and who may see them: a page declares its roles as the
API's routes do (`PageAllow` is an `Allow`), and a browser that is not signed in is sent to the
sign-in page instead of getting a 401 (any other client gets the API's 401 problem; routing.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.auth import PUBLIC, SESSION_COOKIE, Allow, Principal, Role, presented_token, resolve
from api.database import DbConnection
from api.pages.i18n import choose_lang, translator
from api.pages.photos import read_form
from api.pages.rendering import page_error, render, too_many, wants_html
from api.pages.routing import SIGN_IN, SignInRequired, page_router
from api.problems import Problem
from api.rate_limits import PageLimits, client_of, page_limits
from api.session import session_ttl, set_session_cookie
from api.settings import ApiSettings
from maintenance.credentials import sign_in, sign_out
from maintenance.people import PASSWORD_MAX

router = page_router()
HOME = "/crew"


class PageAllow(Allow):
    """Only `roles` may see the page; a browser without a valid session is sent to sign in."""

    def __call__(self, request: Request, conn: DbConnection) -> Principal:  # type: ignore[override]
        token = presented_token(request)
        principal = None if token is None else resolve(conn, token, datetime.now(UTC))
        if principal is None:
            if wants_html(request):
                raise SignInRequired(request.url.path)
            why = "this needs a signed-in person" if token is None else "the session has ended"
            raise Problem(401, "Not signed in", why, {"WWW-Authenticate": "Bearer"})
        if principal.role not in self.roles:
            detail = f"this is for {', '.join(self.roles)}; you are {principal.role}"
            raise Problem(403, "Not allowed", detail)
        return principal


def page_allow(*roles: Role) -> PageAllow:
    return PageAllow(*roles)


CREW_PAGES = page_allow("admin", "manager", "crew")
MANAGER_PAGES = page_allow("admin", "manager")
Staff = Annotated[Principal, Depends(CREW_PAGES)]
Manager = Annotated[Principal, Depends(MANAGER_PAGES)]
Limits = Annotated[PageLimits, Depends(page_limits)]


def _safe_next(candidate: str | None) -> str:
    """Only a crew page of this site: never an open redirect."""
    if candidate and candidate.startswith("/crew") and "//" not in candidate:
        return candidate
    return HOME


@router.get(SIGN_IN, openapi_extra=PUBLIC)
def sign_in_page(request: Request) -> Response:
    next_path = _safe_next(request.query_params.get("next"))
    return render(request, "sign_in.html", {"next": next_path, "error": None, "login": ""})


@router.post(SIGN_IN, openapi_extra=PUBLIC)
async def sign_in_form(request: Request, conn: DbConnection, limits: Limits) -> Response:
    wait = limits.hit("sign_ins", client_of(request))
    if wait is not None:
        return too_many(request, wait)
    fields, _ = await read_form(request)
    t = translator(choose_lang(request)[0])
    login, password = fields.get("login", "").strip(), fields.get("password", "")
    next_path = _safe_next(fields.get("next", ""))
    settings: ApiSettings = request.app.state.settings
    if not login or not password:
        if not wants_html(request):
            return page_error(request, 422, "Invalid sign-in", "give a login and a password")
        context = {"next": next_path, "error": t["sign_in_failed"], "login": login}
        return render(request, "sign_in.html", context, status=422)
    issued = None
    if len(login) <= 64 and len(password) <= PASSWORD_MAX:
        ttl = session_ttl(settings)
        issued = await run_in_threadpool(sign_in, conn, datetime.now(UTC), login, password, ttl)
    if issued is None:
        if not wants_html(request):
            return page_error(request, 401, "Sign-in failed", "the login or the password is wrong")
        context = {"next": next_path, "error": t["sign_in_failed"], "login": login}
        return render(request, "sign_in.html", context, status=401)
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(response, issued.token, settings)
    return response


@router.post("/crew/sign-out", openapi_extra=CREW_PAGES.openapi_extra)
def sign_out_form(request: Request, conn: DbConnection, principal: Staff) -> Response:
    token = presented_token(request)
    assert token is not None
    sign_out(conn, datetime.now(UTC), token)  # an API token is not revoked here: None
    response = RedirectResponse(SIGN_IN, status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
