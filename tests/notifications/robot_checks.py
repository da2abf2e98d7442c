"""What the local robots check and answer (tests/notifications/robot_receiver.py): each one's
signature and timestamp window, JSON shape and message type, and size limit, refused with the
robot's own code as ../shared/DOMAIN.md lists them; the webhook's fitmon HMAC headers and replay
window (docs/notification-channels.md)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from notifications.channels.base import ChannelKind

WECOM_CONTENT_MAX = 4096  # bytes of UTF-8 in markdown.content
DINGTALK_BODY_MAX = 20_000  # bytes of request body
FEISHU_BODY_MAX = 20_000  # "20 KB", taken as the stricter 20,000 bytes
ROBOT_CLOCK_WINDOW_S = 3600  # DingTalk and Feishu accept timestamps within an hour
WEBHOOK_REPLAY_WINDOW_S = 300
ROBOT_KINDS = ("wecom", "dingtalk", "feishu")

_WECOM_TYPES = {
    "text",
    "markdown",
    "markdown_v2",
    "image",
    "news",
    "file",
    "voice",
    "template_card",
}
_DINGTALK_TYPES = {"text", "markdown", "link", "actionCard", "feedCard"}
_FEISHU_TYPES = {"text", "post", "image", "share_chat", "interactive"}


@dataclass
class Robot:
    kind: ChannelKind
    name: str
    token: str
    secret: str | None
    sent: deque[float] = field(default_factory=deque)  # arrival times of accepted messages
    throttled_until: float = 0.0
    forced: deque[str] = field(default_factory=deque)


class Refusal(Exception):
    def __init__(self, code: str, reason: str, status: int = 200) -> None:
        super().__init__(reason)
        self.code, self.reason, self.status = code, reason, status


def route(path: str) -> tuple[ChannelKind | None, str, dict[str, list[str]]]:
    parts = urlsplit(path)
    query = parse_qs(parts.query)
    if parts.path == "/cgi-bin/webhook/send":
        return "wecom", query.get("key", [""])[0], query
    if parts.path == "/robot/send":
        return "dingtalk", query.get("access_token", [""])[0], query
    if parts.path.startswith("/open-apis/bot/v2/hook/"):
        return "feishu", parts.path.rsplit("/", 1)[1], query
    if parts.path.startswith("/hooks/"):
        return "webhook", parts.path.rsplit("/", 1)[1], query
    return None, "", query


def json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def unknown_token(kind: str) -> Refusal:
    return {
        "wecom": Refusal("93000", "invalid webhook url"),
        "dingtalk": Refusal("300001", "token is not exist"),
        "feishu": Refusal("19001", "param invalid: incoming webhook access token invalid"),
    }.get(kind, Refusal("404", "no such hook", 404))


def check_wecom(
    robot: Robot, query: dict[str, list[str]], body: bytes, payload: dict[str, Any], now: float
) -> None:
    if not payload:
        raise Refusal("40035", "invalid json")
    msgtype = payload.get("msgtype")
    if msgtype not in _WECOM_TYPES:
        raise Refusal("40008", f"invalid message type {msgtype!r}")
    part = payload.get(msgtype)
    content = part.get("content") if isinstance(part, dict) else None
    if msgtype in ("text", "markdown", "markdown_v2"):
        if not isinstance(content, str) or not content:
            raise Refusal("44004", "empty content")
        if len(content.encode()) > WECOM_CONTENT_MAX:
            raise Refusal("40058", f"content exceed max length {WECOM_CONTENT_MAX} bytes")


def check_dingtalk(
    robot: Robot, query: dict[str, list[str]], body: bytes, payload: dict[str, Any], now: float
) -> None:
    if robot.secret is not None:
        ts, sign = query.get("timestamp", [""])[0], query.get("sign", [""])[0]
        if not ts.isdigit() or abs(now * 1000 - int(ts)) > ROBOT_CLOCK_WINDOW_S * 1000:
            raise Refusal("310000", "sign not match: timestamp missing or more than 1 hour off")
        expected = hmac.new(robot.secret.encode(), f"{ts}\n{robot.secret}".encode(), hashlib.sha256)
        if not hmac.compare_digest(base64.b64encode(expected.digest()).decode(), sign):
            raise Refusal("310000", "sign not match")
    if len(body) > DINGTALK_BODY_MAX:
        raise Refusal("460101", f"message too long: {len(body)} bytes > {DINGTALK_BODY_MAX}")
    msgtype = payload.get("msgtype")
    if msgtype not in _DINGTALK_TYPES:
        raise Refusal("40035", f"invalid msgtype {msgtype!r}")
    part = payload.get(msgtype)
    if not isinstance(part, dict):
        raise Refusal("40035", f"missing {msgtype}")
    if msgtype in ("markdown", "actionCard") and not (part.get("title") and part.get("text")):
        raise Refusal("40035", f"{msgtype} needs a title and a text")
    single = part.get("singleTitle"), part.get("singleURL")
    if msgtype == "actionCard" and not (all(single) or part.get("btns")):
        raise Refusal("40035", "actionCard needs singleTitle and singleURL, or btns")
    at = payload.get("at", {})
    if not isinstance(at, dict) or not isinstance(at.get("atMobiles", []), list):
        raise Refusal("40035", "at.atMobiles must be a list")


def check_feishu(
    robot: Robot, query: dict[str, list[str]], body: bytes, payload: dict[str, Any], now: float
) -> None:
    if not payload:
        raise Refusal("9499", "Bad Request: body is not a JSON object")
    if robot.secret is not None:
        ts, sign = str(payload.get("timestamp", "")), str(payload.get("sign", ""))
        if not ts.isdigit() or abs(now - int(ts)) > ROBOT_CLOCK_WINDOW_S:
            raise Refusal("19021", "sign match fail or timestamp is not within one hour")
        key = f"{ts}\n{robot.secret}".encode()
        expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, sign):
            raise Refusal("19021", "sign match fail or timestamp is not within one hour")
    if len(body) > FEISHU_BODY_MAX:
        raise Refusal("9499", f"Bad Request: body of {len(body)} bytes > {FEISHU_BODY_MAX}")
    msg_type = payload.get("msg_type")
    if msg_type not in _FEISHU_TYPES:
        raise Refusal("9499", f"Bad Request: msg_type {msg_type!r}")
    card = payload.get("card")
    if msg_type == "interactive" and not (
        isinstance(card, dict) and isinstance(card.get("elements"), list) and card["elements"]
    ):
        raise Refusal("9499", "Bad Request: an interactive card needs elements")


def check_webhook(
    robot: Robot, headers: dict[str, str], body: bytes, payload: dict[str, Any], now: float
) -> None:
    assert robot.secret is not None
    ts = headers.get("x-fitmon-timestamp", "")
    if not ts.isdigit() or abs(now - int(ts)) > WEBHOOK_REPLAY_WINDOW_S:
        raise Refusal("401", f"timestamp {ts!r} missing or more than 300 s off", 401)
    mac = hmac.new(robot.secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    offered = [s.strip()[3:] for s in headers.get("x-fitmon-signature", "").split(",")]
    if not any(hmac.compare_digest(mac, s) for s in offered if s):
        raise Refusal("401", "bad signature", 401)
    if not headers.get("x-fitmon-delivery"):
        raise Refusal("400", "no X-Fitmon-Delivery", 400)
    if not payload:
        raise Refusal("400", "body is not a JSON object", 400)


CHECKS = {"wecom": check_wecom, "dingtalk": check_dingtalk, "feishu": check_feishu}


def ok_body(kind: str) -> bytes:
    if kind == "feishu":
        return b'{"code":0,"msg":"success","data":{}}'
    if kind == "webhook":
        return b'{"ok":true}'
    return b'{"errcode":0,"errmsg":"ok"}'


def refusal_answer(kind: str, refusal: Refusal) -> tuple[int, dict[str, str], bytes]:
    if kind == "webhook":
        return refusal.status, {}, json.dumps({"error": refusal.reason}).encode()
    if kind == "feishu" and refusal.status == 200:
        answer = {"code": int(refusal.code), "msg": refusal.reason, "data": {}}
    else:
        answer = {"errcode": int(refusal.code), "errmsg": refusal.reason}
    return refusal.status, {}, json.dumps(answer).encode()


def forced_answer(kind: str, code: str) -> tuple[int, dict[str, str], bytes]:
    if code == "garbage":
        return 200, {}, b"<html><body>502 Bad Gateway</body></html>"
    if len(code) == 3 and code.isdigit():
        extra = {"Retry-After": "1"} if code in ("429", "503") else {}
        return int(code), extra, f"HTTP {code}".encode()
    return refusal_answer(kind, Refusal(code, f"told to answer {code}"))
