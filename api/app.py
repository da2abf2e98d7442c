"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api.database import DbConnection, open_pool
from api.equipment import router as equipment_router
from api.problems import install_problem_handlers
from api.settings import ApiSettings


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = open_pool(settings.database_url.get_secret_value())
        try:
            yield
        finally:
            await run_in_threadpool(app.state.pool.close)  # joins the pool's worker threads

    app = FastAPI(title="fitmon", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    install_problem_handlers(app)
    app.include_router(equipment_router)

    @app.get("/healthz")
    def health(conn: DbConnection) -> dict[str, str]:
        conn.execute("SELECT 1")
        return {"status": "ok", "database": "ok"}

    return app
