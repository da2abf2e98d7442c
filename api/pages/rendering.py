"""Rendering the pages: Jinja2 templates with the page's language, the style sheet inlined (one
round trip on a slow phone connection), and errors as a page for browsers and as problem+json for
everyone else, like the rest of the API."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape

from api.pages.i18n import LANG_COOKIE, Lang, choose_lang, translator
from api.problems import problem_response
from maintenance.report_phones import mask_phone

_LANG_COOKIE_DAYS = 365
_CSS = resources.files("api.pages").joinpath("static/pages.css").read_text("utf-8")
_ZONE_CN = ZoneInfo("Asia/Shanghai")


def _local(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A time as people in China read it (UTC+8 all year, no daylight saving)."""
    if moment is None:
        return ""
    return moment.astimezone(_ZONE_CN).strftime(fmt)


_env = Environment(
    loader=PackageLoader("api.pages", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["local"] = _local
_env.filters["mask_phone"] = mask_phone
templates = Jinja2Templates(env=_env)


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def switch_url(request: Request, lang: Lang, path: str | None = None) -> str:
    """This page's URL in the other language (`path`: the page to show again, for the answer to
    a form)."""
    query = dict(request.query_params) if path is None else {}
    query["lang"] = "en" if lang == "zh" else "zh"
    return f"{path or request.url.path}?{urlencode(query)}"


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    switch_path: str | None = None,
) -> HTMLResponse:
    lang, asked = choose_lang(request)
    page = templates.TemplateResponse(
        request,
        template,
        {
            "lang": lang,
            "t": translator(lang),
            "switch_url": switch_url(request, lang, switch_path),
            "css": _CSS,
            "now": datetime.now(UTC),
            **context,
        },
        status_code=status,
        # A signed-in page is nobody else's: not kept on a shared phone or by a proxy.
        headers=headers or {"Cache-Control": "no-store"},
    )
    if asked:
        page.set_cookie(LANG_COOKIE, lang, max_age=_LANG_COOKIE_DAYS * 86_400, samesite="lax")
    return page


def page_error(
    request: Request,
    status: int,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    help_text: str | None = None,
) -> Response:
    """An error as a page for a browser, as problem+json for any other client."""
    if not wants_html(request):
        return problem_response(request, status, title, detail, headers)
    return render(
        request,
        "error.html",
        {"title": title, "detail": detail, "help_text": help_text},
        status=status,
        headers=headers,
    )


def too_many(request: Request, wait_s: int) -> Response:
    """429 for a client over one of its rate limits (api.rate_limits), saying when to come back."""
    t = translator(choose_lang(request)[0])
    retry = {"Retry-After": str(wait_s)}
    return page_error(request, 429, t["too_many"], t["too_many"], headers=retry)
