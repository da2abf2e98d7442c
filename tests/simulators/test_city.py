"""The generated city: valid codes, the requested shape, the catalog's mix, ten years of age."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from devices.codes import parse_equipment_code
from devices.registry_rows import parse_registry_csv
from simulators.city import KIND_MIX, generate_city, load_city, write_city
from simulators.config import CityShape
from tests.simulators.factories import START, make_city, new_division


def test_generated_city_has_the_requested_shape_and_valid_codes() -> None:
    shape = CityShape((new_division(), new_division()), 7, 9)
    city = generate_city(shape, seed=5, today=START.date())
    assert len(city.sites) == 14
    assert len(city.equipment) == shape.items == 126
    for item in city.equipment:
        code = parse_equipment_code(item.code)  # raises on a bad check character
        assert str(code.site) == item.site_code
        assert code.division in shape.districts


def test_city_round_trips_through_the_registry_import_file(tmp_path: Path) -> None:
    city = make_city(sites=5, items=8)
    write_city(city, tmp_path / "city.csv")
    again = parse_registry_csv((tmp_path / "city.csv").read_text(encoding="utf-8"))
    assert sorted(again.equipment, key=lambda e: e.code) == city.equipment
    assert sorted(again.sites, key=lambda s: s.code) == city.sites
    assert load_city(tmp_path / "city.csv") == city


def test_install_dates_spread_over_the_last_ten_years() -> None:
    city = make_city(sites=200, items=5)
    today = START.date()
    ages = [(today - e.installed_on).days / 365.25 for e in city.equipment]
    assert min(ages) >= 0
    assert max(ages) <= 10
    assert sum(a < 2 for a in ages) > 50
    assert sum(a > 8 for a in ages) > 50


def test_kinds_follow_the_catalog_mix() -> None:
    city = make_city(sites=400, items=10)
    counts = Counter(e.kind for e in city.equipment)
    total = sum(KIND_MIX.values())
    for kind, weight in KIND_MIX.items():
        assert counts[kind] / 4000 == pytest.approx(weight / total, abs=0.02), kind


def test_same_seed_gives_the_same_city_and_another_seed_another() -> None:
    division = new_division()
    assert make_city(division=division, seed=3) == make_city(division=division, seed=3)
    assert make_city(division=division, seed=3) != make_city(division=division, seed=4)


def test_item_number_999_is_kept_free_for_unknown_code_messages() -> None:
    with pytest.raises(ValueError, match="1-998"):
        CityShape(("320102",), 1, 999)
