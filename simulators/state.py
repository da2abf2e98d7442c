"""The simulated state of every item, as numpy columns (drawn per tick) and lists (per message)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from devices.codes import district_of
from devices.registry_rows import Registry
from simulators.config import SimConfig
from simulators.messages import datetime_of
from simulators.usage import DAILY, KIND_INDEX
from simulators.wear import FAULT_CODES, applicability, battery_drain_per_h

F64 = npt.NDArray[np.float64]


@dataclass(slots=True)
class FleetState:
    codes: list[str]
    kinds: list[str]
    models: list[str]
    site_codes: list[str]  # per site
    site_of: list[int]  # per item: index into site_codes
    divisions: list[str]  # per district
    district_of: npt.NDArray[np.intp]
    kind_index: npt.NDArray[np.int16]
    age0_years: F64  # age at the start of the run
    life_years: F64
    daily: F64  # sessions on a mild workday
    cumulative_use: F64  # sessions over the item's life so far
    battery: F64
    drain_per_h: F64
    tilt_base: F64
    tilt: F64
    rssi: F64
    temp_offset: F64
    applies: npt.NDArray[np.bool_]  # faults x items
    active: npt.NDArray[np.bool_]  # faults x items, raised now (LOW_BATTERY last)
    link_down: npt.NDArray[np.bool_]  # an offline period is scheduled or under way
    skew_ms: list[int]
    boot: list[int]
    first_boot: list[int]
    seq: list[int]
    offline: list[bool]
    busy_until: list[int]
    heartbeat_order: list[int]  # items by heartbeat phase
    heartbeat_phase: list[int]  # ms into each heartbeat period, ascending

    @property
    def size(self) -> int:
        return len(self.codes)


def build_state(
    city: Registry, config: SimConfig, start_ms: int, rng: np.random.Generator
) -> FleetState:
    """Draw every item's hidden properties: popularity, clock skew, battery, radio, phase."""
    items = city.equipment
    n = len(items)
    if n == 0:
        raise ValueError("the city has no equipment")
    site_codes = sorted({e.site_code for e in items})
    site_index = {code: i for i, code in enumerate(site_codes)}
    divisions = sorted({district_of(code) for code in site_codes})
    division_index = {d: i for i, d in enumerate(divisions)}
    start_day = datetime_of(start_ms).date()
    kind_index = np.array([KIND_INDEX[e.kind] for e in items], dtype=np.int16)
    site_popularity = rng.lognormal(0.0, 0.5, len(site_codes))
    site_of = [site_index[e.site_code] for e in items]
    popularity = site_popularity[site_of] * rng.lognormal(0.0, 0.2, n)
    daily = DAILY[kind_index] * popularity * config.usage_scale
    age0 = np.array([max((start_day - e.installed_on).days, 0) / 365.25 for e in items])
    misbehaviour = config.misbehaviour
    skewed = rng.random(n) < misbehaviour.skewed_share
    skew_s = np.where(
        skewed,
        rng.uniform(5.0, max(misbehaviour.max_skew_s, 5.0), n) * rng.choice([-1.0, 1.0], n),
        rng.uniform(-0.5, 0.5, n),
    )
    if misbehaviour.max_skew_s < 5.0:
        skew_s = np.clip(skew_s, -misbehaviour.max_skew_s, misbehaviour.max_skew_s)
    tilt_base = np.round(rng.uniform(0.1, 1.5, n), 1)
    heartbeat_ms = config.heartbeat_s * 1000
    phase = rng.integers(0, heartbeat_ms, n)
    order = np.argsort(phase, kind="stable")
    # Boot counters start at the run's start second, so a later run never reuses (code, boot, seq).
    boot0 = start_ms // 1000
    return FleetState(
        codes=[e.code for e in items],
        kinds=[e.kind for e in items],
        models=[(e.model or f"FM-{e.kind}")[:64] for e in items],
        site_codes=site_codes,
        site_of=site_of,
        divisions=divisions,
        district_of=np.array(
            [division_index[district_of(e.site_code)] for e in items], dtype=np.intp
        ),
        kind_index=kind_index,
        age0_years=age0,
        life_years=np.array([e.service_life_years for e in items], dtype=np.float64),
        daily=daily,
        cumulative_use=age0 * 365.25 * daily * 0.7,
        battery=rng.uniform(30.0, 100.0, n),
        drain_per_h=battery_drain_per_h(age0, rng),
        tilt_base=tilt_base,
        tilt=tilt_base.copy(),
        rssi=np.round(rng.uniform(-95, -55, n)),
        temp_offset=rng.uniform(0.5, 3.0, n),
        applies=applicability(kind_index),
        active=np.zeros((len(FAULT_CODES), n), dtype=np.bool_),
        link_down=np.zeros(n, dtype=np.bool_),
        skew_ms=np.rint(skew_s * 1000).astype(np.int64).tolist(),
        boot=[boot0] * n,
        first_boot=[boot0] * n,
        seq=[0] * n,
        offline=[False] * n,
        busy_until=[0] * n,
        heartbeat_order=order.tolist(),
        heartbeat_phase=phase[order].tolist(),
    )
