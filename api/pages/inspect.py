"""Recording a site's inspection from a phone: the checklist for the site and for each of its
items by kind (devices.inspection_checklist), every check answered ok or defect (ok already
chosen, so the crew mark what is wrong), stored through the API's inspection route."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.auth import Principal, forbidden_unless_seen, hidden_unless_seen
from api.database import DbConnection
from api.inspections import InspectionIn, add_inspection
from api.pages.crew import ROLES
from api.pages.crew_queries import SiteItem, site_items, site_name
from api.pages.i18n import Lang, choose_lang, kind_name
from api.pages.photos import read_form
from api.pages.rendering import render
from api.pages.routing import page_router
from api.pages.signin import Staff
from api.problems import Problem
from devices.codes import CodeError, parse_site_code
from devices.inspection_checklist import ANSWERS, SITE_CHECKS, check_keys, checks_for

router = page_router()
CHECKLIST = "GB 19272-2024 Annex I"
_NOTE_MAX = 4000


def _site(
    conn: psycopg.Connection[Any], principal: Principal, site_code: str, *, acting: bool = False
) -> tuple[str, list[SiteItem]]:
    """The site's name and items; Problem 422 for a malformed code, 404 for an unknown site;
    one outside the caller's districts is a 404 to read and a 403 to act on (api.auth)."""
    try:
        parse_site_code(site_code)
    except CodeError as exc:
        raise Problem(422, "Invalid site code", str(exc)) from None
    seen = forbidden_unless_seen if acting else hidden_unless_seen
    seen(principal, site_code, f"site {site_code}")
    name = site_name(conn, site_code)
    if name is None:
        raise Problem(404, "Not found", f"there is no site {site_code}")
    return name, site_items(conn, site_code)


def _context(
    principal: Principal, site_code: str, name: str, items: list[SiteItem], lang: Lang
) -> dict[str, Any]:
    return {
        "principal": principal,
        "site_code": site_code,
        "site_name": name,
        "site_checks": SITE_CHECKS,
        "items": [(i, kind_name(i.kind, lang), checks_for(i.kind)) for i in items],
        "answers": ANSWERS,
        "recorded": None,
        "error": None,
    }


@router.get("/crew/sites/{site_code}/inspect", openapi_extra=ROLES)
def inspection_form(
    site_code: str, request: Request, conn: DbConnection, principal: Staff
) -> Response:
    name, items = _site(conn, principal, site_code)
    lang = choose_lang(request)[0]
    return render(request, "inspect.html", _context(principal, site_code, name, items, lang))


def findings_from(fields: dict[str, str], items: list[SiteItem]) -> dict[str, Any]:
    """The findings of a submitted checklist: `site.<check>` and `item.<code>.<check>` fields,
    each ok or defect. Raises Problem 422 for a field that is no check of this site, or an
    answer that is neither; a check left out counts as ok."""
    kinds = {i.code: i.kind for i in items}
    site = {key: "ok" for key, _, _ in SITE_CHECKS}
    found: dict[str, dict[str, str]] = {
        code: dict.fromkeys(check_keys(kind), "ok") for code, kind in kinds.items()
    }
    for name, answer in fields.items():
        if name == "note":
            continue
        if answer not in ANSWERS:
            raise Problem(422, "Invalid answer", f"{name}: answer ok or defect, not {answer!r}")
        part, _, rest = name.partition(".")
        if part == "site" and rest in site:
            site[rest] = answer
            continue
        code, _, check = rest.rpartition(".")
        if part == "item" and code in found and check in found[code]:
            found[code][check] = answer
            continue
        raise Problem(422, "Not a check of this site", f"{name!r} is no check of this site")
    defects = [f"site.{k}" for k, v in site.items() if v == "defect"] + [
        f"{code}.{k}" for code, checks in found.items() for k, v in checks.items() if v == "defect"
    ]
    return {"checklist": CHECKLIST, "site": site, "items": found, "defects": sorted(defects)}


def _record(
    conn: psycopg.Connection[Any],
    principal: Principal,
    site_code: str,
    fields: dict[str, str],
    lang: Lang,
) -> dict[str, Any]:
    """The inspection recorded: the form's page again, saying so and listing the defects."""
    name, items = _site(conn, principal, site_code, acting=True)
    note = fields.get("note", "").strip() or None
    if note is not None and len(note) > _NOTE_MAX:
        raise Problem(422, "Note too long", f"a note has at most {_NOTE_MAX} characters")
    findings = findings_from(fields, items)
    try:
        body = InspectionIn(site_code=site_code, findings=findings, note=note)
    except ValidationError as exc:
        raise Problem(422, "Invalid inspection", str(exc)) from None
    recorded = add_inspection(body, conn, principal)
    context = _context(principal, site_code, name, items, lang)
    return {**context, "recorded": recorded.id, "defects": findings["defects"]}


@router.post("/crew/sites/{site_code}/inspect", openapi_extra=ROLES)
async def record_inspection_form(
    site_code: str, request: Request, conn: DbConnection, principal: Staff
) -> Response:
    """Recorded: the page says so and lists the defects (201). Refused: 403 (another district),
    404, 422, saying why."""
    fields, _ = await read_form(request)
    lang = choose_lang(request)[0]
    context = await run_in_threadpool(_record, conn, principal, site_code, fields, lang)
    return render(request, "inspect.html", context, status=201)
