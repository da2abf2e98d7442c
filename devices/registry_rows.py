"""Validation of registry rows (sites and equipment) from any tabular source (CSV, XLSX).

All or nothing: every bad cell is reported by line and column before anything is written.
One row per item; the site's columns repeat on each of its items' rows and must agree.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, time

from devices.catalog import DEFAULT_SERVICE_LIFE_YEARS, EQUIPMENT_TYPES
from devices.codes import CodeError, parse_equipment_code, parse_site_code

REQUIRED_COLUMNS = ("site_code", "site_name", "equipment_code", "kind", "installed_on")
OPTIONAL_COLUMNS = (
    "site_address",
    "site_latitude",
    "site_longitude",
    "model",
    "service_life_years",
    "location",
    "site_opens_at",
    "site_closes_at",
    "site_inspection_interval_days",
    "site_responsible_unit",
    "site_hotline",
    "maker",
)
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
MAX_ROWS = 100_000  # items in one file; a city's registry, split by district beyond that
DEFAULT_INSPECTION_INTERVAL_DAYS = 7
# The longest text each column takes: enough for any real name, and nothing the pages must wrap.
MAX_LENGTH = {
    "site_name": 200,
    "site_address": 500,
    "model": 100,
    "location": 200,
    "site_responsible_unit": 200,
    "maker": 200,
}
HOTLINE_RE = re.compile(r"[0-9][0-9 -]{2,31}", re.ASCII)  # the sites.hotline CHECK
_TIME_RE = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])(:00)?", re.ASCII)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # PostgreSQL text refuses NUL


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"


class RegistryImportError(ValueError):
    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        shown = "\n".join(str(e) for e in errors[:50])
        more = f"\n... and {len(errors) - 50} more" if len(errors) > 50 else ""
        super().__init__(f"{len(errors)} error(s) in the registry file:\n{shown}{more}")


@dataclass(frozen=True, slots=True)
class SiteRow:
    code: str
    name: str
    address: str | None
    latitude: float | None
    longitude: float | None
    opens_at: time | None = None  # with closes_at None: open all day
    closes_at: time | None = None
    inspection_interval_days: int = DEFAULT_INSPECTION_INTERVAL_DAYS
    responsible_unit: str | None = None
    hotline: str | None = None


@dataclass(frozen=True, slots=True)
class EquipmentRow:
    code: str
    site_code: str
    kind: str
    model: str | None
    installed_on: date
    service_life_years: int
    location: str | None
    maker: str | None = None


@dataclass(frozen=True, slots=True)
class Registry:
    sites: list[SiteRow]
    equipment: list[EquipmentRow]
    # The columns the file had (None: all): a column the file leaves out keeps what is stored.
    columns: frozenset[str] | None = field(default=None, compare=False)
    # The line each site and item was first given on, to report what the store refuses.
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)


def check_header(header: Sequence[str]) -> None:
    """Raises RegistryImportError for missing, unknown or repeated columns (all on line 1)."""
    errors = [RowError(1, c, "column is missing from the header") for c in REQUIRED_COLUMNS]
    errors = [e for e in errors if e.column not in header]
    seen: set[str] = set()
    for column in header:
        if column not in COLUMNS:
            errors.append(RowError(1, column, "unknown column"))
        elif column in seen:
            errors.append(RowError(1, column, "column is given twice"))
        seen.add(column)
    if errors:
        raise RegistryImportError(errors)


class _Row:
    """One row's cells, checked one by one; each problem goes to `errors` with its column."""

    def __init__(self, line: int, cells: Mapping[str, str | None], errors: list[RowError]) -> None:
        self.line = line
        self.cells = cells
        self.errors = errors

    def bad(self, column: str, message: str) -> None:
        self.errors.append(RowError(self.line, column, message))

    def text(self, column: str) -> str | None:
        value = (self.cells.get(column) or "").strip()
        if not value:
            return None
        if _CONTROL_RE.search(value):
            self.bad(column, "contains control characters")
            return None
        limit = MAX_LENGTH.get(column)
        if limit is not None and len(value) > limit:
            self.bad(column, f"is {len(value)} characters long; at most {limit}")
            return None
        return value

    def number(self, column: str, low: float, high: float) -> float | None:
        text = self.text(column)
        if text is None:
            return None
        try:
            value = float(text)
        except ValueError:
            self.bad(column, f"{text!r} is not a number")
            return None
        if not low <= value <= high:  # also refuses nan
            self.bad(column, f"{text} is outside {low}..{high}")
            return None
        return value

    def whole(self, column: str, low: int, high: int, what: str) -> int | None:
        text = self.text(column)
        if text is None:
            return None
        if text.isascii() and text.isdigit() and low <= int(text) <= high:
            return int(text)
        self.bad(column, f"{text!r} is not a whole number of {what} {low}-{high}")
        return None

    def clock(self, column: str) -> time | None:
        text = self.text(column)
        if text is None:
            return None
        match = _TIME_RE.fullmatch(text)
        if match is None:
            self.bad(column, f"{text!r} is not a time of day (HH:MM, 00:00-23:59)")
            return None
        return time(int(match[1]), int(match[2]))


def opening_hours_problem(opens_at: time | None, closes_at: time | None) -> str | None:
    """Why a site's opening hours are refused, or None: both or neither, closing after opening."""
    if (opens_at is None) != (closes_at is None):
        return "give both opening and closing times, or neither (open all day)"
    if opens_at is not None and closes_at is not None and closes_at <= opens_at:
        return f"closes at {closes_at:%H:%M}, not after it opens"
    return None


def _site(row: _Row, code: str, name: str) -> SiteRow:
    opens_at, closes_at = row.clock("site_opens_at"), row.clock("site_closes_at")
    hours_problem = opening_hours_problem(opens_at, closes_at)
    if hours_problem is not None:
        row.bad("site_closes_at", hours_problem)
    hotline = row.text("site_hotline")
    if hotline is not None and HOTLINE_RE.fullmatch(hotline) is None:
        row.bad("site_hotline", f"{hotline!r} is not a phone number (digits, spaces, '-')")
    interval = row.whole("site_inspection_interval_days", 1, 366, "days")
    return SiteRow(
        code,
        name,
        row.text("site_address"),
        row.number("site_latitude", -90, 90),
        row.number("site_longitude", -180, 180),
        opens_at,
        closes_at,
        DEFAULT_INSPECTION_INTERVAL_DAYS if interval is None else interval,
        row.text("site_responsible_unit"),
        hotline,
    )


def validate_registry_rows(
    rows: Iterable[tuple[int, Mapping[str, str | None]]], columns: Iterable[str] | None = None
) -> Registry:
    """Validate (line number, row) pairs; raises RegistryImportError listing every bad cell."""
    errors: list[RowError] = []
    sites: dict[str, SiteRow] = {}
    equipment: dict[str, EquipmentRow] = {}
    lines: dict[str, int] = {}
    count = 0
    for line, cells in rows:
        count += 1
        if count > MAX_ROWS:
            errors.append(RowError(line, "", f"more than {MAX_ROWS} rows: split the file"))
            break
        before = len(errors)
        row = _Row(line, cells, errors)
        for column in REQUIRED_COLUMNS:
            if not (cells.get(column) or "").strip():
                row.bad(column, "is required")
        site_code = (cells.get("site_code") or "").strip()
        if site_code:
            try:
                parse_site_code(site_code)
            except CodeError as exc:
                row.bad("site_code", str(exc))
        code = (cells.get("equipment_code") or "").strip()
        if code:
            try:
                parsed = parse_equipment_code(code)
                if site_code and str(parsed.site) != site_code:
                    row.bad("equipment_code", f"{code} does not belong to site {site_code}")
            except CodeError as exc:
                row.bad("equipment_code", str(exc))
            if code in equipment:
                row.bad("equipment_code", f"{code} already given on line {lines[code]}")
        kind = (cells.get("kind") or "").strip()
        if kind and kind not in EQUIPMENT_TYPES:
            kinds = ", ".join(sorted(EQUIPMENT_TYPES))
            row.bad("kind", f"unknown kind {kind!r}; known: {kinds}")
        installed_text = (cells.get("installed_on") or "").strip()
        installed_on = date.min
        if installed_text:
            try:
                installed_on = date.fromisoformat(installed_text)
            except ValueError:
                row.bad("installed_on", f"{installed_text!r} is not a date (YYYY-MM-DD)")
        life = row.whole("service_life_years", 1, 50, "years")
        if life is None:
            known_kind = EQUIPMENT_TYPES.get(kind)
            life = (
                DEFAULT_SERVICE_LIFE_YEARS if known_kind is None else known_kind.service_life_years
            )
        site = _site(row, site_code, row.text("site_name") or "")
        item = EquipmentRow(
            code,
            site_code,
            kind,
            row.text("model"),
            installed_on,
            life,
            row.text("location"),
            row.text("maker"),
        )
        if len(errors) > before:
            continue
        known = sites.get(site_code)
        if known is not None and known != site:
            differ = next(
                f.name for f in fields(SiteRow) if getattr(site, f.name) != getattr(known, f.name)
            )
            row.bad(
                _SITE_COLUMN[differ],
                f"site {site_code} is given differently on line {lines[site_code]}",
            )
            continue
        if known is None:
            sites[site_code] = site
            lines[site_code] = line
        equipment[code] = item
        lines[code] = line
    if errors:
        raise RegistryImportError(errors)
    return Registry(
        list(sites.values()),
        list(equipment.values()),
        None if columns is None else frozenset(columns),
        lines,
    )


_SITE_COLUMN = {
    "code": "site_code",
    "name": "site_name",
    "address": "site_address",
    "latitude": "site_latitude",
    "longitude": "site_longitude",
    "opens_at": "site_opens_at",
    "closes_at": "site_closes_at",
    "inspection_interval_days": "site_inspection_interval_days",
    "responsible_unit": "site_responsible_unit",
    "hotline": "site_hotline",
}


def parse_registry_csv(text: str) -> Registry:
    """Parse a registry CSV (header row, one equipment item per row, UTF-8 with or without BOM)."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    header = [c.strip() for c in reader.fieldnames or []]
    check_header(header)
    reader.fieldnames = header
    # line_num counts physical lines, so quoted multi-line cells keep their line numbers right
    return validate_registry_rows(((reader.line_num, row) for row in reader), header)


def registry_rows(
    sites: Iterable[SiteRow], equipment: Iterable[EquipmentRow]
) -> Iterable[list[object]]:
    """The registry as the rows of an import file, in COLUMNS order (None: an empty cell)."""
    by_code = {s.code: s for s in sites}
    for item in equipment:
        site = by_code[item.site_code]
        yield [
            site.code,
            site.name,
            item.code,
            item.kind,
            item.installed_on,
            site.address,
            site.latitude,
            site.longitude,
            item.model,
            item.service_life_years,
            item.location,
            None if site.opens_at is None else f"{site.opens_at:%H:%M}",
            None if site.closes_at is None else f"{site.closes_at:%H:%M}",
            site.inspection_interval_days,
            site.responsible_unit,
            site.hotline,
            item.maker,
        ]


def registry_csv(sites: Iterable[SiteRow], equipment: Iterable[EquipmentRow]) -> str:
    """Write a registry CSV that parse_registry_csv reads back (the export; simulators' city)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in registry_rows(sites, equipment):
        writer.writerow(
            ["" if v is None else v.isoformat() if isinstance(v, date) else v for v in row]
        )
    return out.getvalue()
