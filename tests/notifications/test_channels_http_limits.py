"""The robots' size limits, counted in UTF-8 bytes with Chinese text: a message at its robot's
limit goes whole, one a byte past it is shortened at a line boundary and says how many subjects
it does not list, and the real receivers refuse what is over (tests/notifications/robot_receiver).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import httpx
import pytest

from notifications.channels import dingtalk, feishu, wecom
from notifications.channels.base import Channel, ChannelKind, Message
from notifications.channels.dingtalk import DingTalkChannel
from notifications.channels.feishu import FeishuChannel
from notifications.channels.wecom import WeComChannel
from tests.notifications.robot_receiver import Received, RobotReceiver

LIMITS = {"wecom": 4096, "dingtalk": 20_000, "feishu": 20_000}
ROBOT_KINDS: tuple[ChannelKind, ...] = ("wecom", "dingtalk", "feishu")
CLASSES: dict[ChannelKind, Callable[[httpx.Client], Channel]] = {
    "wecom": WeComChannel,
    "dingtalk": DingTalkChannel,
    "feishu": FeishuChannel,
}


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as http:
        yield http


def grouped_message(subject_count: int, pad: int, *, english: bool = False) -> Message:
    """A grouped message: a note line padded with `pad` ASCII bytes, then one line a subject."""
    name = "Air walker" if english else "漫步机"
    subjects = tuple(f"{name} A{i:04d}" for i in range(subject_count))
    where = "brake broken, People's Park east gate" if english else "刹车失灵，人民公园东门"
    lines = [("Note: " if english else "备注：") + "x" * pad, *(f"- {s} {where}" for s in subjects)]
    markdown = "\n".join(lines)
    title = f"{subject_count} critical faults" if english else f"严重故障 {subject_count} 项"
    return Message(
        key="ob-1..ob-9",
        title=title,
        severity="critical",
        markdown=markdown,
        text=markdown,
        html=markdown,
        link="https://fitmon.example/tickets?site=1",
        count=subject_count,
        subjects=subjects,
    )


def built_size(kind: ChannelKind, message: Message) -> int:
    """The bytes the robot limits, as the adapter builds them (Feishu's signature is of fixed
    length, so any secret measures the same)."""
    if kind == "wecom":
        content = wecom.markdown_content(message)
        assert content is not None
        return len(content.encode())
    if kind == "dingtalk":
        body = dingtalk.request_body(message)
    else:
        body = feishu.request_body(message, feishu.body_signature("x", now_s=int(time.time())))
    assert body is not None
    return len(body)


def received_size(kind: ChannelKind, got: Received) -> int:
    return len(got.text().encode()) if kind == "wecom" else len(got.body)


def message_at_limit(kind: ChannelKind) -> tuple[Message, int, int]:
    """A message exactly at the robot's limit: its subject count and its pad."""
    subject_count = LIMITS[kind] // 60
    size = built_size(kind, grouped_message(subject_count, 0))
    pad = LIMITS[kind] - size
    assert pad > 0, (kind, size)
    message = grouped_message(subject_count, pad)
    assert built_size(kind, message) == LIMITS[kind]
    return message, subject_count, pad


def deliver(
    kind: ChannelKind, robots: RobotReceiver, client: httpx.Client, message: Message
) -> Received:
    answer = CLASSES[kind](client).send(robots.target(kind), message, timeout_s=2.0)
    assert answer.ok, (answer, robots.refused)
    [got] = robots.received
    return got


@pytest.mark.parametrize("kind", ROBOT_KINDS)
def test_a_message_at_the_limit_goes_whole(
    robots: RobotReceiver, client: httpx.Client, kind: ChannelKind
) -> None:
    message, subject_count, _ = message_at_limit(kind)
    got = deliver(kind, robots, client, message)
    assert received_size(kind, got) == LIMITS[kind]
    assert all(subject in got.text() for subject in message.subjects)
    assert "详见工单" not in got.text()
    assert subject_count == len(message.subjects)


@pytest.mark.parametrize("kind", ROBOT_KINDS)
def test_a_message_a_byte_past_the_limit_is_shortened_at_a_line_and_counts_what_it_leaves_out(
    robots: RobotReceiver, client: httpx.Client, kind: ChannelKind
) -> None:
    _, subject_count, pad = message_at_limit(kind)
    message = grouped_message(subject_count, pad + 1)
    got = deliver(kind, robots, client, message)
    text = got.text()
    assert received_size(kind, got) <= LIMITS[kind]
    note = re.search(r"另有 (\d+) 项，详见工单", text)
    assert note is not None, text[-300:]
    listed = [s for s in message.subjects if f"{s} 刹车失灵，人民公园东门" in text]
    assert int(note.group(1)) == subject_count - len(listed) >= 1
    assert listed == list(message.subjects[: len(listed)])  # whole lines, from the top
    assert not any(s in text for s in message.subjects[len(listed) :])


@pytest.mark.parametrize("kind", ROBOT_KINDS)
def test_one_huge_chinese_line_is_cut_between_characters_within_the_limit(
    robots: RobotReceiver, client: httpx.Client, kind: ChannelKind
) -> None:
    message = grouped_message(3, 0)
    huge = "故障描述：" + "刹车失灵，座椅松动。" * 4000  # 120 kB on one line
    message = replace(message, markdown=huge + "\n" + message.markdown)
    got = deliver(kind, robots, client, message)
    assert received_size(kind, got) <= LIMITS[kind]
    got.body.decode("utf-8")  # strict: no half character anywhere
    assert "另有 3 项，详见工单" in got.text()
    assert "刹车失灵，座椅松动。刹车失灵" in got.text()


@pytest.mark.parametrize("kind", ROBOT_KINDS)
def test_an_english_message_is_shortened_with_an_english_note(
    robots: RobotReceiver, client: httpx.Client, kind: ChannelKind
) -> None:
    message = grouped_message(LIMITS[kind] // 20, 0, english=True)
    got = deliver(kind, robots, client, message)
    assert received_size(kind, got) <= LIMITS[kind]
    note = re.search(r"(\d+) more not listed; see the ticket", got.text())
    assert note is not None
    listed = sum(1 for s in message.subjects if s in got.text())
    assert int(note.group(1)) == len(message.subjects) - listed >= 1


def test_the_receivers_refuse_what_is_over_their_limit(
    robots: RobotReceiver, client: httpx.Client
) -> None:
    over = "故" * 1366  # 4098 bytes
    wecom_body = {"msgtype": "markdown", "markdown": {"content": over}}
    answer = client.post(robots.target("wecom").address, json=wecom_body).json()
    assert answer["errcode"] == 40058

    dingtalk_target = robots.target("dingtalk")
    assert dingtalk_target.secret is not None
    text = "故" * 6700  # a body past 20,000 bytes
    ding_body = {"msgtype": "markdown", "markdown": {"title": "t", "text": text}}
    url = dingtalk.signed_url(dingtalk_target.address, dingtalk_target.secret)
    content = json.dumps(ding_body, ensure_ascii=False).encode()
    assert client.post(url, content=content).json()["errcode"] == 460101

    feishu_target = robots.target("feishu")
    assert feishu_target.secret is not None
    card = {"elements": [{"tag": "div", "text": {"tag": "lark_md", "content": text}}]}
    signed = {
        **feishu.body_signature(feishu_target.secret),
        "msg_type": "interactive",
        "card": card,
    }
    content = json.dumps(signed, ensure_ascii=False).encode()
    assert client.post(feishu_target.address, content=content).json()["code"] == 9499
    assert [r.code for r in robots.refused] == ["40058", "460101", "9499"]
