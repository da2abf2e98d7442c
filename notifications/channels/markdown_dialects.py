"""The common markdown subset of `Message.markdown` (`**bold**`, `[text](url)`, one item a line,
`- ` lists) mapped to what each robot's markdown renders."""

from __future__ import annotations

from collections.abc import Sequence


def dotted_list_item(line: str) -> str:
    """For WeCom's markdown and Feishu's `lark_md`, which have bold and links but no lists: a
    `- ` item becomes a `• ` line, which reads the same."""
    stripped = line.lstrip()
    if stripped.startswith("- "):
        return line[: len(line) - len(stripped)] + "• " + stripped[2:]
    return line


def dingtalk_paragraphs(lines: Sequence[str]) -> list[str]:
    """DingTalk's markdown runs single newlines into one paragraph, so each line becomes its own
    paragraph (joined by a blank line); the items of a `- ` list stay together as one list."""
    joined: list[str] = []
    for line in lines:
        is_item = line.lstrip().startswith("- ")
        if is_item and joined and joined[-1].lstrip().startswith("- "):
            joined[-1] += "\n" + line
        elif line.strip():
            joined.append(line)
    return joined
