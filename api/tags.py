"""QR tags (一物一码): an item's tag as SVG or PNG, and sheets of tags for a site or a district as a
PDF for A4 label stock. For staff, within their districts; retired items get no new tags."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from api.auth import STAFF, Principal, hidden_unless_seen
from api.database import DbConnection
from api.problems import Problem, problem_responses
from api.registry_schemas import DISTRICT, SITE_CODE, not_your_district
from api.settings import ApiSettings
from db.queries.equipment import site_exists
from db.queries.tags import (
    TagRow,
    count_tag_rows,
    district_has_sites,
    get_tag_row,
    list_tag_rows,
)
from devices.codes import CodeError, parse_equipment_code
from tags.content import TagContent, tag_content
from tags.fonts import TagFont, TagFontError, find_tag_font
from tags.layout import lay_out
from tags.png import render_png
from tags.sheet import DEFAULT_STOCK, LABEL_STOCKS, render_sheet
from tags.svg import render_svg

router = APIRouter(prefix="/api/v1", tags=["tags"], responses=problem_responses(401, 403, 404))
Staff = Annotated[Principal, Depends(STAFF)]
StockName = Literal["L7173", "L7163", "L7160"]
MAX_TAGS_PER_SHEET_REQUEST = 1000  # a hundred A4 pages; more come with the next offset

_SVG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/svg+xml": {}}, "description": "the tag, sized in mm"}
}
_PNG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}}, "description": "the tag at the asked resolution"}
}
_SHEET: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/pdf": {}},
        "description": "A4 pages of label stock; a Link header (rel=next) when more remain",
    },
    **problem_responses(422, 503),
}


def _font(request: Request) -> TagFont:
    settings: ApiSettings = request.app.state.settings
    try:
        return find_tag_font(settings.tag_font)
    except TagFontError as exc:
        raise Problem(503, "Tag font missing", str(exc)) from None


def _base_url(request: Request) -> str:
    settings: ApiSettings = request.app.state.settings
    return str(settings.public_url or request.base_url)


def _content(request: Request, row: TagRow) -> TagContent:
    return tag_content(
        base_url=_base_url(request),
        code=row.code,
        kind=row.kind,
        installed_on=row.installed_on,
        service_life_years=row.service_life_years,
        site_name=row.site_name,
        hotline=row.hotline,
    )


def _printable_item(conn: DbConnection, principal: Principal, code: str) -> TagRow:
    try:
        parse_equipment_code(code)
    except CodeError as exc:
        raise Problem(422, "Invalid equipment code", str(exc)) from None
    row = get_tag_row(conn, code)
    if row is None:
        raise Problem(404, "Unknown equipment", f"no equipment is registered as {code}")
    hidden_unless_seen(principal, code[:11], f"equipment {code}")
    if row.service_status == "retired" or row.site_retired:
        raise Problem(409, "Retired", f"{code} is retired (or its site is): it gets no new tag")
    return row


@router.get(
    "/equipment/{code}/tag.svg",
    openapi_extra=STAFF.openapi_extra,
    response_class=Response,
    responses={**_SVG, **problem_responses(409, 422, 503)},
)
def read_tag_svg(code: str, request: Request, conn: DbConnection, principal: Staff) -> Response:
    """The item's tag: its QR (the public page's URL), code, name, service-life end, hotline."""
    content = _content(request, _printable_item(conn, principal, code))
    layout = lay_out(content, DEFAULT_STOCK.label_width, DEFAULT_STOCK.label_height, _font(request))
    return Response(
        render_svg(layout, title=f"{content.name_zh} {code}"), media_type="image/svg+xml"
    )


@router.get(
    "/equipment/{code}/tag.png",
    openapi_extra=STAFF.openapi_extra,
    response_class=Response,
    responses={**_PNG, **problem_responses(409, 422, 503)},
)
def read_tag_png(
    code: str,
    request: Request,
    conn: DbConnection,
    principal: Staff,
    dpi: Annotated[int, Query(ge=72, le=1200, description="dots per inch")] = 300,
) -> Response:
    """The same tag as a PNG, for printers that take images."""
    content = _content(request, _printable_item(conn, principal, code))
    font = _font(request)
    layout = lay_out(content, DEFAULT_STOCK.label_width, DEFAULT_STOCK.label_height, font)
    return Response(render_png(layout, font, dpi=dpi), media_type="image/png")


Stock = Annotated[StockName, Query(description="A4 label stock: L7173 2x5, L7163 2x7, L7160 3x7")]
Skip = Annotated[int, Query(ge=0, le=20, description="labels already used on the first sheet")]
Offset = Annotated[int, Query(ge=0, description="items to leave out, in code order")]
Limit = Annotated[int, Query(ge=1, le=MAX_TAGS_PER_SHEET_REQUEST)]


def _sheet(
    request: Request,
    rows: Sequence[TagRow],
    *,
    total: int,
    offset: int,
    stock: StockName,
    skip: int,
    name: str,
) -> Response:
    label_stock = LABEL_STOCKS[stock]
    if skip >= label_stock.per_sheet:
        detail = f"skip must be below {label_stock.per_sheet} on {stock}, got {skip}"
        raise Problem(422, "Invalid request", detail)
    if offset >= total:
        raise Problem(422, "Invalid request", f"offset {offset} is past the {total} item(s)")
    contents = [_content(request, row) for row in rows]
    title = f"fitmon tags {name}"
    pdf = render_sheet(contents, _font(request), stock=label_stock, skip=skip, title=title)
    headers = {"Content-Disposition": f'inline; filename="tags-{name}.pdf"'}
    if offset + len(rows) < total:
        following = request.url.include_query_params(offset=offset + len(rows), skip=0)
        headers["Link"] = f'<{following}>; rel="next"'
    return Response(pdf, media_type="application/pdf", headers=headers)


@router.get(
    "/sites/{site_code}/tags.pdf",
    openapi_extra=STAFF.openapi_extra,
    response_class=Response,
    responses=_SHEET,
)
def read_site_tags(
    site_code: Annotated[str, Path(pattern=SITE_CODE)],
    request: Request,
    conn: DbConnection,
    principal: Staff,
    stock: Stock = "L7173",
    skip: Skip = 0,
    offset: Offset = 0,
    limit: Limit = MAX_TAGS_PER_SHEET_REQUEST,
) -> Response:
    """Tags for the site's items (not retired), in code order, on A4 label stock."""
    if not site_exists(conn, site_code) or not principal.sees_site(site_code):
        raise Problem(404, "Unknown site", f"no site is registered as {site_code}")
    total = count_tag_rows(conn, site=site_code)
    if total == 0:
        raise Problem(404, "No items", f"site {site_code} has no items that are not retired")
    rows = list_tag_rows(conn, site=site_code, limit=limit, offset=offset)
    return _sheet(request, rows, total=total, offset=offset, stock=stock, skip=skip, name=site_code)


@router.get(
    "/districts/{district}/tags.pdf",
    openapi_extra=STAFF.openapi_extra,
    response_class=Response,
    responses=_SHEET,
)
def read_district_tags(
    district: Annotated[str, Path(pattern=DISTRICT)],
    request: Request,
    conn: DbConnection,
    principal: Staff,
    stock: Stock = "L7173",
    skip: Skip = 0,
    offset: Offset = 0,
    limit: Limit = MAX_TAGS_PER_SHEET_REQUEST,
) -> Response:
    """Tags for the district's items (not retired), site by site, on A4 label stock; a large
    district comes in parts of `limit` items, each answer linking the next."""
    if not principal.sees_district(district):
        raise not_your_district(principal, district)
    if not district_has_sites(conn, district):
        raise Problem(404, "Unknown district", f"no site is registered in district {district}")
    total = count_tag_rows(conn, district=district)
    if total == 0:
        raise Problem(404, "No items", f"district {district} has no items that are not retired")
    rows = list_tag_rows(conn, district=district, limit=limit, offset=offset)
    return _sheet(request, rows, total=total, offset=offset, stock=stock, skip=skip, name=district)
