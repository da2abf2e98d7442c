"""The Feishu / Lark (飞书) group robot: an `interactive` card, its header coloured by severity, the
text as `lark_md`, the ticket link as a button; signed in the body with a timestamp in seconds;
the request body at most 20 KB (taken as 20,000 bytes)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from typing import Any

import httpx

from notifications.channels.base import Answer, ChannelKind, Message, Target
from notifications.channels.fit_to_limit import fit_lines
from notifications.channels.http_post import post_once, read_robot_answer
from notifications.channels.markdown_dialects import dotted_list_item

BODY_MAX_BYTES = 20_000
SEVERITY_TEMPLATES = {"critical": "red", "major": "orange", "minor": "yellow"}
BUSY = 11232  # frequency limited: 100 a minute and 5 a second per bot
RETRY_AFTER_S = {BUSY: 10.0}


class FeishuChannel:
    kind: ChannelKind = "feishu"

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def send(self, target: Target, message: Message, *, timeout_s: float) -> Answer:
        signature = body_signature(target.secret) if target.secret else {}
        body = request_body(message, signature)
        if body is None:
            return Answer(False, False, "too_long", "title and link alone exceed 20,000 bytes")
        answer = post_once(self.client, target.address, body, timeout_s=timeout_s, headers={})
        if isinstance(answer, Answer):
            return answer
        return read_robot_answer(answer, RETRY_AFTER_S)


def body_signature(secret: str, *, now_s: int | None = None) -> dict[str, str]:
    """`timestamp` (seconds) and `sign` = base64(HMAC-SHA256(key=f"{ts}\\n{secret}", msg=b""))
    for the body, as Feishu's signing bots require (valid for an hour)."""
    ts = str(now_s if now_s is not None else int(time.time()))
    digest = hmac.new(f"{ts}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return {"timestamp": ts, "sign": base64.b64encode(digest).decode()}


def request_body(message: Message, signature: dict[str, str]) -> bytes | None:
    """The JSON body within 20,000 bytes, or None when even its fixed parts do not fit."""
    button = {
        "tag": "button",
        "text": {"tag": "plain_text", "content": message.link_label},
        "type": "primary",
        "url": message.link,
    }

    def build(lines: Sequence[str]) -> bytes:
        elements: list[dict[str, Any]] = [
            {"tag": "div", "text": {"tag": "lark_md", "content": "\n".join(lines)}}
        ]
        if message.link:
            elements.append({"tag": "action", "actions": [button]})
        card = {
            "config": {"wide_screen_mode": True},
            "header": {
                "template": SEVERITY_TEMPLATES[message.severity],
                "title": {"tag": "plain_text", "content": message.title},
            },
            "elements": elements,
        }
        payload = {**signature, "msg_type": "interactive", "card": card}
        return json.dumps(payload, ensure_ascii=False).encode()

    def fits(lines: Sequence[str]) -> bool:
        return len(build(lines)) <= BODY_MAX_BYTES

    lines = [dotted_list_item(line) for line in message.markdown.splitlines()]
    kept = fit_lines(message, lines, fits, max_line_bytes=BODY_MAX_BYTES // 4)
    return None if kept is None else build(kept)
