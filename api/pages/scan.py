"""The public page a tag's QR code opens (`/q/<equipment code>`), and its fault report form: no
sign-in, readable without JavaScript, Chinese with an English switch. It shows the item, its
site, whether it may be used, how to use it safely, and takes a report (category, description, up
to 5 photos, an optional phone) through the maintenance loop's intake (maintenance.reports).

It shows nothing of anyone (no reports, no people) and links to no other item; a client that
asks for codes no item is registered as runs out of guesses (rate_limits.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Request
from fastapi.responses import Response
from psycopg.rows import class_row
from starlette.concurrency import run_in_threadpool

from api.auth import PUBLIC
from api.database import ApiPool, PublicReads, ReadPool
from api.pages.i18n import Lang, choose_lang, kind_name, kind_safety, translator
from api.pages.photos import (
    PHOTO_MAX_MB,
    PHOTOS_MAX,
    FormTooLarge,
    PhotoError,
    PreparedPhoto,
    Upload,
    insert_photo,
    prepare_photo,
    read_form,
)
from api.pages.rendering import page_error, render, too_many, wants_html
from api.pages.routing import page_router
from api.rate_limits import PageLimits, client_of, page_limits
from devices.codes import CodeError, parse_equipment_code
from maintenance.reports import CATEGORIES, DESCRIPTION_MAX, Category, file_report

router = page_router()
Limits = Annotated[PageLimits, Depends(page_limits)]
_PHONE_RE = re.compile(r"\+?[0-9]{5,20}", re.ASCII)


@dataclass(frozen=True, slots=True)
class ScanItem:
    code: str
    kind: str
    model: str | None
    maker: str | None
    installed_on: date
    service_life_years: int
    service_status: str
    site_code: str
    site_name: str
    address: str | None
    opens_at: time | None
    closes_at: time | None
    responsible_unit: str | None
    hotline: str | None

    @property
    def life_ends_on(self) -> date:
        end = self.installed_on
        try:
            return end.replace(year=end.year + self.service_life_years)
        except ValueError:  # installed on 29 February
            return end.replace(year=end.year + self.service_life_years, day=28)


_ITEM = """
SELECT e.code, e.kind, e.model, e.maker, e.installed_on, e.service_life_years, e.service_status,
       s.code AS site_code, s.name AS site_name, s.address, s.opens_at, s.closes_at,
       s.responsible_unit, s.hotline
FROM equipment e JOIN sites s ON s.code = e.site_code WHERE e.code = %s
"""


async def read_scan_item(reads: ReadPool, code: str) -> ScanItem | None:
    async with reads.connection() as conn, conn.cursor(row_factory=class_row(ScanItem)) as cur:
        await cur.execute(_ITEM, (code,))
        return await cur.fetchone()


async def _find(
    request: Request, reads: ReadPool, limits: PageLimits, raw: str
) -> ScanItem | Response:
    """The item, or the page to answer instead; an unknown or malformed code costs a guess."""
    client = client_of(request)
    wait = limits.blocked("misses", client)
    if wait is not None:
        return too_many(request, wait)
    t = translator(choose_lang(request)[0])
    code = raw.strip().upper()
    try:
        parse_equipment_code(code)
    except CodeError as exc:
        limits.hit("misses", client)
        return page_error(request, 422, t["bad_code"], str(exc), help_text=t["unknown_code_help"])
    item = await read_scan_item(reads, code)
    if item is None:
        limits.hit("misses", client)
        detail = f"no equipment is registered as {code}"
        return page_error(request, 404, t["unknown_code"], detail, help_text=t["unknown_code_help"])
    return item


def _page_context(item: ScanItem, lang: Lang) -> dict[str, Any]:
    return {
        "item": item,
        "name": kind_name(item.kind, lang),
        "past_life": item.life_ends_on < datetime.now(UTC).date(),
        "safety": [
            *translator(lang)["safety_general"].split("|"),
            *filter(None, [kind_safety(item.kind, lang)]),
        ],
        "categories": CATEGORIES,
        "photos_max": PHOTOS_MAX,
        "photo_mb": PHOTO_MAX_MB,
        "description_max": DESCRIPTION_MAX,
        "form": {},
        "errors": [],
    }


_NO_STORE = {"Cache-Control": "no-cache", "Vary": "Cookie"}


@router.get("/q/{code}", openapi_extra=PUBLIC)
async def scan_page(code: str, request: Request, reads: PublicReads, limits: Limits) -> Response:
    wait = limits.hit("views", client_of(request))
    if wait is not None:
        return too_many(request, wait)
    found = await _find(request, reads, limits, code)
    if not isinstance(found, ScanItem):
        return found
    lang = choose_lang(request)[0]
    return render(request, "scan.html", _page_context(found, lang), headers=_NO_STORE)


@dataclass(frozen=True, slots=True)
class _Report:
    category: Category
    description: str
    hazard: bool
    phone: str | None
    photos: list[PreparedPhoto]


def _check_report(
    form: dict[str, str], uploads: list[Upload], t: Mapping[str, str]
) -> _Report | list[str]:
    errors = []
    category = form.get("category", "")
    if category not in CATEGORIES:
        errors.append(t["err_category"])
    description = form.get("description", "").strip()
    if not 1 <= len(description) <= DESCRIPTION_MAX:
        errors.append(t["err_description"])
    phone = re.sub(r"[\s-]", "", form.get("phone", "")) or None
    if phone is not None and not _PHONE_RE.fullmatch(phone):
        errors.append(t["err_phone"])
    photos = []
    if len(uploads) > PHOTOS_MAX:
        errors.append(t["err_photos_count"])
    else:
        for upload in uploads:
            try:
                photos.append(prepare_photo(upload))
            except PhotoError as exc:
                errors.append(t[exc.key].format(name=exc.name, mb=PHOTO_MAX_MB))
    if errors:
        return errors
    return _Report(category, description, "hazard" in form, phone, photos)  # type: ignore[arg-type]


def _file(pool: ApiPool, code: str, report: _Report) -> int:
    """The report, its photos and its inbox row, in one transaction on a connection taken only
    now: not while an anonymous client was still sending its photos."""
    with pool.connection() as conn, conn.transaction():
        return _file_on(conn, code, report)


def _file_on(conn: psycopg.Connection[Any], code: str, report: _Report) -> int:
    now = datetime.now(UTC)
    filed = file_report(
        conn,
        now,
        code=code,
        category=report.category,
        hazard=report.hazard,
        description=report.description,
        phone=report.phone,
    )
    for photo in report.photos:
        insert_photo(conn, now, photo, report_id=filed.id)
    return filed.id


@router.post("/q/{code}/report", openapi_extra=PUBLIC)
async def report_fault(code: str, request: Request, reads: PublicReads, limits: Limits) -> Response:
    """The form's answer: a thank-you page (201), or the form again with what to correct (422)."""
    wait = limits.hit("reports", client_of(request))
    if wait is not None:
        return too_many(request, wait)
    found = await _find(request, reads, limits, code)
    if not isinstance(found, ScanItem):
        return found
    lang = choose_lang(request)[0]
    t = translator(lang if wants_html(request) else "en")  # problem details are in English
    if found.service_status == "retired":
        return page_error(request, 409, t["retired_why"], f"{found.code} is retired")
    try:
        fields, uploads = await read_form(request)
    except FormTooLarge as exc:  # caught here, not by PageRoute: its title follows `t` above
        return page_error(request, exc.status, t["err_too_large"], exc.detail)
    checked = await run_in_threadpool(_check_report, fields, uploads, t)
    if isinstance(checked, list):
        if not wants_html(request):
            return page_error(request, 422, "Invalid report", "; ".join(checked))
        context = {**_page_context(found, lang), "form": fields, "errors": checked}
        return render(request, "scan.html", context, status=422, switch_path=f"/q/{found.code}")
    report_id = await run_in_threadpool(_file, request.app.state.pool, found.code, checked)
    context = {"item": found, "report_id": report_id, "phone": checked.phone}
    return render(request, "reported.html", context, status=201, switch_path=f"/q/{found.code}")
