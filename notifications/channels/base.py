"""What the delivery core hands a channel adapter, and what the adapter answers.

Every adapter (webhook, WeCom, DingTalk, Feishu, e-mail, MQTT) implements `Channel`: it builds its
own request from a `Message` (format, signature, size limit), sends it once, and reads the answer
(the robots answer HTTP 200 on failure, so the body decides). Retries, backoff, rate limits and
grouping belong to the core, never to an adapter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

ChannelKind = Literal["webhook", "wecom", "dingtalk", "feishu", "email", "mqtt"]
Severity = Literal["critical", "major", "minor"]
SEVERITY_RANK: dict[str, int] = {"critical": 2, "major": 1, "minor": 0}  # higher: more severe


@dataclass(frozen=True, slots=True)
class Message:
    """One message, already rendered from the templates in its recipient's language.

    `markdown` uses a small common subset (`**bold**`, `[text](url)`, one item per line, `- `
    lists) that each robot adapter maps to its own dialect; `text` is the same content as plain
    text. `count` is how many alerts or notices the message accounts for (more than one when the
    core grouped a burst); `subjects` names them, so an adapter that must shorten a message to its
    channel's size limit can say how many it left out instead of dropping them silently.
    """

    key: str  # the outbox id(s) it delivers: an idempotency key receivers may use
    title: str
    severity: Severity
    markdown: str
    text: str
    html: str
    link: str | None = None  # the ticket's page, shown as a button where the format has one
    link_label: str = "查看工单"
    count: int = 1
    subjects: tuple[str, ...] = ()
    mention_mobiles: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Target:
    """Where one delivery goes: a URL, an e-mail address or an MQTT topic, with its secret."""

    kind: ChannelKind
    address: str
    secret: str | None = None  # a robot's key or signing secret, the webhook's HMAC key


@dataclass(frozen=True, slots=True)
class Answer:
    """What the receiver said. `retry` is True for what may pass later (rate limit, busy, 5xx,
    timeout, connection refused) and False for what never will (bad key or signature, too long,
    a 4xx); `code` is the channel's own error code or the HTTP status, `detail` its words."""

    ok: bool
    retry: bool
    code: str
    detail: str
    retry_after_s: float | None = None


class Channel(Protocol):
    kind: ChannelKind

    def send(self, target: Target, message: Message, *, timeout_s: float) -> Answer:
        """Deliver once. Never raises for the receiver's failures: they are an `Answer`."""
        ...
