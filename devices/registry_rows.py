"""Validation of registry rows (sites and equipment) from any tabular source (CSV now, XLSX later).

All or nothing: every bad cell is reported by line and column before anything is written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

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
)


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


@dataclass(frozen=True, slots=True)
class EquipmentRow:
    code: str
    site_code: str
    kind: str
    model: str | None
    installed_on: date
    service_life_years: int
    location: str | None


@dataclass(frozen=True, slots=True)
class Registry:
    sites: list[SiteRow]
    equipment: list[EquipmentRow]


def _optional(row: Mapping[str, str | None], column: str) -> str | None:
    value = (row.get(column) or "").strip()
    return value or None


def _float_in(
    text: str | None, low: float, high: float, line: int, column: str, errors: list[RowError]
) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        errors.append(RowError(line, column, f"{text!r} is not a number"))
        return None
    if not low <= value <= high:
        errors.append(RowError(line, column, f"{value} is outside {low}..{high}"))
    return value


def validate_registry_rows(rows: Iterable[tuple[int, Mapping[str, str | None]]]) -> Registry:
    """Validate (line number, row) pairs; raises RegistryImportError listing every bad cell."""
    errors: list[RowError] = []
    sites: dict[str, SiteRow] = {}
    site_lines: dict[str, int] = {}
    equipment: dict[str, EquipmentRow] = {}
    equipment_lines: dict[str, int] = {}
    for line, row in rows:
        before = len(errors)
        for column in REQUIRED_COLUMNS:
            if not (row.get(column) or "").strip():
                errors.append(RowError(line, column, "is required"))
        site_code = (row.get("site_code") or "").strip()
        if site_code:
            try:
                parse_site_code(site_code)
            except CodeError as exc:
                errors.append(RowError(line, "site_code", str(exc)))
        code = (row.get("equipment_code") or "").strip()
        if code:
            try:
                parsed = parse_equipment_code(code)
                if site_code and str(parsed.site) != site_code:
                    errors.append(
                        RowError(
                            line, "equipment_code", f"{code} does not belong to site {site_code}"
                        )
                    )
            except CodeError as exc:
                errors.append(RowError(line, "equipment_code", str(exc)))
            if code in equipment_lines:
                errors.append(
                    RowError(
                        line,
                        "equipment_code",
                        f"{code} already given on line {equipment_lines[code]}",
                    )
                )
        kind = (row.get("kind") or "").strip()
        if kind and kind not in EQUIPMENT_TYPES:
            errors.append(
                RowError(
                    line,
                    "kind",
                    f"unknown kind {kind!r}; known: {', '.join(sorted(EQUIPMENT_TYPES))}",
                )
            )
        installed_text = (row.get("installed_on") or "").strip()
        installed_on = date.min
        if installed_text:
            try:
                installed_on = date.fromisoformat(installed_text)
            except ValueError:
                errors.append(
                    RowError(line, "installed_on", f"{installed_text!r} is not a date (YYYY-MM-DD)")
                )
        life_text = _optional(row, "service_life_years")
        life = (
            EQUIPMENT_TYPES[kind].service_life_years
            if kind in EQUIPMENT_TYPES
            else (DEFAULT_SERVICE_LIFE_YEARS)
        )
        if life_text is not None:
            if life_text.isascii() and life_text.isdigit() and 1 <= int(life_text) <= 50:
                life = int(life_text)
            else:
                errors.append(
                    RowError(
                        line,
                        "service_life_years",
                        f"{life_text!r} is not a whole number of years 1-50",
                    )
                )
        latitude = _float_in(
            _optional(row, "site_latitude"), -90, 90, line, "site_latitude", errors
        )
        longitude = _float_in(
            _optional(row, "site_longitude"), -180, 180, line, "site_longitude", errors
        )
        if len(errors) > before:
            continue
        site = SiteRow(
            site_code,
            (row.get("site_name") or "").strip(),
            _optional(row, "site_address"),
            latitude,
            longitude,
        )
        known = sites.get(site_code)
        if known is not None and known.name != site.name:
            errors.append(
                RowError(
                    line,
                    "site_name",
                    f"site {site_code} is named {known.name!r} on line {site_lines[site_code]}",
                )
            )
            continue
        if known is None:
            sites[site_code] = site
            site_lines[site_code] = line
        equipment[code] = EquipmentRow(
            code,
            site_code,
            kind,
            _optional(row, "model"),
            installed_on,
            life,
            _optional(row, "location"),
        )
        equipment_lines[code] = line
    if errors:
        raise RegistryImportError(errors)
    return Registry(list(sites.values()), list(equipment.values()))


def parse_registry_csv(text: str) -> Registry:
    """Parse a registry CSV (header row, one equipment item per row, UTF-8 with or without BOM)."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise RegistryImportError(
            [RowError(1, c, "column is missing from the header") for c in missing]
        )
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise RegistryImportError([RowError(1, c, "unknown column") for c in unknown])
    # line_num counts physical lines, so quoted multi-line cells keep their line numbers right
    return validate_registry_rows((reader.line_num, row) for row in reader)


def registry_csv(sites: Iterable[SiteRow], equipment: Iterable[EquipmentRow]) -> str:
    """Write a registry CSV that parse_registry_csv reads back (simulators write their city so)."""
    by_code = {s.code: s for s in sites}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
    for item in equipment:
        site = by_code[item.site_code]
        writer.writerow(
            [
                site.code,
                site.name,
                item.code,
                item.kind,
                item.installed_on.isoformat(),
                site.address or "",
                "" if site.latitude is None else site.latitude,
                "" if site.longitude is None else site.longitude,
                item.model or "",
                item.service_life_years,
                item.location or "",
            ]
        )
    return out.getvalue()
