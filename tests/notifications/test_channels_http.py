"""The webhook and robot adapters against real local receivers (tests/notifications/robot_receiver):
format, signature, size limits counted in UTF-8 bytes, each error code read, rate limits,
timeouts and refused connections."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from notifications.channels import dingtalk
from notifications.channels.base import (
    Answer,
    Channel,
    ChannelKind,
    Message,
    Severity,
    Target,
)
from notifications.channels.dingtalk import DingTalkChannel
from notifications.channels.feishu import FeishuChannel
from notifications.channels.webhook import WebhookChannel, request_body, signed_headers
from notifications.channels.wecom import WeComChannel
from tests.notifications.robot_receiver import Received, RobotReceiver

HTTP_KINDS: tuple[ChannelKind, ...] = ("webhook", "wecom", "dingtalk", "feishu")
ROBOT_KINDS: tuple[ChannelKind, ...] = ("wecom", "dingtalk", "feishu")
DOCS = Path(__file__).parents[2] / "docs" / "notification-channels.md"


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as http:
        yield http


def channel_of(kind: ChannelKind, client: httpx.Client) -> Channel:
    classes: dict[ChannelKind, Callable[[httpx.Client], Channel]] = {
        "webhook": WebhookChannel,
        "wecom": WeComChannel,
        "dingtalk": DingTalkChannel,
        "feishu": FeishuChannel,
    }
    return classes[kind](client)


def make_message(
    *,
    title: str = "严重故障：漫步机 A01 刹车失灵",
    severity: Severity = "critical",
    lines: tuple[str, ...] = (
        "**站点**：人民公园东门",
        "- 故障：刹车失灵",
        "- [地图](https://map.example/1)",
    ),
    link: str | None = "https://fitmon.example/tickets/417",
    subjects: tuple[str, ...] = ("漫步机 A01",),
    mobiles: tuple[str, ...] = (),
) -> Message:
    markdown = "\n".join(lines)
    return Message(
        key=f"ob-{time.monotonic_ns()}",
        title=title,
        severity=severity,
        markdown=markdown,
        text=markdown.replace("**", ""),
        html=f"<p>{markdown}</p>",
        link=link,
        count=max(1, len(subjects)),
        subjects=subjects,
        mention_mobiles=mobiles,
    )


def send(
    kind: ChannelKind, robots: RobotReceiver, client: httpx.Client, message: Message
) -> Answer:
    return channel_of(kind, client).send(robots.target(kind), message, timeout_s=2.0)


def only_received(robots: RobotReceiver) -> Received:
    received = robots.received
    assert len(received) == 1, (received, robots.refused)
    return received[0]


# -- format -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("severity", "colour"), [("critical", "warning"), ("minor", "comment")])
def test_wecom_sends_markdown_coloured_by_severity_with_the_ticket_link(
    robots: RobotReceiver, client: httpx.Client, severity: Severity, colour: str
) -> None:
    answer = send("wecom", robots, client, make_message(severity=severity))
    assert answer == Answer(True, False, "0", "ok")
    got = only_received(robots)
    assert got.payload["msgtype"] == "markdown"
    assert got.text().splitlines() == [
        f'<font color="{colour}">**严重故障：漫步机 A01 刹车失灵**</font>',
        "**站点**：人民公园东门",
        "• 故障：刹车失灵",
        "• [地图](https://map.example/1)",
        "[查看工单](https://fitmon.example/tickets/417)",
    ]


def test_dingtalk_sends_an_action_card_with_the_ticket_button_signed_in_the_query(
    robots: RobotReceiver, client: httpx.Client
) -> None:
    answer = send("dingtalk", robots, client, make_message(mobiles=("13800000001",)))
    assert answer.ok, answer
    got = only_received(robots)
    card = got.payload["actionCard"]
    assert got.payload["msgtype"] == "actionCard"
    assert (card["singleTitle"], card["singleURL"]) == (
        "查看工单",
        "https://fitmon.example/tickets/417",
    )
    assert card["text"] == (
        "### 严重故障：漫步机 A01 刹车失灵\n\n**站点**：人民公园东门\n\n"
        "- 故障：刹车失灵\n- [地图](https://map.example/1)\n\n@13800000001"
    )
    assert got.payload["at"] == {"atMobiles": ["13800000001"], "isAtAll": False}


def test_dingtalk_without_a_link_sends_markdown(
    robots: RobotReceiver, client: httpx.Client
) -> None:
    assert send("dingtalk", robots, client, make_message(link=None)).ok
    got = only_received(robots)
    assert got.payload["msgtype"] == "markdown"
    assert got.payload["markdown"]["title"] == "严重故障：漫步机 A01 刹车失灵"
    assert got.payload["at"] == {"atMobiles": [], "isAtAll": False}


def test_dingtalk_sign_is_url_encoded_so_plus_and_slash_survive(
    robots: RobotReceiver, client: httpx.Client
) -> None:
    target = robots.target("dingtalk")
    assert target.secret is not None
    now_ms = int(time.time() * 1000)
    url = next(  # a timestamp whose signature has both '+' and '/' in it
        u
        for u in (
            dingtalk.signed_url(target.address, target.secret, now_ms=now_ms - i)
            for i in range(5000)
        )
        if "%2B" in u and "%2F" in u
    )
    body = dingtalk.request_body(make_message())
    assert body is not None
    response = client.post(url, content=body, headers={"Content-Type": "application/json"})
    assert response.json() == {"errcode": 0, "errmsg": "ok"}


def test_feishu_sends_a_card_with_a_coloured_header_and_a_button_signed_in_the_body(
    robots: RobotReceiver, client: httpx.Client
) -> None:
    answer = send("feishu", robots, client, make_message(severity="major"))
    assert answer == Answer(True, False, "0", "success")
    got = only_received(robots)
    assert got.payload["msg_type"] == "interactive"
    assert got.payload["timestamp"].isdigit()
    assert got.payload["sign"]
    card = got.payload["card"]
    assert card["header"]["template"] == "orange"
    assert card["elements"][0]["text"] == {
        "tag": "lark_md",
        "content": "**站点**：人民公园东门\n• 故障：刹车失灵\n• [地图](https://map.example/1)",
    }
    button = card["elements"][1]["actions"][0]
    assert (button["text"]["content"], button["url"]) == (
        "查看工单",
        "https://fitmon.example/tickets/417",
    )


def test_webhook_posts_the_message_signed_with_its_delivery_key(
    robots: RobotReceiver, client: httpx.Client
) -> None:
    message = make_message(subjects=("漫步机 A01", "划船器 B02"))
    assert send("webhook", robots, client, message) == Answer(True, False, "200", "delivered")
    got = only_received(robots)
    assert got.headers["x-fitmon-delivery"] == message.key
    assert got.headers["x-fitmon-signature"].startswith("v1=")
    assert abs(int(got.headers["x-fitmon-timestamp"]) - time.time()) < 5
    payload = got.payload
    assert {k: payload[k] for k in ("event", "key", "severity", "title", "link", "count")} == {
        "event": "notification",
        "key": message.key,
        "severity": "critical",
        "title": message.title,
        "link": message.link,
        "count": 2,
    }
    assert (payload["subjects"], payload["text"]) == (["漫步机 A01", "划船器 B02"], message.text)


# -- signatures -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "code"), [("dingtalk", "310000"), ("feishu", "19021"), ("webhook", "401")]
)
def test_a_wrong_secret_is_refused_with_the_receivers_code_and_read_as_final(
    robots: RobotReceiver, client: httpx.Client, kind: ChannelKind, code: str
) -> None:
    right = robots.target(kind)
    wrong = Target(kind, right.address, "SECnot-the-robots-secret")
    answer = channel_of(kind, client).send(wrong, make_message(), timeout_s=2.0)
    assert (answer.ok, answer.retry, answer.code) == (False, False, code)
    assert [r.code for r in robots.refused] == [code]
    assert robots.received == []


def test_a_wrong_wecom_key_is_refused_and_read_as_final(
    robots: RobotReceiver, client: httpx.Client
) -> None:
    address = robots.target("wecom").address.split("?")[0] + "?key=not-a-key"
    answer = WeComChannel(client).send(Target("wecom", address), make_message(), timeout_s=2.0)
    assert (answer.ok, answer.retry, answer.code) == (False, False, "93000")


def test_a_wecom_key_kept_as_the_secret_goes_into_the_url(
    robots: RobotReceiver, client: httpx.Client
) -> None:
    address, _, key = robots.target("wecom").address.partition("?key=")
    answer = WeComChannel(client).send(Target("wecom", address, key), make_message(), timeout_s=2.0)
    assert answer.ok, robots.refused
    assert only_received(robots).kind == "wecom"


@pytest.mark.parametrize(("kind", "code"), [("dingtalk", "310000"), ("feishu", "19021")])
def test_a_target_without_a_secret_is_sent_unsigned(
    robots: RobotReceiver, client: httpx.Client, kind: ChannelKind, code: str
) -> None:
    unsigned = Target(kind, robots.target(kind).address)
    answer = channel_of(kind, client).send(unsigned, make_message(), timeout_s=2.0)
    assert (answer.retry, answer.code) == (False, code)  # these robots require a signature
    sent = robots.refused[0]
    assert "sign" not in sent.payload
    assert "timestamp" not in sent.payload
    assert "timestamp missing" in sent.reason or kind == "feishu"


def test_the_docs_verification_snippet_accepts_a_real_delivery_and_refuses_forgery_and_replay(
    robots: RobotReceiver, client: httpx.Client
) -> None:
    snippet = re.search(r"### Verifying a delivery.*?```python\n(.*?)```", DOCS.read_text(), re.S)
    assert snippet is not None, "docs/notification-channels.md lost its verification snippet"
    scope: dict[str, Any] = {"__name__": "fitmon_docs_snippet"}
    exec(compile(snippet.group(1), str(DOCS), "exec"), scope)
    verify, rejected = scope["verify_fitmon_delivery"], scope["RejectedDelivery"]
    target = robots.target("webhook")
    assert target.secret is not None
    message = make_message()
    assert send("webhook", robots, client, message).ok
    got = only_received(robots)
    secret = target.secret.encode()

    assert verify(secret, got.headers, got.body)["key"] == message.key
    with pytest.raises(rejected, match="bad signature"):
        verify(secret, got.headers, got.body.replace("刹车".encode(), "座椅".encode()))
    with pytest.raises(rejected, match="bad signature"):
        verify(b"another secret", got.headers, got.body)
    old = int(time.time()) - 301
    body = request_body(message, sent_at=old)
    replayed = {
        k.lower(): v
        for k, v in signed_headers(body, target.secret, message.key, timestamp=old).items()
    }
    with pytest.raises(rejected, match="300 s"):
        verify(secret, replayed, body)
    stale = client.post(target.address, content=body, headers=replayed)  # the receiver agrees
    assert stale.status_code == 401


# -- answers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "code", "retry", "after"),
    [
        ("wecom", "45009", True, 60.0),
        ("wecom", "93000", False, None),
        ("wecom", "40058", False, None),
        ("wecom", "-1", True, 5.0),
        ("dingtalk", "130101", True, 600.0),
        ("dingtalk", "310000", False, None),
        ("dingtalk", "460101", False, None),
        ("feishu", "11232", True, 10.0),
        ("feishu", "19021", False, None),
        ("feishu", "9499", False, None),
        ("wecom", "503", True, 1.0),
        ("dingtalk", "502", True, None),
        ("feishu", "429", True, 1.0),
        ("feishu", "404", False, None),
        ("webhook", "503", True, 1.0),
        ("webhook", "429", True, 1.0),
        ("webhook", "408", True, None),
        ("webhook", "500", True, None),
        ("webhook", "400", False, None),
        ("webhook", "410", False, None),
    ],
)
def test_each_error_code_is_read_as_retry_or_final(
    robots: RobotReceiver,
    client: httpx.Client,
    kind: ChannelKind,
    code: str,
    retry: bool,
    after: float | None,
) -> None:
    robots.fail_next(kind, "crew", code)
    answer = send(kind, robots, client, make_message())
    assert (answer.ok, answer.retry, answer.code, answer.retry_after_s) == (
        False,
        retry,
        code,
        after,
    )
    assert send(kind, robots, client, make_message()).ok  # only the next one was told to fail


@pytest.mark.parametrize("kind", ROBOT_KINDS)  # for the webhook, any 2xx is delivered
def test_an_unreadable_robot_answer_is_a_failure_quoting_its_first_bytes(
    robots: RobotReceiver, client: httpx.Client, kind: ChannelKind
) -> None:
    robots.fail_next(kind, "crew", "garbage")
    answer = send(kind, robots, client, make_message())
    assert (answer.ok, answer.retry, answer.code) == (False, True, "unreadable")
    assert "<html><body>502 Bad Gateway" in answer.detail


@pytest.mark.parametrize("kind", HTTP_KINDS)
def test_a_timeout_and_a_refused_connection_are_retried_never_raised(
    robots: RobotReceiver, client: httpx.Client, kind: ChannelKind
) -> None:
    robots.fail_next(kind, "crew", "timeout")
    channel = channel_of(kind, client)
    answer = channel.send(robots.target(kind), make_message(), timeout_s=0.2)
    assert (answer.ok, answer.retry, answer.code) == (False, True, "timeout")

    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    target = robots.target(kind)
    closed = Target(kind, re.sub(r":\d+/", f":{port}/", target.address, count=1), target.secret)
    answer = channel.send(closed, make_message(), timeout_s=1.0)
    assert (answer.ok, answer.retry, answer.code) == (False, True, "connect")
    assert "key=" not in answer.detail
    assert (target.secret or "-") not in answer.detail


def test_an_address_that_is_not_http_is_final(client: httpx.Client) -> None:
    answer = WebhookChannel(client).send(
        Target("webhook", "ftp://crew.example/x?token=s3"), make_message(), timeout_s=1.0
    )
    assert (answer.ok, answer.retry, answer.code) == (False, False, "bad_url")
    assert "s3" not in answer.detail


# -- rate limits --------------------------------------------------------------------------------


def test_the_robots_rate_limits_are_read_as_retry() -> None:
    with (
        RobotReceiver(wecom_per_minute=3, dingtalk_per_minute=3, feishu_per_second=3) as robots,
        httpx.Client() as client,
    ):
        for kind in ROBOT_KINDS:
            answers = [send(kind, robots, client, make_message()) for _ in range(4)]
            assert [a.ok for a in answers] == [True, True, True, False], kind
            assert answers[3].retry, answers[3]
            assert answers[3].retry_after_s, answers[3]
        codes = [r.code for r in robots.refused]
        assert codes == ["45009", "130101", "11232"]
        # DingTalk stays throttled for ten minutes once over its limit
        assert send("dingtalk", robots, client, make_message()).code == "130101"
