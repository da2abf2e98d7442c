"""RFC 9457 problem details for every API error."""

from __future__ import annotations

from typing import Any

import psycopg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

PROBLEM_JSON = "application/problem+json"

log = structlog.get_logger(__name__)


class ProblemDetails(BaseModel):
    """RFC 9457 problem details, as every error of this API is answered."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The errors a router's routes may answer, for the OpenAPI document."""
    schema = ProblemDetails.model_json_schema()
    return {status: {"content": {PROBLEM_JSON: {"schema": schema}}} for status in statuses}


class Problem(Exception):
    def __init__(
        self, status: int, title: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers


def problem_response(
    request: Request,
    status: int,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(request, exc.status, exc.title, exc.detail, exc.headers)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return problem_response(request, exc.status_code, "HTTP error", str(exc.detail))

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return problem_response(request, 422, "Invalid request", detail)

    async def on_database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # Also the pool's timeout (PoolTimeout). The cause names hosts and ports: logged, not sent.
        log.warning("database unavailable", path=request.url.path, error=str(exc).strip())
        detail = "the database did not answer in time; try again shortly"
        return problem_response(request, 503, "Database unavailable", detail)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(psycopg.OperationalError, on_database_unavailable)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
