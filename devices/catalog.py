"""The equipment and fault catalogs: what outdoor fitness equipment exists and what can go wrong.

Service life follows GB 19272 practice: 8 years by default, overridable per item.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

DEFAULT_SERVICE_LIFE_YEARS = 8


class Metric(StrEnum):
    """The optional measurements a usage session may carry (docs/protocol.md, Payloads)."""

    REPS = "reps"
    ENERGY_WH = "energy_wh"
    AVG_CADENCE_RPM = "avg_cadence_rpm"
    MAX_LOAD_KG = "max_load_kg"


@dataclass(frozen=True, slots=True)
class EquipmentType:
    kind: str
    name_en: str
    name_zh: str
    metrics: frozenset[Metric]
    service_life_years: int = DEFAULT_SERVICE_LIFE_YEARS


_R, _E, _C, _L = Metric.REPS, Metric.ENERGY_WH, Metric.AVG_CADENCE_RPM, Metric.MAX_LOAD_KG

EQUIPMENT_TYPES: dict[str, EquipmentType] = {
    t.kind: t
    for t in (
        EquipmentType("air_walker", "Air walker", "太空漫步机", frozenset({_R, _C})),
        EquipmentType("seated_push", "Seated push", "坐推器", frozenset({_R, _L})),
        EquipmentType("rider", "Rider", "健骑机", frozenset({_R, _C, _L})),
        EquipmentType("waist_twister", "Waist twister", "扭腰器", frozenset({_R, _C})),
        EquipmentType("back_massager", "Back massager", "腰背按摩器", frozenset({_R})),
        EquipmentType("upper_limb_puller", "Upper-limb puller", "上肢牵引器", frozenset({_R, _L})),
        EquipmentType("leg_press", "Leg press", "蹬力器", frozenset({_R, _L})),
        EquipmentType("horizontal_bar", "Horizontal bar", "单杠", frozenset({_R, _L})),
        EquipmentType("parallel_bars", "Parallel bars", "双杠", frozenset({_R, _L})),
        EquipmentType("table_tennis", "Table tennis table", "乒乓球台", frozenset({_R})),
        EquipmentType(
            "smart_bike", "Energy-generating smart bike", "智能发电单车", frozenset({_R, _E, _C})
        ),
    )
}


class Severity(StrEnum):
    """Fault severities (docs/protocol.md): critical is a safety hazard, out of service at once."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"


@dataclass(frozen=True, slots=True)
class FaultType:
    code: str
    description: str
    default_severity: Severity


FAULT_TYPES: dict[str, FaultType] = {
    f.code: f
    for f in (
        FaultType("SENSOR_OFFLINE", "a sensor stopped reporting", Severity.MINOR),
        FaultType("MECH_JAM", "moving part jammed", Severity.MAJOR),
        FaultType("ABNORMAL_VIBRATION", "vibration beyond the normal range", Severity.MAJOR),
        FaultType(
            "STRUCTURE_TILT", "frame tilted, foundation or structure damaged", Severity.CRITICAL
        ),
        FaultType("PART_MISSING", "a part is missing", Severity.CRITICAL),
        FaultType("LOW_BATTERY", "battery low", Severity.MINOR),
        FaultType("DISPLAY_FAILURE", "display not working", Severity.MINOR),
        FaultType("TAMPER", "enclosure opened or device tampered with", Severity.MAJOR),
    )
}
