"""Inspections of a site (the weekly patrol, the monthly check, the twice-yearly full one): each
recorded one restarts the site's inspection interval and closes its overdue alert on the next
tick; each defect it finds in an item (a failed check) goes to the maintenance inbox, as a
citizen's report does, to become an alert and a ticket. Never commits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from devices.inspection_checklist import ANSWERS, check_keys, check_wording, defect_severity
from maintenance.audit import Actor, record
from maintenance.reports import WAKE

# A phone's clock may run a little ahead; further ahead is a mistake.
CLOCK_SKEW = timedelta(minutes=5)


class InspectionError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Inspection:
    id: int
    site_code: str
    inspected_at: datetime
    inspector_id: int | None
    findings: dict[str, Any]
    note: str | None


_COLUMNS = "id, site_code, inspected_at, inspector_id, findings, note"
_INSERT = f"""
INSERT INTO inspections (site_code, inspected_at, inspector_id, findings, note)
VALUES (%(site)s, %(at)s, %(inspector)s, %(findings)s, %(note)s) RETURNING {_COLUMNS}
"""
_LIST = f"""
SELECT {_COLUMNS} FROM inspections
WHERE (%(districts)s::text[] IS NULL OR left(site_code, 6) = ANY(%(districts)s))
  AND (%(site)s::text IS NULL OR site_code = %(site)s)
  AND (%(since)s::timestamptz IS NULL OR inspected_at >= %(since)s)
ORDER BY inspected_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s
"""
_SITE_ITEMS = (
    "SELECT code, kind FROM equipment WHERE site_code = %s AND service_status <> 'retired'"
)
_INBOX = """
INSERT INTO maintenance_inbox (kind, subject, at, fault, severity, detail, inspection_id)
VALUES ('inspection', %s, %s, %s, %s, %s, %s)
"""


@dataclass(frozen=True, slots=True)
class Defect:
    code: str
    check: str


def item_defects(findings: dict[str, Any], kinds: dict[str, str]) -> list[Defect]:
    """The failed checks of `findings["items"]` (`{code: {check: "ok" | "defect"}}`, as the crew
    pages send; findings without "items" name none), given the site's items and their kinds.
    Raises InspectionError for an item not of the site, a check not of its kind, another answer."""
    items = findings.get("items", {})
    if not isinstance(items, dict):
        raise InspectionError('findings["items"] must map item codes to their checks')
    defects = []
    for code, checks in items.items():
        if code not in kinds:
            raise InspectionError(f"{code} is no item in service at this site")
        if not isinstance(checks, dict):
            raise InspectionError(f"{code}: map each check to ok or defect")
        for check, answer in checks.items():
            if check not in check_keys(kinds[code]):
                raise InspectionError(f"{code}: {check!r} is no check of kind {kinds[code]}")
            if answer not in ANSWERS:
                raise InspectionError(f"{code}.{check}: answer ok or defect, not {answer!r}")
            if answer == "defect":
                defects.append(Defect(code, check))
    return defects


def _send_defects(
    conn: psycopg.Connection[Any], inspection: Inspection, defects: list[Defect]
) -> None:
    """Each defect to the maintenance inbox, as the report intake does (maintenance.reports): the
    service takes it into an alert (maintenance.inbox) once the caller commits."""
    for defect in defects:
        zh, en = check_wording(defect.check)
        detail = f"inspection {inspection.id}, failed check: {zh} / {en}"
        severity = defect_severity(defect.check)
        params = (defect.code, inspection.inspected_at, defect.check, severity, detail)
        conn.execute(_INBOX, (*params, inspection.id))
    if defects:
        conn.execute(WAKE)


def record_inspection(
    conn: psycopg.Connection[Any],
    now: datetime,
    *,
    site_code: str,
    inspector_id: int | None,
    inspected_at: datetime | None = None,
    findings: dict[str, Any] | None = None,
    note: str | None = None,
) -> Inspection:
    """Raises LookupError for an unknown site, InspectionError for a time in the future or
    findings that item_defects refuses."""
    at = inspected_at or now
    if at > now + CLOCK_SKEW:
        raise InspectionError(f"an inspection cannot be in the future ({at.isoformat()})")
    if conn.execute("SELECT 1 FROM sites WHERE code = %s", (site_code,)).fetchone() is None:
        raise LookupError(f"no site is registered as {site_code}")
    kinds = {str(code): str(kind) for code, kind in conn.execute(_SITE_ITEMS, (site_code,))}
    defects = item_defects(findings or {}, kinds)
    params = {
        "site": site_code,
        "at": at,
        "inspector": inspector_id,
        "findings": Jsonb(findings or {}),
        "note": note,
    }
    with conn.cursor(row_factory=class_row(Inspection)) as cur:
        inspection = cur.execute(_INSERT, params).fetchone()
    assert inspection is not None
    actor = Actor.person(inspector_id) if inspector_id is not None else Actor.rule("api")
    record(conn, now, actor, "inspection", inspection.id, "recorded", detail=site_code)
    _send_defects(conn, inspection, defects)
    return inspection


def list_inspections(
    conn: psycopg.Connection[Any],
    *,
    districts: Iterable[str] | None,
    site_code: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Inspection]:
    params = {
        "districts": None if districts is None else sorted(districts),
        "site": site_code,
        "since": since,
        "limit": limit,
        "offset": offset,
    }
    with conn.cursor(row_factory=class_row(Inspection)) as cur:
        return cur.execute(_LIST, params).fetchall()
