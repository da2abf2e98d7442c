"""Wear and faults: each fault's hazard grows with an item's age and cumulative use.

Faults raise and clear: transient ones by themselves, the others when a repair crew comes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from devices.catalog import FAULT_TYPES, Severity
from simulators.usage import KINDS

HOURS_PER_YEAR = 365.0 * 24
_STATIC = frozenset({"horizontal_bar", "parallel_bars", "table_tennis"})
_MOVING = frozenset(KINDS) - _STATIC


@dataclass(frozen=True, slots=True)
class FaultModel:
    code: str
    per_year: float  # raises per item-year for a new, unused item
    age_weight: float  # hazard grows by this much per year of age
    use_weight: float  # and by this much per 10,000 sessions of cumulative use
    kinds: frozenset[str]
    clear_after_h: tuple[float, float]  # repair (or self-clearing) time, uniform range
    usage_while_active: float  # how much use goes on while it is raised
    night_factor: float = 1.0  # hazard multiplier from 22:00 to 05:00 (vandalism)

    @property
    def severity(self) -> Severity:
        return FAULT_TYPES[self.code].default_severity


# LOW_BATTERY is driven by the battery model below, not by a hazard.
FAULT_MODELS: tuple[FaultModel, ...] = (
    FaultModel("MECH_JAM", 0.15, 0.25, 0.6, _MOVING, (6, 72), 0.0),
    FaultModel("ABNORMAL_VIBRATION", 0.15, 0.35, 0.4, _MOVING, (24, 120), 0.7),
    FaultModel("STRUCTURE_TILT", 0.03, 0.30, 0.0, frozenset(KINDS), (4, 48), 0.0),
    FaultModel("PART_MISSING", 0.06, 0.30, 0.2, frozenset(KINDS), (8, 72), 0.0),
    FaultModel("DISPLAY_FAILURE", 0.25, 0.30, 0.0, frozenset({"smart_bike"}), (24, 240), 1.0),
    FaultModel("SENSOR_OFFLINE", 1.5, 0.25, 0.3, frozenset(KINDS), (0.03, 1.5), 1.0),
    FaultModel("TAMPER", 0.4, 0.10, 0.0, frozenset(KINDS), (0.02, 0.3), 1.0, night_factor=4.0),
)
assert {f.code for f in FAULT_MODELS} | {"LOW_BATTERY"} == set(FAULT_TYPES)
FAULT_CODES: tuple[str, ...] = (*(f.code for f in FAULT_MODELS), "LOW_BATTERY")
LOW_BATTERY = len(FAULT_MODELS)  # its index in FAULT_CODES
SENSOR_OFFLINE = FAULT_CODES.index("SENSOR_OFFLINE")
STRUCTURE_TILT = FAULT_CODES.index("STRUCTURE_TILT")

BEYOND_SERVICE_LIFE_FACTOR = 1.5
LOW_BATTERY_PCT = 15.0
BATTERY_REPLACED_AFTER_H = (24.0, 168.0)
BATTERY_DRAIN_PCT_PER_H = 0.1  # a new item's sensor box: ~5 weeks from full to low
BATTERY_PER_SESSION_PCT = 0.01
BIKE_CHARGE_PER_WH_PCT = 0.5  # generating bikes charge their own battery


def age_factor(
    age_years: npt.NDArray[np.float64], life_years: npt.NDArray[np.float64], weight: float
) -> npt.NDArray[np.float64]:
    beyond = np.where(age_years > life_years, BEYOND_SERVICE_LIFE_FACTOR, 1.0)
    return (1.0 + weight * age_years) * beyond


def hazards(
    model: FaultModel,
    age_years: npt.NDArray[np.float64],
    life_years: npt.NDArray[np.float64],
    cumulative_use: npt.NDArray[np.float64],
    applies: npt.NDArray[np.bool_],
    night: bool,
    scale: float,
) -> npt.NDArray[np.float64]:
    """Raises per hour for every item (zero where the fault cannot happen to the item's kind)."""
    per_hour = model.per_year * scale / HOURS_PER_YEAR * (model.night_factor if night else 1.0)
    return (
        per_hour
        * age_factor(age_years, life_years, model.age_weight)
        * (1.0 + model.use_weight * cumulative_use / 10_000.0)
        * applies
    )


def battery_drain_per_h(
    age_years: npt.NDArray[np.float64], rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """Older batteries and panels drain faster: twice as fast after five years."""
    return BATTERY_DRAIN_PCT_PER_H * (1.0 + age_years / 5.0) * rng.uniform(0.7, 1.3, len(age_years))


def applicability(kind_indices: npt.NDArray[np.int16]) -> npt.NDArray[np.bool_]:
    """A (faults x items) mask: which fault can happen to which item."""
    table = np.array([[k in model.kinds for k in KINDS] for model in FAULT_MODELS], dtype=np.bool_)
    return table[:, kind_indices]
