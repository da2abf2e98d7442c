"""`fitmon registry import`: all rows or none, every bad cell reported, re-import updates."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from cli.main import fitmon
from devices.codes import make_equipment_code
from tests.db.registry_support import register_division
from tests.support import new_site_code, scalar

HEADER = "site_code,site_name,equipment_code,kind,installed_on,service_life_years\n"


def write(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "registry.csv"
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def test_import_writes_sites_and_items_and_reimport_updates(
    database_url: str, tmp_path: Path
) -> None:
    site = new_site_code()
    register_division(database_url, site)
    a, b = (str(make_equipment_code(site, n)) for n in (1, 2))
    path = write(
        tmp_path,
        [
            f"{site},West Lake Park,{a},rider,2018-06-01,",
            f"{site},West Lake Park,{b},smart_bike,2024-03-10,10",
        ],
    )
    result = CliRunner().invoke(
        fitmon, ["registry", "import", str(path), "--database-url", database_url]
    )
    assert result.exit_code == 0, result.output
    assert "imported 1 site(s) and 2 item(s)" in result.output
    assert scalar(database_url, "SELECT service_life_years FROM equipment WHERE code = %s", a) == 8
    path = write(tmp_path, [f"{site},West Lake Park,{a},rider,2018-06-01,12"])
    result = CliRunner().invoke(
        fitmon, ["registry", "import", str(path), "--database-url", database_url]
    )
    assert result.exit_code == 0, result.output
    assert scalar(database_url, "SELECT service_life_years FROM equipment WHERE code = %s", a) == 12


def test_a_file_with_bad_rows_writes_nothing_and_reports_each_by_line_and_column(
    database_url: str, tmp_path: Path
) -> None:
    site = new_site_code()
    register_division(database_url, site)
    good = str(make_equipment_code(site, 1))
    bad_check = str(make_equipment_code(site, 2))[:-1] + "Z"
    path = write(
        tmp_path,
        [
            f"{site},East Park,{good},rider,2018-06-01,",
            f"{site},East Park,{bad_check},rider,2018-06-01,",
            f"{site},East Park,{make_equipment_code(site, 3)},rowing_boat,2018-06-31,",
        ],
    )
    result = CliRunner().invoke(
        fitmon, ["registry", "import", str(path), "--database-url", database_url]
    )
    assert result.exit_code == 1
    assert "line 3, column equipment_code" in result.output
    assert "line 4, column kind: unknown kind 'rowing_boat'" in result.output
    assert "line 4, column installed_on" in result.output
    assert scalar(database_url, "SELECT count(*) FROM sites WHERE code = %s", site) == 0
    assert scalar(database_url, "SELECT count(*) FROM equipment WHERE code = %s", good) == 0
