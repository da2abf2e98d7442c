"""The registry's import and export files: CSV and XLSX (the spreadsheets cities keep), with the
same columns (devices.registry_rows), read all or nothing and written so that they read back."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, time
from typing import Literal

from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

from devices.registry_rows import (
    COLUMNS,
    EquipmentRow,
    Registry,
    RegistryImportError,
    RowError,
    SiteRow,
    check_header,
    parse_registry_csv,
    registry_csv,
    registry_rows,
    validate_registry_rows,
)

FileFormat = Literal["csv", "xlsx"]
MEDIA_TYPES: dict[FileFormat, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
MAX_FILE_BYTES = 20 * 1024 * 1024  # 100,000 items take about 15 MB as CSV, less as XLSX
# An XLSX is a zip: refuse one that would unpack to more than this before reading it.
MAX_XLSX_UNPACKED_BYTES = 256 * 1024 * 1024
SHEET_TITLE = "registry"


def _file_error(message: str) -> RegistryImportError:
    return RegistryImportError([RowError(0, "", message)])


def parse_registry_file(data: bytes, file_format: FileFormat) -> Registry:
    """Parse an import file; raises RegistryImportError naming every bad cell, or the file's
    problem (on line 0) when it cannot be read at all."""
    if len(data) > MAX_FILE_BYTES:
        raise _file_error(f"the file is {len(data)} bytes; at most {MAX_FILE_BYTES}")
    if file_format == "csv":
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _file_error(f"the file is not UTF-8 text: {exc}") from None
        return parse_registry_csv(text)
    return parse_registry_xlsx(data)


def _cell_text(value: object) -> str | None:
    """A spreadsheet cell as the text a CSV would hold: dates as YYYY-MM-DD, times as HH:MM,
    whole numbers without a decimal point."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return f"{value:%H:%M}" if value.second == 0 else value.isoformat()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parse_registry_xlsx(data: bytes) -> Registry:
    """The first sheet of an XLSX: a header row, then one item per row; line = the sheet's row."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise _file_error("the file is not an XLSX workbook (not a zip archive)") from None
    if unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise _file_error(
            f"the workbook unpacks to {unpacked} bytes; at most the limit of "
            f"{MAX_XLSX_UNPACKED_BYTES}"
        )
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise _file_error(f"the file is not a readable XLSX workbook: {exc}") from None
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            raise _file_error("the workbook has no sheet")
        rows = sheet.iter_rows(values_only=True)
        first = next(rows, None)
        header = [(_cell_text(v) or "").strip() for v in first or ()]
        while header and not header[-1]:
            header.pop()  # trailing empty header cells: formatting, not columns
        check_header(header)
        stray: list[RowError] = []
        try:
            registry = validate_registry_rows(_sheet_rows(rows, header, stray), header)
        except RegistryImportError as exc:
            raise RegistryImportError(sorted(exc.errors + stray, key=lambda e: e.line)) from None
        if stray:
            raise RegistryImportError(stray)
        return registry
    finally:
        book.close()


def _sheet_rows(
    rows: Iterable[tuple[object, ...]], header: list[str], stray: list[RowError]
) -> Iterator[tuple[int, Mapping[str, str | None]]]:
    for line, values in enumerate(rows, start=2):
        cells = [_cell_text(v) for v in values]
        if not any((c or "").strip() for c in cells):
            continue  # an empty row (spreadsheets keep formatted, empty rows)
        past = [n for n, c in enumerate(cells[len(header) :], len(header) + 1) if (c or "").strip()]
        if past:
            where = get_column_letter(past[0])
            stray.append(RowError(line, where, "a value in a column with no header"))
        yield line, dict(zip(header, cells, strict=False))


def registry_xlsx(sites: Iterable[SiteRow], equipment: Iterable[EquipmentRow]) -> bytes:
    """Write the registry as an XLSX that parse_registry_xlsx reads back (dates as dates)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(SHEET_TITLE)
    sheet.append(list(COLUMNS))
    for row in registry_rows(sites, equipment):
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def registry_file(
    sites: Iterable[SiteRow], equipment: Iterable[EquipmentRow], file_format: FileFormat
) -> bytes:
    if file_format == "csv":
        return registry_csv(sites, equipment).encode("utf-8")
    return registry_xlsx(sites, equipment)
