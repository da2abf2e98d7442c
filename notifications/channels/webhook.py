"""The generic webhook: a JSON body signed with HMAC-SHA256 over a timestamp and the body, so a
receiver can check who sent it and refuse replays (docs/notification-channels.md has the scheme
and a verification snippet). 2xx is delivered; 408/425/429/5xx retry; any other status is final.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from notifications.channels.base import Answer, ChannelKind, Message, Target
from notifications.channels.http_post import post_once, read_http_status

BODY_VERSION = 1


class WebhookChannel:
    kind: ChannelKind = "webhook"

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def send(self, target: Target, message: Message, *, timeout_s: float) -> Answer:
        now = time.time()
        body = request_body(message, sent_at=now)
        headers = signed_headers(body, target.secret, message.key, timestamp=int(now))
        answer = post_once(self.client, target.address, body, timeout_s=timeout_s, headers=headers)
        if isinstance(answer, Answer):
            return answer
        return read_http_status(answer)


def request_body(message: Message, *, sent_at: float) -> bytes:
    payload: dict[str, Any] = {
        "version": BODY_VERSION,
        "event": "notification",
        "key": message.key,
        "severity": message.severity,
        "title": message.title,
        "text": message.text,
        "markdown": message.markdown,
        "link": message.link,
        "count": message.count,
        "subjects": list(message.subjects),
        "sent_at": datetime.fromtimestamp(sent_at, UTC).isoformat(timespec="seconds"),
    }
    return json.dumps(payload, ensure_ascii=False).encode()


def signed_headers(body: bytes, secret: str | None, key: str, *, timestamp: int) -> dict[str, str]:
    """`X-Fitmon-Timestamp` (unix seconds), `X-Fitmon-Signature: v1=<hex HMAC-SHA256(secret,
    f"{timestamp}." + body)>` (left out when the target has no secret) and `X-Fitmon-Delivery`,
    the message's key, on which receivers deduplicate."""
    headers = {
        "User-Agent": "fitmon-webhook/1",
        "X-Fitmon-Timestamp": str(timestamp),
        "X-Fitmon-Delivery": key,
    }
    if secret:
        mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
        headers["X-Fitmon-Signature"] = f"v1={mac.hexdigest()}"
    return headers
