"""A city of equipment: generated from parameters or loaded from a registry import file.

The registry CSV of devices.registry_rows is the interchange: `fitmon registry import` loads it too.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

from devices.catalog import EQUIPMENT_TYPES
from devices.codes import make_equipment_code, make_site_code
from devices.registry_rows import EquipmentRow, Registry, SiteRow, parse_registry_csv, registry_csv
from simulators.config import CityShape

# Share of each catalog kind in a typical Chinese community fitness site (全民健身路径).
KIND_MIX: dict[str, float] = {
    "air_walker": 14,
    "seated_push": 10,
    "rider": 10,
    "waist_twister": 14,
    "back_massager": 9,
    "upper_limb_puller": 10,
    "leg_press": 8,
    "horizontal_bar": 6,
    "parallel_bars": 6,
    "table_tennis": 5,
    "smart_bike": 8,
}
assert set(KIND_MIX) == set(EQUIPMENT_TYPES), "the mix must name exactly the catalog's kinds"

_MODEL_PREFIX = {
    "air_walker": "AW",
    "seated_push": "SP",
    "rider": "RD",
    "waist_twister": "WT",
    "back_massager": "BM",
    "upper_limb_puller": "UP",
    "leg_press": "LP",
    "horizontal_bar": "HB",
    "parallel_bars": "PB",
    "table_tennis": "TT",
    "smart_bike": "EB",
}

# Names and centres of the districts the presets use; other codes get a generic name.
DISTRICTS: dict[str, tuple[str, float, float]] = {
    "110101": ("东城区", 39.93, 116.42),
    "110102": ("西城区", 39.91, 116.37),
    "110105": ("朝阳区", 39.92, 116.44),
    "110106": ("丰台区", 39.86, 116.29),
    "110107": ("石景山区", 39.91, 116.22),
    "110108": ("海淀区", 39.96, 116.30),
    "110109": ("门头沟区", 39.94, 116.10),
    "110111": ("房山区", 39.75, 116.14),
    "110112": ("通州区", 39.91, 116.66),
    "320102": ("玄武区", 32.05, 118.80),
    "320104": ("秦淮区", 32.03, 118.79),
    "320105": ("建邺区", 32.00, 118.73),
    "320106": ("鼓楼区", 32.07, 118.77),
    "320111": ("浦口区", 32.06, 118.63),
    "320113": ("栖霞区", 32.10, 118.91),
    "320114": ("雨花台区", 31.99, 118.78),
    "320115": ("江宁区", 31.95, 118.84),
    "320116": ("六合区", 32.32, 118.82),
    "320117": ("溧水区", 31.65, 119.03),
    "320118": ("高淳区", 31.33, 118.89),
    "320705": ("新浦区", 34.60, 119.17),
    "320706": ("海州区", 34.57, 119.13),
}
_PLACES = ("公园", "广场", "社区", "绿地", "河畔", "小区", "体育公园", "街心花园")

INSTALL_SPAN_YEARS = 10


def generate_city(shape: CityShape, *, seed: int, today: date) -> Registry:
    """A registry of `shape.items` items, the same for the same seed and day.

    Sites are installed at dates spread over the last ten years; a quarter of the items were
    replaced since. Kinds follow KIND_MIX.
    """
    rng = random.Random(f"city/{seed}")
    kinds = list(KIND_MIX)
    weights = [KIND_MIX[k] for k in kinds]
    span = INSTALL_SPAN_YEARS * 365
    sites: list[SiteRow] = []
    equipment: list[EquipmentRow] = []
    for division in shape.districts:
        name, lat, lon = DISTRICTS.get(division, (f"区 {division}", 32.0, 118.8))
        for serial in range(1, shape.sites_per_district + 1):
            site = make_site_code(division, serial)
            place = _PLACES[rng.randrange(len(_PLACES))]
            sites.append(
                SiteRow(
                    str(site),
                    f"{name}{place}健身点 {serial:04d}",
                    f"{name}{place}",
                    round(lat + rng.uniform(-0.08, 0.08), 5),
                    round(lon + rng.uniform(-0.08, 0.08), 5),
                )
            )
            site_installed = today - timedelta(days=rng.randrange(30, span))
            for item in range(1, shape.items_per_site + 1):
                kind = rng.choices(kinds, weights)[0]
                installed = site_installed
                if rng.random() < 0.25:  # replaced since the site opened
                    installed += timedelta(days=rng.randrange(0, (today - site_installed).days))
                generation = 1 + (installed.year - (today.year - INSTALL_SPAN_YEARS)) // 4
                equipment.append(
                    EquipmentRow(
                        str(make_equipment_code(site, item)),
                        str(site),
                        kind,
                        f"FM-{_MODEL_PREFIX[kind]}{generation}",
                        installed,
                        EQUIPMENT_TYPES[kind].service_life_years,
                        None,
                    )
                )
    return Registry(sites, equipment)


def sorted_city(registry: Registry) -> Registry:
    """The same city with sites and items in code order (the simulator indexes items so)."""
    return Registry(
        sorted(registry.sites, key=lambda s: s.code),
        sorted(registry.equipment, key=lambda e: e.code),
    )


def load_city(path: Path) -> Registry:
    """Read a registry import file; raises devices.registry_rows.RegistryImportError on bad rows."""
    return sorted_city(parse_registry_csv(path.read_text(encoding="utf-8")))


def write_city(registry: Registry, path: Path) -> None:
    path.write_text(registry_csv(registry.sites, registry.equipment), encoding="utf-8")
