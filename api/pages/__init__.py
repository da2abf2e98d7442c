"""Server-rendered pages: the public scan page a tag opens, and the crew and managers' pages."""

from __future__ import annotations

from fastapi import FastAPI

from api.pages.crew import router as crew_router
from api.pages.inspect import router as inspect_router
from api.pages.manage import router as manage_router
from api.pages.scan import router as scan_router
from api.pages.signin import router as sign_in_router
from api.rate_limits import PageLimits


def install_pages(app: FastAPI, limits: PageLimits | None = None) -> None:
    app.state.page_limits = limits or PageLimits()
    for router in (scan_router, sign_in_router, crew_router, inspect_router, manage_router):
        app.include_router(router)
