"""Import and export files (CSV, XLSX) through `fitmon registry`: all rows or none, every bad cell
by line and column, every change audited, absent columns kept, and an export that imports back
as it was."""

from __future__ import annotations

import io
import random
from datetime import date, time
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import Workbook, load_workbook

from cli.main import fitmon
from devices.codes import make_equipment_code, make_site_code
from devices.registry_files import parse_registry_file
from devices.registry_rows import COLUMNS, RegistryImportError
from tests.db.registry_support import register_division
from tests.support import new_site_code, scalar

HEADER = ["site_code", "site_name", "equipment_code", "kind", "installed_on", "site_hotline"]


def xlsx(path: Path, rows: list[list[object]], header: list[str] = HEADER) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def unlisted_site_code() -> str:
    """A site in a made-up division (96xxxx) that no test enters in the division list."""
    return str(make_site_code(f"96{random.randrange(10000):04d}", random.randrange(10000)))


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(fitmon, ["registry", *args])
    return result.exit_code, result.output


def test_an_xlsx_imports_with_typed_cells_and_its_export_imports_back_unchanged(
    database_url: str, tmp_path: Path
) -> None:
    site = new_site_code()
    district = register_division(database_url, site)
    a, b = (str(make_equipment_code(site, n)) for n in (1, 2))
    rows: list[list[object]] = [
        [site, "滨江公园", a, "rider", date(2019, 4, 1), "025-8888 1234"],
        [site, "滨江公园", b, "smart_bike", date(2024, 3, 10), "025-8888 1234"],
    ]
    code, out = run(
        "import", str(xlsx(tmp_path / "city.xlsx", rows)), "--database-url", database_url
    )
    assert code == 0, out
    assert "1 site(s) and 2 item(s) new" in out
    assert (
        scalar(database_url, "SELECT hotline FROM sites WHERE code = %s", site) == "025-8888 1234"
    )
    assert scalar(database_url, "SELECT installed_on FROM equipment WHERE code = %s", b) == date(
        2024, 3, 10
    )
    audited = "SELECT count(*) FROM audit_trail WHERE entity_id = ANY(%s) AND action = 'created'"
    assert scalar(database_url, audited, [site, a, b]) == 3

    exported = tmp_path / "export.xlsx"
    code, out = run("export", str(exported), "--district", district, "--database-url", database_url)
    assert code == 0, out
    book = load_workbook(exported, read_only=True)  # read-only keeps the file open until closed
    try:
        assert [c.value for c in next(book.worksheets[0].iter_rows())] == list(COLUMNS)
    finally:
        book.close()
    code, out = run("import", str(exported), "--database-url", database_url)
    assert code == 0, out
    assert "0 site(s) and 0 item(s) new, 0 site(s) and 0 item(s) changed" in out


def test_a_changed_cell_is_audited_and_a_column_left_out_keeps_the_stored_value(
    database_url: str, tmp_path: Path
) -> None:
    site = new_site_code()
    register_division(database_url, site)
    item = str(make_equipment_code(site, 1))
    first = [[site, "Park", item, "rider", date(2019, 4, 1), "12345"]]
    assert (
        run("import", str(xlsx(tmp_path / "a.xlsx", first)), "--database-url", database_url)[0] == 0
    )
    renamed = tmp_path / "b.csv"
    header = "site_code,site_name,equipment_code,kind,installed_on\n"
    renamed.write_text(f"{header}{site},Riverside Park,{item},rider,2019-04-01\n", encoding="utf-8")
    code, out = run("import", str(renamed), "--database-url", database_url)
    assert code == 0, out
    assert "0 site(s) and 0 item(s) new, 1 site(s) and 0 item(s) changed, 1 unchanged" in out
    assert scalar(database_url, "SELECT hotline FROM sites WHERE code = %s", site) == "12345"
    detail = "SELECT detail FROM audit_trail WHERE entity_id = %s AND action = 'updated'"
    assert scalar(database_url, detail, site) == "name: 'Park' -> 'Riverside Park'"


def test_bad_cells_and_an_unlisted_division_are_each_reported_and_nothing_is_written(
    database_url: str, tmp_path: Path
) -> None:
    site = unlisted_site_code()
    good = str(make_equipment_code(site, 1))
    bad_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    rows: list[list[object]] = [
        [site, "Park", good, "rider", date(2019, 4, 1), "12345"],
        [site, "Park", bad_check, "rider", "2019-02-30", "12345"],
        [site, "Park", str(make_equipment_code(site, 3)), "rider", date(2019, 4, 1), "call us"],
    ]
    code, out = run(
        "import", str(xlsx(tmp_path / "bad.xlsx", rows)), "--database-url", database_url
    )
    assert code == 1
    assert "line 3, column equipment_code: wrong check character" in out
    assert "line 3, column installed_on: '2019-02-30' is not a date" in out
    assert "line 4, column site_hotline: 'call us' is not a phone number" in out
    assert scalar(database_url, "SELECT count(*) FROM sites WHERE code = %s", site) == 0

    fine = [[site, "Park", good, "rider", date(2019, 4, 1), "12345"]]
    code, out = run(
        "import", str(xlsx(tmp_path / "one.xlsx", fine)), "--database-url", database_url
    )
    assert code == 1
    assert f"line 2, column site_code: division {site[:6]} is not in the division list" in out
    assert scalar(database_url, "SELECT count(*) FROM equipment WHERE code = %s", good) == 0


def test_files_that_cannot_be_read_say_why() -> None:
    for data, fmt, message in (
        (b"PK\x03\x04 not really", "xlsx", "not an XLSX workbook"),
        (b"\xff\xfe\x00", "csv", "not UTF-8"),
        (b"site_code,site_name,kind\n", "csv", "column equipment_code: column is missing"),
    ):
        with pytest.raises(RegistryImportError, match=message):
            parse_registry_file(data, fmt)  # type: ignore[arg-type]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    sheet.append(["110101-0001", "P", "110101-0001-001-X", "rider", "2020-01-01", None, "stray"])
    out = io.BytesIO()
    book.save(out)
    with pytest.raises(RegistryImportError, match="line 2, column G: a value in a column with no"):
        parse_registry_file(out.getvalue(), "xlsx")


def test_opening_hours_must_come_in_pairs_and_in_order() -> None:
    header = "site_code,site_name,equipment_code,kind,installed_on,site_opens_at,site_closes_at\n"
    code = str(make_equipment_code("110101-0001", 1))
    ok = parse_registry_file(
        (header + f"110101-0001,P,{code},rider,2020-01-01,06:00,22:30\n").encode(), "csv"
    )
    assert (ok.sites[0].opens_at, ok.sites[0].closes_at) == (time(6), time(22, 30))
    for hours, message in (
        ("06:00,", "give both"),
        ("22:00,06:00", "not after it opens"),
        ("6am,22:00", "not a time"),
    ):
        text = header + f"110101-0001,P,{code},rider,2020-01-01,{hours}\n"
        with pytest.raises(RegistryImportError, match=message):
            parse_registry_file(text.encode(), "csv")
