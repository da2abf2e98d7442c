"""The WeCom (企业微信) group robot: a markdown message, its title coloured by severity, the ticket
link last; content at most 4096 bytes of UTF-8. The key in the URL is the robot's only secret."""

from __future__ import annotations

import json
from collections.abc import Sequence
from urllib.parse import parse_qs, urlsplit

import httpx

from notifications.channels.base import Answer, ChannelKind, Message, Target
from notifications.channels.fit_to_limit import fit_lines
from notifications.channels.http_post import post_once, read_robot_answer
from notifications.channels.markdown_dialects import dotted_list_item

CONTENT_MAX_BYTES = 4096
# WeCom's three markdown colours: warning is orange-red, info green, comment grey.
SEVERITY_COLOURS = {"critical": "warning", "major": "info", "minor": "comment"}
RATE_LIMITED = 45009  # 20 messages a minute per robot: the window is a minute
SYSTEM_BUSY = -1
RETRY_AFTER_S = {RATE_LIMITED: 60.0, SYSTEM_BUSY: 5.0}


class WeComChannel:
    kind: ChannelKind = "wecom"

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def send(self, target: Target, message: Message, *, timeout_s: float) -> Answer:
        content = markdown_content(message)
        if content is None:
            return Answer(False, False, "too_long", "title and link alone exceed 4096 bytes")
        body = json.dumps(
            {"msgtype": "markdown", "markdown": {"content": content}}, ensure_ascii=False
        ).encode()
        answer = post_once(self.client, robot_url(target), body, timeout_s=timeout_s, headers={})
        if isinstance(answer, Answer):
            return answer
        return read_robot_answer(answer, RETRY_AFTER_S)


def robot_url(target: Target) -> str:
    """The target's URL; a key kept apart in `Target.secret` is added as `key=` when missing."""
    if target.secret and "key" not in parse_qs(urlsplit(target.address).query):
        return f"{target.address}{'&' if '?' in target.address else '?'}key={target.secret}"
    return target.address


def markdown_content(message: Message) -> str | None:
    """WeCom markdown within 4096 bytes, or None when even its fixed parts do not fit."""
    colour = SEVERITY_COLOURS[message.severity]
    head = f'<font color="{colour}">**{message.title}**</font>'
    tail = [f"[{message.link_label}]({message.link})"] if message.link else []

    def build(lines: Sequence[str]) -> str:
        return "\n".join([head, *lines, *tail])

    def fits(lines: Sequence[str]) -> bool:
        return len(build(lines).encode()) <= CONTENT_MAX_BYTES

    lines = [dotted_list_item(line) for line in message.markdown.splitlines()]
    kept = fit_lines(message, lines, fits, max_line_bytes=CONTENT_MAX_BYTES // 4)
    return None if kept is None else build(kept)
