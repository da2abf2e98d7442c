"""Shortening a message to a channel's size limit: whole lines are kept from the top, and a last
line says how many of the message's subjects are not listed, so nothing is dropped silently.

Sizes are UTF-8 bytes of whatever the channel limits (WeCom the markdown content, DingTalk and
Feishu the request body): the adapter passes a `fits` test that builds its real request. The
note is in Chinese when the message's title or text holds Chinese characters, else in English.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from notifications.channels.base import Message

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def is_chinese(message: Message) -> bool:
    return bool(_CJK.search(message.title) or _CJK.search(message.markdown))


def cut_utf8(text: str, max_bytes: int) -> str:
    """The longest head of `text` of at most `max_bytes` UTF-8 bytes: never half a character."""
    return text.encode()[: max(0, max_bytes)].decode("utf-8", errors="ignore")


def omitted_note(message: Message, kept: Sequence[str]) -> str:
    """The line that ends a shortened message: how many subjects are not in `kept`."""
    shown = "\n".join(kept)
    total = max(message.count, len(message.subjects))
    listed = sum(1 for subject in message.subjects if subject and subject in shown)
    left_out = total - listed if message.subjects else 0
    if is_chinese(message):
        if left_out > 0:
            return f"另有 {left_out} 项，详见工单"
        return "内容过长已截短，详见工单"
    if left_out > 0:
        return f"{left_out} more not listed; see the ticket"
    return "Shortened to fit; see the ticket for the rest"


def fit_lines(
    message: Message,
    lines: Sequence[str],
    fits: Callable[[Sequence[str]], bool],
    *,
    max_line_bytes: int,
) -> list[str] | None:
    """`lines` whole when they fit; else the most lines from the top that fit with the note
    after them. A line longer than `max_line_bytes` is first split into pieces (at character
    boundaries) so that one long line cannot empty the message. None when not even the note
    fits (the adapter's fixed parts alone are too long)."""
    if fits(lines):
        return list(lines)
    pieces = [piece for line in lines for piece in _split_long(line, max_line_bytes)]

    def candidate(kept: int) -> list[str]:
        head = pieces[:kept]
        return [*head, omitted_note(message, head)]

    if not fits(candidate(0)):
        return None
    low, high = 0, len(pieces)  # candidate(low) fits; find the most lines that still do
    while low < high:
        middle = (low + high + 1) // 2
        if fits(candidate(middle)):
            low = middle
        else:
            high = middle - 1
    return candidate(low)


def _split_long(line: str, max_bytes: int) -> list[str]:
    pieces: list[str] = []
    max_bytes = max(max_bytes, 4)  # room for any one character
    while len(line.encode()) > max_bytes:
        head = cut_utf8(line, max_bytes)
        pieces.append(head)
        line = line[len(head) :]
    pieces.append(line)
    return pieces
