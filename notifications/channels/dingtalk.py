"""The DingTalk (钉钉) group robot: an `actionCard` with the ticket link as its button (markdown
when there is no link), mobiles mentioned in its `at` block, signed in the query with a timestamp
in milliseconds; the request body at most 20,000 bytes. Over 20 messages a minute the robot is
throttled for 10 minutes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote_plus

import httpx

from notifications.channels.base import Answer, ChannelKind, Message, Target
from notifications.channels.fit_to_limit import fit_lines
from notifications.channels.http_post import post_once, read_robot_answer
from notifications.channels.markdown_dialects import dingtalk_paragraphs

BODY_MAX_BYTES = 20_000
THROTTLED = 130101  # too fast: throttled for 10 minutes
SYSTEM_BUSY = -1
RETRY_AFTER_S = {THROTTLED: 600.0, SYSTEM_BUSY: 5.0}


class DingTalkChannel:
    kind: ChannelKind = "dingtalk"

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def send(self, target: Target, message: Message, *, timeout_s: float) -> Answer:
        body = request_body(message)
        if body is None:
            return Answer(False, False, "too_long", "title and link alone exceed 20,000 bytes")
        url = signed_url(target.address, target.secret) if target.secret else target.address
        answer = post_once(self.client, url, body, timeout_s=timeout_s, headers={})
        if isinstance(answer, Answer):
            return answer
        return read_robot_answer(answer, RETRY_AFTER_S)


def signed_url(address: str, secret: str, *, now_ms: int | None = None) -> str:
    """`address` with `timestamp` (ms) and `sign` = base64(HMAC-SHA256(secret, f"{ts}\\n{secret}"))
    URL-encoded, as DingTalk's signing robots require (valid for an hour)."""
    ts = now_ms if now_ms is not None else int(time.time() * 1000)
    digest = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    sign = quote_plus(base64.b64encode(digest).decode())
    return f"{address}{'&' if '?' in address else '?'}timestamp={ts}&sign={sign}"


def request_body(message: Message) -> bytes | None:
    """The JSON body within 20,000 bytes, or None when even its fixed parts do not fit."""
    mentions = " ".join(f"@{mobile}" for mobile in message.mention_mobiles)

    def build(lines: Sequence[str]) -> bytes:
        text = "\n\n".join(
            [f"### {message.title}", *dingtalk_paragraphs(lines), *([mentions] * bool(mentions))]
        )
        payload: dict[str, Any]
        if message.link:
            card = {
                "title": message.title,
                "text": text,
                "btnOrientation": "0",
                "singleTitle": message.link_label,
                "singleURL": message.link,
            }
            payload = {"msgtype": "actionCard", "actionCard": card}
        else:
            payload = {"msgtype": "markdown", "markdown": {"title": message.title, "text": text}}
        payload["at"] = {"atMobiles": list(message.mention_mobiles), "isAtAll": False}
        return json.dumps(payload, ensure_ascii=False).encode()

    def fits(lines: Sequence[str]) -> bool:
        return len(build(lines)) <= BODY_MAX_BYTES

    lines = message.markdown.splitlines()
    kept = fit_lines(message, lines, fits, max_line_bytes=BODY_MAX_BYTES // 4)
    return None if kept is None else build(kept)
