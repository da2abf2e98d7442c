"""The pages' words in Chinese (the default) and English: one table, looked up by key.

The language is `?lang=` when given (and then remembered in a cookie), else the cookie, else
Chinese: the people who scan a tag in a Chinese park read Chinese first.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

from fastapi import Request

from devices.catalog import EQUIPMENT_TYPES

Lang = Literal["zh", "en"]
LANG_COOKIE = "fitmon_lang"

TEXT: dict[str, tuple[str, str]] = {
    "switch": ("English", "中文"),
    "in_service": ("正常使用", "In service"),
    "do_not_use": ("停止使用", "Do not use"),
    "do_not_use_why": (
        "此器材已停用,等待维修或检查。请勿使用,以免受伤。",
        "This item is out of service until it is repaired or checked. Do not use it.",
    ),
    "retired_why": (
        "此器材已报废,请勿使用。",
        "This item has been retired. Do not use it.",
    ),
    "past_life": (
        "已超过安全使用年限,请谨慎使用并报告管理单位。",
        "Past its safe service life: take care, and tell the responsible unit.",
    ),
    "site": ("站点", "Site"),
    "address": ("地址", "Address"),
    "code": ("器材编码", "Equipment code"),
    "model": ("型号", "Model"),
    "maker": ("生产厂家", "Maker"),
    "installed": ("安装日期", "Installed"),
    "life_end": ("安全使用年限至", "Safe service life ends"),
    "opening": ("开放时间", "Opening hours"),
    "all_day": ("全天", "All day"),
    "unit": ("管理单位", "Responsible unit"),
    "hotline": ("维修热线", "Hotline"),
    "how_to_use": ("安全使用须知", "How to use it safely"),
    "report_title": ("故障报修", "Report a fault"),
    "category": ("问题类型", "What is wrong"),
    "cat_broken": ("损坏、不能用", "Broken, does not work"),
    "cat_unsafe": ("有安全隐患", "Unsafe"),
    "cat_missing_part": ("缺少零件", "A part is missing"),
    "cat_dirty": ("脏污", "Dirty"),
    "cat_other": ("其他", "Something else"),
    "description": ("问题描述", "Description"),
    "hazard": (
        "可能有人受伤(将立即停用此器材)",
        "Someone could get hurt (the item is taken out of use)",
    ),
    "photos": (
        "照片(最多5张,JPEG/PNG/WebP,每张不超过{mb} MB)",
        "Photos (up to 5; JPEG, PNG or WebP; {mb} MB each)",
    ),
    "phone": (
        "联系电话(选填,仅用于回访,工单结束后删除)",
        "Phone (optional, for the follow-up call only; erased when the ticket is done)",
    ),
    "send": ("提交报修", "Send the report"),
    "thanks": ("报修已收到,谢谢!", "Thank you: your report has been received."),
    "report_no": ("报修编号", "Report number"),
    "call_back": ("我们会致电 {phone} 回访。", "We will call {phone} back."),
    "back": ("返回", "Back"),
    "unknown_code": ("未找到此编码的器材", "No equipment is registered under this code"),
    "unknown_code_help": (
        "请核对标签上的编码,或拨打 12345 反映。",
        "Check the code on the tag, or call 12345.",
    ),
    "bad_code": ("编码有误", "This code is not valid"),
    "too_many": ("请求过于频繁,请稍后再试。", "Too many requests: please try again later."),
    "form_errors": ("请修改以下问题后再提交:", "Please correct these and send again:"),
    "err_description": ("请描述问题(1至2000字)。", "Describe the problem (1 to 2,000 characters)."),
    "err_category": ("请选择问题类型。", "Choose what is wrong."),
    "err_phone": ("电话号码格式不对。", "That phone number is not valid."),
    "err_photos_count": ("照片最多5张。", "At most 5 photos."),
    "err_photo_size": ("照片“{name}”超过 {mb} MB。", "The photo {name!r} is over {mb} MB."),
    "err_photo_type": (
        "文件“{name}”不是 JPEG、PNG 或 WebP 图片。",
        "{name!r} is not a JPEG, PNG or WebP picture.",
    ),
    "err_too_large": ("提交的内容太大。", "What was sent is too large."),
    "sign_in": ("登录", "Sign in"),
    "sign_out": ("退出登录", "Sign out"),
    "login": ("账号", "Login"),
    "password": ("密码", "Password"),
    "sign_in_failed": ("账号或密码不对。", "The login or the password is wrong."),
    "my_tickets": ("我的工单", "My tickets"),
    "districts_view": ("辖区概况", "My districts"),
    "unassigned": ("待分派的工单", "Tickets not yet assigned"),
    "inspections": ("巡检", "Inspections"),
    "inspect": ("巡检", "Inspect"),
    "last_inspected": ("上次巡检", "Last inspected"),
    "never": ("从未", "Never"),
    "due_now": ("应巡检", "Due"),
    "none": ("无", "None"),
    "item": ("器材", "Item"),
    "status": ("状态", "Status"),
    "due": ("期限", "Due"),
    "overdue": ("已超期", "Overdue"),
    "opened": ("开单时间", "Opened"),
    "problem": ("问题", "Problem"),
    "item_status": ("器材状态", "Item"),
    "map": ("地图", "Map"),
    "open_map": ("高德地图", "Amap"),
    "map_app": ("手机地图", "Map app"),
    "on_hold_why": ("暂停原因", "On hold because"),
    "actions": ("操作", "Actions"),
    "assignee": ("处理人", "Assignee"),
    "reason": ("原因", "Reason"),
    "citizen_reports": ("群众报修", "Citizens' reports"),
    "hazard_short": ("有受伤风险", "Hazard"),
    "phone_short": ("电话", "Phone"),
    "call": ("拨打", "Call"),
    "photo": ("照片", "Photo"),
    "repair_photos": ("维修照片", "Repair photos"),
    "add_photos": ("上传照片", "Add photos"),
    "history": ("处理记录", "History"),
    "alerts": ("告警", "Alerts"),
    "sev_critical": ("紧急", "Critical"),
    "sev_major": ("重要", "Major"),
    "sev_minor": ("一般", "Minor"),
    "st_open": ("待处理", "Open"),
    "st_assigned": ("已分派", "Assigned"),
    "st_in_progress": ("维修中", "In progress"),
    "st_on_hold": ("暂停", "On hold"),
    "st_resolved": ("已修复", "Resolved"),
    "st_closed": ("已关闭", "Closed"),
    "st_reopened": ("重新打开", "Reopened"),
    "act_assign": ("分派", "Assign"),
    "act_start": ("开始维修", "Start"),
    "act_hold": ("暂停", "Hold"),
    "act_resume": ("继续", "Resume"),
    "act_resolve": ("已修复", "Resolved"),
    "act_verify": ("验收关闭", "Verify and close"),
    "act_dismiss": ("无需维修", "Dismiss"),
    "act_reopen": ("重新打开", "Reopen"),
    "checklist": ("巡检清单(参照 GB 19272 附录I)", "Checklist (after GB 19272 Annex I)"),
    "ok": ("正常", "OK"),
    "defect": ("有问题", "Defect"),
    "note": ("备注", "Note"),
    "record_inspection": ("提交巡检记录", "Record the inspection"),
    "inspection_recorded": ("巡检已记录", "Inspection recorded"),
    "defects_found": ("发现问题 {n} 项", "{n} defects found"),
    "whole_site": ("场地整体", "The site as a whole"),
    "good_order": ("完好率", "Good order"),
    "open_tickets": ("未关闭工单", "Open tickets"),
    "on_time": ("按期完成率", "Closed on time"),
    "district": ("辖区", "District"),
    "items": ("器材数", "Items"),
    "total": ("合计", "Total"),
    "last_30_days": ("近30天", "Last 30 days"),
    "all_statuses": ("全部未关闭", "All unclosed"),
    "filter": ("筛选", "Filter"),
    "next_page": ("下一页", "Next page"),
    "prev_page": ("上一页", "Previous page"),
    "safety_general": (
        "使用前先查看器材是否完好;损坏、松动或湿滑时请勿使用。|儿童须在成人看护下使用。|"
        "一次一人,不要超过器材设计的人数和负荷。|动作平稳,不要猛推猛拉或在运动部件附近停留。",
        "Check the item before use; do not use it if it is damaged, loose or wet.|"
        "Children must be supervised by an adult.|One person at a time, within its rated load.|"
        "Move steadily; keep clear of moving parts.",
    ),
}

# What each kind of equipment asks of its user in particular (GB 19272-2024 §5.8: instructions
# for use on or beside the item).
KIND_SAFETY: dict[str, tuple[str, str]] = {
    "air_walker": (
        "双手握紧扶手,摆动幅度不要过大。",
        "Hold both handles; keep the swing moderate.",
    ),
    "seated_push": (
        "坐稳后再推,背部贴紧靠背。",
        "Sit firmly with your back against the rest, then push.",
    ),
    "rider": (
        "坐稳、脚踩踏板后再用力。",
        "Sit firmly with both feet on the pedals before you pull.",
    ),
    "waist_twister": ("双手扶稳,转动速度不要过快。", "Hold on with both hands; turn slowly."),
    "back_massager": ("背部轻靠,不要猛烈撞击。", "Lean gently; do not strike it."),
    "upper_limb_puller": (
        "拉动时动作均匀,松手前先放回原位。",
        "Pull evenly; return the handles before letting go.",
    ),
    "leg_press": (
        "坐稳后用脚掌蹬踏,不要突然松开。",
        "Sit firmly and push with the soles; never let go suddenly.",
    ),
    "horizontal_bar": (
        "握紧横杠,下方无人时再练习;不要在杠上站立。",
        "Grip firmly, keep the space below clear; never stand on the bar.",
    ),
    "parallel_bars": (
        "双手撑稳,不要在杠上站立或跳跃。",
        "Support yourself with both hands; never stand or jump on the bars.",
    ),
    "table_tennis": ("不要坐在或站在球台上。", "Do not sit or stand on the table."),
    "smart_bike": (
        "坐稳后再踩踏,屏幕损坏时请报修。",
        "Sit before you pedal; report a broken display.",
    ),
}


def choose_lang(request: Request) -> tuple[Lang, bool]:
    """The language of this page, and whether it was asked for now (to remember it)."""
    asked = request.query_params.get("lang")
    if asked in ("zh", "en"):
        return ("en" if asked == "en" else "zh"), True
    return ("en" if request.cookies.get(LANG_COOKIE) == "en" else "zh"), False


_WORDS: dict[Lang, Mapping[str, str]] = {
    "zh": MappingProxyType({key: zh for key, (zh, _) in TEXT.items()}),
    "en": MappingProxyType({key: en for key, (_, en) in TEXT.items()}),
}


def translator(lang: Lang) -> Mapping[str, str]:
    """The words of `lang`, shared by every request (read-only)."""
    return _WORDS[lang]


def kind_safety(kind: str, lang: Lang) -> str | None:
    pair = KIND_SAFETY.get(kind)
    return None if pair is None else pair[0 if lang == "zh" else 1]


def kind_name(kind: str, lang: Lang) -> str:
    """The equipment type's name in the catalog (devices.catalog); an unknown kind as it is."""
    found = EQUIPMENT_TYPES.get(kind)
    return kind if found is None else (found.name_zh if lang == "zh" else found.name_en)
