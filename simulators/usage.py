"""How each kind of equipment is used: sessions per day, duration, cadence, load, energy.

Which optional measurements a session carries comes from the catalog (EquipmentType.metrics).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from devices.catalog import EQUIPMENT_TYPES, Metric

MAX_SIMULATED_SESSION_S = 7200.0  # well under the protocol's 4 hours; the ledger relies on it
MIN_SESSION_S = 15.0


@dataclass(frozen=True, slots=True)
class UsageProfile:
    daily_sessions: float  # on a mild workday at an average site
    median_s: float  # log-normal duration
    sigma: float
    cycles_per_min: float  # reps per minute, and the cadence where the kind measures one
    load_kg: tuple[float, float] = (0.0, 0.0)
    power_w: float = 0.0  # mean electrical output of a generating bike


USAGE_PROFILES: dict[str, UsageProfile] = {
    "air_walker": UsageProfile(30, 300, 0.6, 40),
    "seated_push": UsageProfile(22, 180, 0.5, 14, (15, 60)),
    "rider": UsageProfile(24, 240, 0.6, 30, (20, 60)),
    "waist_twister": UsageProfile(32, 240, 0.6, 36),
    "back_massager": UsageProfile(26, 360, 0.6, 20),
    "upper_limb_puller": UsageProfile(20, 180, 0.5, 16, (10, 40)),
    "leg_press": UsageProfile(20, 180, 0.5, 14, (30, 90)),
    "horizontal_bar": UsageProfile(12, 60, 0.6, 8, (40, 90)),
    "parallel_bars": UsageProfile(12, 90, 0.6, 10, (40, 90)),
    "table_tennis": UsageProfile(8, 1800, 0.5, 30),
    "smart_bike": UsageProfile(16, 720, 0.5, 60, power_w=60),
}
assert set(USAGE_PROFILES) == set(EQUIPMENT_TYPES), "every catalog kind needs a usage profile"

KINDS: tuple[str, ...] = tuple(sorted(EQUIPMENT_TYPES))
KIND_INDEX: dict[str, int] = {k: i for i, k in enumerate(KINDS)}


def _column(values: list[float]) -> npt.NDArray[np.float64]:
    return np.array(values, dtype=np.float64)


# Per-kind columns, indexed by KIND_INDEX, for vectorised draws.
DAILY = _column([USAGE_PROFILES[k].daily_sessions for k in KINDS])
LOG_MEDIAN = np.log(_column([USAGE_PROFILES[k].median_s for k in KINDS]))
SIGMA = _column([USAGE_PROFILES[k].sigma for k in KINDS])
CYCLES = _column([USAGE_PROFILES[k].cycles_per_min for k in KINDS])
LOAD_LOW = _column([USAGE_PROFILES[k].load_kg[0] for k in KINDS])
LOAD_HIGH = _column([USAGE_PROFILES[k].load_kg[1] for k in KINDS])
POWER = _column([USAGE_PROFILES[k].power_w for k in KINDS])
HAS_CADENCE = [Metric.AVG_CADENCE_RPM in EQUIPMENT_TYPES[k].metrics for k in KINDS]
HAS_LOAD = [Metric.MAX_LOAD_KG in EQUIPMENT_TYPES[k].metrics for k in KINDS]
HAS_ENERGY = [Metric.ENERGY_WH in EQUIPMENT_TYPES[k].metrics for k in KINDS]


@dataclass(slots=True)
class Sessions:
    """m sessions drawn at once; plain lists so that building payloads needs no numpy scalars."""

    duration_s: list[float]
    reps: list[int]
    cadence_rpm: list[float]
    load_kg: list[float]
    energy_wh: list[float]


def draw_sessions(rng: np.random.Generator, kinds: npt.NDArray[np.int16]) -> Sessions:
    """One session per entry of `kinds` (kind indices): durations, reps and measurements."""
    m = len(kinds)
    duration = np.exp(LOG_MEDIAN[kinds] + SIGMA[kinds] * rng.standard_normal(m))
    duration = np.round(np.clip(duration, MIN_SESSION_S, MAX_SIMULATED_SESSION_S), 1)
    pace = CYCLES[kinds] * rng.uniform(0.7, 1.3, m)
    reps = np.rint(pace * duration / 60.0).astype(np.int64)
    load = np.round(rng.uniform(LOAD_LOW[kinds], LOAD_HIGH[kinds]) * 2) / 2
    power = np.clip(rng.normal(POWER[kinds], POWER[kinds] / 3), 0.0, None)
    energy = np.round(power * duration / 3600.0, 3)
    return Sessions(
        duration.tolist(), reps.tolist(), np.round(pace, 1).tolist(), load.tolist(), energy.tolist()
    )
