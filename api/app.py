"""The FastAPI application factory."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import FastAPI

from api.equipment import router as equipment_router
from api.problems import install_problem_handlers
from api.settings import ApiSettings


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    app = FastAPI(title="fitmon", version="0.1.0")
    app.state.settings = settings or ApiSettings()
    install_problem_handlers(app)
    app.include_router(equipment_router)

    @app.get("/healthz")
    def health() -> dict[str, Any]:
        url = app.state.settings.database_url.get_secret_value()
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return {"status": "ok", "database": "ok"}

    return app
