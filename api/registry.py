"""The registry in bulk: import of the spreadsheets cities keep (CSV or XLSX, all rows or none,
every bad cell reported by line and column), export in the same format, and the division list."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.auth import MANAGERS, STAFF, Principal, forbidden_unless_seen
from api.database import DbConnection
from api.problems import PROBLEM_JSON, ProblemDetails, problem_responses
from api.registry_schemas import DISTRICT, SITE_CODE, Limit, Offset
from api.registry_upload import UPLOAD_BODY, read_upload
from db.queries.registry import Division, export_rows, list_divisions
from db.registry_writes import ImportResult, write_registry
from devices.registry_files import MEDIA_TYPES, FileFormat, parse_registry_file, registry_file
from devices.registry_rows import RegistryImportError
from maintenance.audit import Actor

router = APIRouter(prefix="/api/v1", tags=["registry"])
Staff = Annotated[Principal, Depends(STAFF)]
Managers = Annotated[Principal, Depends(MANAGERS)]


class CellError(BaseModel):
    line: int
    column: str
    message: str


class ImportProblem(ProblemDetails):
    errors: list[CellError]


class ImportOut(BaseModel):
    sites: int
    items: int
    sites_created: int
    sites_updated: int
    items_created: int
    items_updated: int
    unchanged: int
    dry_run: bool


class DivisionOut(BaseModel):
    code: str
    name: str
    parent: str | None
    level: str
    in_force: bool
    population: int | None


# The registry files as an OpenAPI content map: CSV or XLSX, each a binary string.
_FILE_CONTENT = {
    media.split(";")[0]: {"schema": {"type": "string", "format": "binary"}}
    for media in MEDIA_TYPES.values()
}
_IMPORT_ERRORS: dict[int | str, dict[str, Any]] = {
    **problem_responses(400, 401, 403, 413, 415),
    422: {"content": {PROBLEM_JSON: {"schema": ImportProblem.model_json_schema()}}},
}


def _import(
    conn: psycopg.Connection[Any],
    data: bytes,
    file_format: FileFormat,
    principal: Principal,
    dry_run: bool,
) -> tuple[int, int, ImportResult]:
    registry = parse_registry_file(data, file_format)
    actor = Actor.person(principal.person_id)
    result = write_registry(conn, registry, actor, districts=principal.districts, dry_run=dry_run)
    return len(registry.sites), len(registry.equipment), result


@router.post(
    "/registry/import",
    openapi_extra={**UPLOAD_BODY, **MANAGERS.openapi_extra},
    responses=_IMPORT_ERRORS,
)
async def import_registry_file(
    request: Request,
    conn: DbConnection,
    principal: Managers,
    dry_run: Annotated[bool, Query(description="check everything, write nothing")] = False,
) -> Any:
    """Create or update the sites and items of a CSV or XLSX file (the export's columns), sent
    as the body or as the field `file` of a multipart form: all rows or none. A 422 lists every
    bad cell by line and column; a column the file leaves out keeps what is stored. A manager
    imports only sites of their districts."""
    data, file_format = await read_upload(request)
    try:
        sites, items, result = await run_in_threadpool(
            _import, conn, data, file_format, principal, dry_run
        )
    except RegistryImportError as exc:
        body = ImportProblem(
            title="Invalid registry file",
            status=422,
            detail=str(exc).splitlines()[0],
            instance=request.url.path,
            errors=[CellError(line=e.line, column=e.column, message=e.message) for e in exc.errors],
        )
        return JSONResponse(body.model_dump(), status_code=422, media_type=PROBLEM_JSON)
    return ImportOut(
        sites=sites,
        items=items,
        sites_created=result.sites_created,
        sites_updated=result.sites_updated,
        items_created=result.items_created,
        items_updated=result.items_updated,
        unchanged=result.unchanged,
        dry_run=dry_run,
    )


@router.get(
    "/registry/export",
    openapi_extra=STAFF.openapi_extra,
    responses={**problem_responses(401, 403, 422), 200: {"content": _FILE_CONTENT}},
    response_class=Response,
)
def export_registry_file(
    conn: DbConnection,
    principal: Staff,
    format: FileFormat = "csv",  # noqa: A002 - the query parameter's name
    district: Annotated[str | None, Query(pattern=DISTRICT)] = None,
    site: Annotated[str | None, Query(pattern=SITE_CODE)] = None,
) -> Response:
    """The sites and items (not retired) of your districts, as a file that imports back."""
    for code in (site, district):
        if code is not None:
            forbidden_unless_seen(principal, code, f"district {code[:6]}")
    sites, items = export_rows(conn, districts=principal.districts, district=district, site=site)
    name = f"fitmon-registry-{datetime.now(UTC):%Y%m%d}.{format}"
    return Response(
        registry_file(sites, items, format),
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/divisions", openapi_extra=STAFF.openapi_extra, responses=problem_responses(401, 422))
def read_divisions(
    conn: DbConnection,
    principal: Staff,
    parent: Annotated[str | None, Query(pattern=DISTRICT)] = None,
    name: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
    in_force: Annotated[
        bool | None, Query(description="false: withdrawn codes; none: both")
    ] = True,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[DivisionOut]:
    """The division list (GB/T 2260): a site's code starts with a county-level division."""
    found: list[Division] = list_divisions(
        conn, parent=parent, name=name, in_force=in_force, limit=limit, offset=offset
    )
    return [DivisionOut.model_validate(d, from_attributes=True) for d in found]
