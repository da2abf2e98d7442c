"""How every page answers what went wrong, in one place: a Problem as a page for a browser and as
problem+json for any other client, a browser that must sign in sent to the sign-in page, and a
form too large refused before it is read. Each page module's router is a `page_router()`."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute

from api.pages.i18n import choose_lang, translator
from api.pages.photos import FormTooLarge
from api.pages.rendering import page_error
from api.problems import Problem

SIGN_IN = "/crew/sign-in"


class SignInRequired(Exception):
    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PageRoute(APIRoute):
    """A page route: its Problems (its dependencies' too) are answered by `page_error`, inside the
    request's unit of work as a route that caught them itself would."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer_as_page(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired as exc:
                return RedirectResponse(f"{SIGN_IN}?next={quote(exc.next_path)}", status_code=303)
            except FormTooLarge as exc:
                title = translator(choose_lang(request)[0])["err_too_large"]
                return page_error(request, exc.status, title, exc.detail)
            except Problem as exc:
                return page_error(request, exc.status, exc.title, exc.detail, headers=exc.headers)

        return answer_as_page


def page_router() -> APIRouter:
    return APIRouter(tags=["pages"], include_in_schema=False, route_class=PageRoute)
