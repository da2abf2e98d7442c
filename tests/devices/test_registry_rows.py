"""Registry CSV validation: all or nothing, every bad cell reported by line and column."""

from __future__ import annotations

import pytest

from devices.registry_rows import RegistryImportError, parse_registry_csv, registry_csv

HEADER = "site_code,site_name,equipment_code,kind,installed_on,service_life_years\n"


def test_valid_csv_gives_sites_and_items_with_default_service_life() -> None:
    text = HEADER + (
        "320705-0042,Cangwu Park,320705-0042-007-4,air_walker,2019-04-01,\n"
        "320705-0042,Cangwu Park,320705-0042-008-2,smart_bike,2023-09-15,10\n"
    )
    registry = parse_registry_csv(text)
    assert [s.code for s in registry.sites] == ["320705-0042"]
    assert [(e.code, e.service_life_years) for e in registry.equipment] == [
        ("320705-0042-007-4", 8),
        ("320705-0042-008-2", 10),
    ]


def test_every_bad_cell_is_reported_by_line_and_column() -> None:
    text = HEADER + (
        "320705-0042,Cangwu Park,320705-0042-007-5,air_walker,2019-04-01,\n"
        "320705-0042,Cangwu Park,320705-0042-008-2,jetpack,2019-13-01,0\n"
        "320705-0043,,320705-0042-009-0,rider,2020-01-01,\n"
    )
    with pytest.raises(RegistryImportError) as info:
        parse_registry_csv(text)
    found = {(e.line, e.column) for e in info.value.errors}
    assert found == {
        (2, "equipment_code"),
        (3, "kind"),
        (3, "installed_on"),
        (3, "service_life_years"),
        (4, "site_name"),
        (4, "equipment_code"),
    }
    assert "line 2, column equipment_code: wrong check character '5'" in str(info.value)


def test_missing_header_columns_are_reported() -> None:
    with pytest.raises(RegistryImportError, match="column kind: column is missing"):
        parse_registry_csv("site_code,site_name,equipment_code,installed_on\n")


def test_written_csv_reads_back_the_same_registry() -> None:
    text = HEADER + "320705-0042,Cangwu Park,320705-0042-007-4,rider,2019-04-01,9\n"
    registry = parse_registry_csv(text)
    again = parse_registry_csv(registry_csv(registry.sites, registry.equipment))
    assert again == registry
