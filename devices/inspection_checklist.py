"""The inspection checklist, after GB 19272-2024 Annex I (the inspection of outdoor fitness
equipment in use): checks of the site as a whole, checks every item gets, and the checks particular
to each kind, with what a defect found by each means for the maintenance loop. Each check is (key,
Chinese, English); a recorded inspection keeps the keys, so a later wording change does not change
what was found."""

from __future__ import annotations

from typing import Literal

Severity = Literal["critical", "major", "minor"]
Check = tuple[str, str, str]

SITE_CHECKS: tuple[Check, ...] = (
    (
        "surface",
        "场地地面平整、无积水,安全区内无障碍物",
        "Ground even and drained; safety zone clear",
    ),
    ("signage", "场地须知、管理单位和维修电话公示清楚", "Site notice, unit and hotline displayed"),
)

COMMON_CHECKS: tuple[Check, ...] = (
    ("foundation", "基础牢固,无松动、倾斜", "Foundation firm, not loose or tilted"),
    ("structure", "立柱、主体无开裂、变形、严重锈蚀", "Frame free of cracks, bends, heavy rust"),
    ("fasteners", "紧固件齐全、无松动,螺栓有防护帽", "Fasteners present and tight, bolts capped"),
    ("edges", "无锐边、毛刺和突出物", "No sharp edges, burrs or protrusions"),
    ("entrapment", "无可夹住手指、头颈的间隙", "No gaps that can trap fingers, head or neck"),
    (
        "moving_parts",
        "运动部件转动灵活,无卡滞、异响",
        "Moving parts run freely, no jamming or noise",
    ),
    ("parts", "零部件齐全,无缺失", "No part missing"),
    (
        "labels",
        "警示标志、使用说明和编码标签清晰",
        "Warning label, instructions and code tag legible",
    ),
)

KIND_CHECKS: dict[str, tuple[Check, ...]] = {
    "air_walker": (("limit_stop", "摆动限位装置完好", "Swing stops intact"),),
    "seated_push": (("seat_back", "座椅、靠背牢固无破损", "Seat and back rest firm, undamaged"),),
    "rider": (("seat_pedals", "座椅、脚踏、手柄牢固", "Seat, pedals and handles firm"),),
    "waist_twister": (
        ("turntable", "转盘转动平稳,无间隙晃动", "Turntable turns smoothly, no play"),
    ),
    "back_massager": (("rollers", "按摩滚轮完好,转动灵活", "Rollers intact and free"),),
    "upper_limb_puller": (
        ("cables", "拉索、滑轮无磨损、断丝", "Cables and pulleys unworn, no broken strands"),
    ),
    "leg_press": (("footplates", "脚踏板防滑、牢固", "Foot plates firm and non-slip"),),
    "horizontal_bar": (("bar_fixed", "横杠固定牢固、不转动", "Bar fixed, does not turn"),),
    "parallel_bars": (("bars_fixed", "双杠牢固,杠面无开裂", "Bars firm, no cracks"),),
    "table_tennis": (("net_table", "球台台面完好,球网齐全", "Table top intact, net in place"),),
    "smart_bike": (
        ("electrics", "电气部件无外露,显示屏正常", "No exposed electrics; display works"),
    ),
}

ANSWERS = ("ok", "defect")

# What a defect (a failed check of an item) means for the maintenance loop: its alert's severity,
# hence its ticket's deadline; a critical one takes the item out of service until repaired, as a
# citizen's hazard report does (docs/maintenance.md). Critical: a gap that can trap a finger, head
# or neck, and exposed electrics, can hurt the very next user (that check cannot tell a dead
# display from bare wires, so it errs on the safe side). Minor: an illegible label or tag
# harms nobody before a week's repair. Every other check (frame, foundation, fasteners, edges,
# moving and missing parts, each kind's own) is major: wear to repair within the 72 hours usual
# for repairs, not a hazard of the next use.
_DEFECT_SEVERITY: dict[str, Severity] = {
    "entrapment": "critical",
    "electrics": "critical",
    "labels": "minor",
}

_WORDING = {
    key: (zh, en) for checks in (COMMON_CHECKS, *KIND_CHECKS.values()) for key, zh, en in checks
}


def checks_for(kind: str) -> tuple[Check, ...]:
    return COMMON_CHECKS + KIND_CHECKS.get(kind, ())


def check_keys(kind: str) -> frozenset[str]:
    return frozenset(key for key, _, _ in checks_for(kind))


def defect_severity(key: str) -> Severity:
    return _DEFECT_SEVERITY.get(key, "major")


def check_wording(key: str) -> tuple[str, str]:
    """The check's Chinese and English wording. Raises KeyError for no check of an item."""
    return _WORDING[key]
