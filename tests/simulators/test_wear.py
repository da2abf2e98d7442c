"""Wear and faults: hazards grow with age and use; faults raise, then clear (repaired or not)."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from pathlib import Path

from devices.codes import site_of
from simulators.ledger import read_faults
from tests.simulators.factories import make_aged_city, make_config, simulate

TRANSIENT = {"SENSOR_OFFLINE", "TAMPER"}


def test_fault_rates_rise_with_age(tmp_path: Path) -> None:
    city = make_aged_city(kind="air_walker", items_per_age=150, ages_years=(1.0, 9.0))
    young_site, old_site = city.sites[0].code, city.sites[1].code
    config = make_config(heartbeat_s=3600, wear_scale=5.0, usage_scale=0.3)
    simulate(tmp_path, city=city, config=config, days=15)
    raised = Counter(
        site_of(f.code) for f in read_faults(tmp_path / "ledger") if f.state == "raised"
    )
    assert raised[young_site] > 30  # enough to compare
    assert raised[old_site] > 2 * raised[young_site]


def test_low_battery_comes_sooner_to_old_items(tmp_path: Path) -> None:
    city = make_aged_city(kind="back_massager", items_per_age=100, ages_years=(0.5, 9.5))
    simulate(tmp_path, city=city, config=make_config(heartbeat_s=3600, wear_scale=0.0), days=20)
    low = Counter(
        site_of(f.code)
        for f in read_faults(tmp_path / "ledger")
        if f.fault == "LOW_BATTERY" and f.state == "raised"
    )
    assert low[city.sites[1].code] > 1.5 * low[city.sites[0].code]


def test_every_fault_is_raised_before_it_clears_and_clears_once(tmp_path: Path) -> None:
    city = make_aged_city(kind="smart_bike", items_per_age=60, ages_years=(2.0, 8.0))
    simulate(tmp_path, city=city, config=make_config(heartbeat_s=3600, wear_scale=5.0), days=20)
    history: dict[tuple[str, str], list[str]] = defaultdict(list)
    faults = read_faults(tmp_path / "ledger")
    for fault in sorted(faults, key=lambda f: (f.code, f.boot, f.seq)):
        history[(fault.code, fault.fault)].append(fault.state)
    assert len({f.fault for f in faults}) >= 6
    for states in history.values():
        assert states[0] == "raised"
        assert all(a != b for a, b in itertools.pairwise(states)), states


def test_transient_faults_clear_by_themselves_within_two_hours(tmp_path: Path) -> None:
    city = make_aged_city(kind="rider", items_per_age=100, ages_years=(5.0,))
    simulate(tmp_path, city=city, config=make_config(heartbeat_s=3600, wear_scale=5.0), days=10)
    raised_at = {}
    cleared = 0
    for fault in sorted(read_faults(tmp_path / "ledger"), key=lambda f: (f.code, f.boot, f.seq)):
        if fault.fault not in TRANSIENT:
            continue
        if fault.state == "raised":
            raised_at[(fault.code, fault.fault)] = fault.ts
        else:
            cleared += 1
            assert (fault.ts - raised_at[(fault.code, fault.fault)]).total_seconds() <= 2 * 3600
            assert fault.detail == "recovered by itself"
    assert cleared > 20
