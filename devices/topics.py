"""Device protocol v1: the topic grammar (docs/protocol.md, Topics).

Apart from the payload models (devices.protocol), so that what only routes messages by topic
does not load them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from devices.codes import CodeError, parse_equipment_code, parse_site_code

DEFAULT_TOPIC_ROOT: Final = "fitness/v1"
GATEWAY: Final = "gateway"


class Kind(enum.StrEnum):
    BIRTH = "birth"
    STATUS = "status"
    USAGE = "usage"
    FAULT = "fault"


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed v1 topic. `code` is None for a site batch; `kind` is None for a batch."""

    site: str
    code: str | None
    kind: Kind | None

    @property
    def is_batch(self) -> bool:
        return self.kind is None

    @property
    def is_gateway(self) -> bool:
        return self.code == GATEWAY


class TopicError(ValueError):
    pass


def parse_topic(topic: str, root: str = DEFAULT_TOPIC_ROOT) -> Topic:
    """Parse `<root>/<site>/<code>/<kind>` or `<root>/<site>/batch`; raises TopicError."""
    prefix = root + "/"
    if not topic.startswith(prefix):
        raise TopicError(f"topic {topic!r} is not under {root!r}")
    parts = topic[len(prefix) :].split("/")
    try:
        site = str(parse_site_code(parts[0]))
        if len(parts) == 2 and parts[1] == "batch":
            return Topic(site, None, None)
        if len(parts) != 3:
            raise TopicError(f"topic {topic!r} is not <site>/<code>/<kind> or <site>/batch")
        code, kind_text = parts[1], parts[2]
        try:
            kind = Kind(kind_text)
        except ValueError:
            raise TopicError(f"unknown message kind {kind_text!r} in topic {topic!r}") from None
        if code == GATEWAY:
            if kind is not Kind.STATUS:
                raise TopicError(f"a gateway publishes only status, topic {topic!r}")
            return Topic(site, code, kind)
        equipment = parse_equipment_code(code)
    except CodeError as exc:
        raise TopicError(f"bad code in topic: {exc}") from None
    if str(equipment.site) != site:
        raise TopicError(f"equipment {code} is not at site {site}")
    return Topic(site, code, kind)


def item_topic(site: str, code: str, kind: Kind | str, root: str = DEFAULT_TOPIC_ROOT) -> str:
    return f"{root}/{site}/{code}/{Kind(kind).value}"


def batch_topic(site: str, root: str = DEFAULT_TOPIC_ROOT) -> str:
    return f"{root}/{site}/batch"


def subscription(root: str = DEFAULT_TOPIC_ROOT) -> str:
    return f"{root}/#"
