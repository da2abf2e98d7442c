"""Plain keyword-only factories for simulator tests: cities, configs and dry runs."""

from __future__ import annotations

import itertools
import os
import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from devices.codes import make_equipment_code, make_site_code
from devices.registry_rows import EquipmentRow, Registry, SiteRow
from simulators.city import generate_city, sorted_city
from simulators.config import PRESETS, CityShape, ConnectionMode, Misbehaviour, SimConfig
from simulators.delivery import Emission
from simulators.engine import Engine
from simulators.ledger import LedgerWriter
from simulators.messages import ms_of
from simulators.runner import dry_run

START = datetime(2026, 11, 16, tzinfo=UTC)  # a Monday; device times end well before "now"
TODAY = START.date()
QUIET = Misbehaviour(
    offline_per_day=0, reboot_per_day=0, duplicate_share=0, skewed_share=0, bad_share=0
)
ROUGH = Misbehaviour(
    offline_per_day=2.0,
    reboot_per_day=0.5,
    duplicate_share=0.05,
    skewed_share=0.3,
    out_of_order_share=0.5,
    bad_share=0.01,
)

# Divisions 970000-979999 are not real ones; each city in a test session gets its own.
_divisions = itertools.count(random.Random(os.getpid()).randrange(0, 9000))


def new_division() -> str:
    return f"97{next(_divisions) % 10000:04d}"


def make_city(
    *,
    sites: int = 4,
    items: int = 10,
    division: str | None = None,
    seed: int = 1,
    today: date = TODAY,
) -> Registry:
    shape = CityShape((division or new_division(),), sites, items)
    return sorted_city(generate_city(shape, seed=seed, today=today))


def make_aged_city(
    *, kind: str, items_per_age: int, ages_years: tuple[float, ...], today: date = TODAY
) -> Registry:
    """One site per age, every item of `kind` installed that many years before `today`."""
    division = new_division()
    sites, equipment = [], []
    for serial, age in enumerate(ages_years, start=1):
        site = str(make_site_code(division, serial))
        sites.append(SiteRow(site, f"Site aged {age}", None, None, None))
        installed = today - timedelta(days=round(age * 365.25))
        equipment += [
            EquipmentRow(str(make_equipment_code(site, n)), site, kind, None, installed, 8, None)
            for n in range(1, items_per_age + 1)
        ]
    return sorted_city(Registry(sites, equipment))


def make_config(
    *,
    seed: int = 1,
    misbehaviour: Misbehaviour = QUIET,
    connection: ConnectionMode = ConnectionMode.DEVICE,
    heartbeat_s: int = 900,
    tick_s: int = 600,
    topic_root: str = "test/fitness/v1",
    usage_scale: float = 1.0,
    wear_scale: float = 1.0,
    batch_window_s: float = 5.0,
) -> SimConfig:
    return replace(
        PRESETS["small"].config,
        seed=seed,
        misbehaviour=misbehaviour,
        connection=connection,
        heartbeat_s=heartbeat_s,
        tick_s=tick_s,
        topic_root=topic_root,
        usage_scale=usage_scale,
        wear_scale=wear_scale,
        batch_window_s=batch_window_s,
    )


def simulate(
    tmp_path: Path,
    *,
    city: Registry,
    config: SimConfig,
    days: float,
    start: datetime = START,
    name: str = "ledger",
) -> Engine:
    return dry_run(
        city, config, start=start, end=start + timedelta(days=days), ledger_dir=tmp_path / name
    )


def capture(
    tmp_path: Path, *, city: Registry, config: SimConfig, days: float, start: datetime = START
) -> tuple[Engine, list[Emission]]:
    """Run the engine with no broker and keep every emission, in order."""
    ledger = LedgerWriter(tmp_path / "captured", [e.code for e in city.equipment])
    engine = Engine(city, config, start=start, ledger=ledger)
    emissions = list(engine.advance(ms_of(start + timedelta(days=days))))
    emissions += engine.finish()
    engine.close_ledger({"mode": "captured"})
    return engine, emissions
