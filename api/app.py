"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api.alerts import router as alerts_router
from api.auth import PUBLIC
from api.crews import router as crews_router
from api.database import DbConnection, open_pool, open_read_pool
from api.deliveries import router as deliveries_router
from api.equipment import router as equipment_router
from api.equipment_state import router as equipment_state_router
from api.figures import router as figures_router
from api.inspections import router as inspections_router
from api.notification_settings import router as notification_settings_router
from api.pages import install_pages
from api.people import router as people_router
from api.problems import install_problem_handlers
from api.registry import router as registry_router
from api.reports import router as reports_router
from api.session import router as session_router
from api.settings import ApiSettings
from api.sites import router as sites_router
from api.tags import router as tags_router
from api.tickets import router as tickets_router
from api.usage import router as usage_router
from api.windows import router as windows_router


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = open_pool(settings.database_url.get_secret_value())
        app.state.read_pool = await open_read_pool(settings.database_url.get_secret_value())
        try:
            yield
        finally:
            await app.state.read_pool.close()
            await run_in_threadpool(app.state.pool.close)  # joins the pool's worker threads

    app = FastAPI(title="fitmon", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    install_problem_handlers(app)
    install_pages(app)
    # Before /equipment/{code}, which would otherwise take /equipment/state as a code.
    app.include_router(equipment_state_router)
    app.include_router(equipment_router)
    app.include_router(figures_router)
    for router in (
        session_router,
        people_router,
        crews_router,
        alerts_router,
        tickets_router,
        inspections_router,
        windows_router,
        reports_router,
        sites_router,
        registry_router,
        tags_router,
        usage_router,
        notification_settings_router,
        deliveries_router,
    ):
        app.include_router(router)

    @app.get("/healthz", openapi_extra=PUBLIC)
    def health(conn: DbConnection) -> dict[str, str]:
        conn.execute("SELECT 1")
        return {"status": "ok", "database": "ok"}

    return app
