"""One HTTP POST for the HTTP channels, and how its answer reads: transport failures and HTTP
statuses become an `Answer` (retry or not) instead of an exception; the group robots answer HTTP
200 on failure, so their body's error code decides (docs/notification-channels.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from notifications.channels.base import Answer

RETRY_STATUSES = frozenset({408, 425, 429})  # and every 5xx
DETAIL_BYTES = 200  # how much of an unexpected body an Answer quotes


def post_once(
    client: httpx.Client, url: str, body: bytes, *, timeout_s: float, headers: Mapping[str, str]
) -> httpx.Response | Answer:
    """POST `body` as JSON once; a failure to get any answer is returned as an `Answer`."""
    try:
        return client.post(
            url,
            content=body,
            headers={"Content-Type": "application/json; charset=utf-8", **headers},
            timeout=timeout_s,
        )
    except httpx.TimeoutException as exc:
        return Answer(False, True, "timeout", f"no answer within {timeout_s} s ({exc!r})")
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        return Answer(False, False, "bad_url", f"cannot post to {_redacted(url)}: {exc}")
    except httpx.ConnectError as exc:
        return Answer(False, True, "connect", f"cannot connect: {exc}")
    except httpx.TransportError as exc:
        return Answer(False, True, "transport", f"connection failed: {exc!r}")
    except httpx.TooManyRedirects as exc:
        return Answer(False, False, "redirects", f"redirected in circles: {exc}")
    except httpx.RequestError as exc:  # an answer that could not be decoded, say
        return Answer(False, True, "unreadable", f"unreadable answer: {exc!r}")


def read_http_status(response: httpx.Response) -> Answer:
    """The generic reading: 2xx delivered; 408/425/429/5xx retry (honouring `Retry-After`);
    anything else (a 3xx the client did not follow, another 4xx) never passes as it is."""
    status = response.status_code
    if 200 <= status < 300:
        return Answer(True, False, str(status), "delivered")
    if status in RETRY_STATUSES or status >= 500:
        return Answer(False, True, str(status), body_start(response), retry_after(response))
    return Answer(False, False, str(status), body_start(response))


def read_robot_answer(response: httpx.Response, retry_after_s: Mapping[int, float]) -> Answer:
    """A group robot's answer: its HTTP status first, then `errcode` (WeCom, DingTalk) or `code`
    (Feishu; `StatusCode` in its older answers). Codes in `retry_after_s` may pass later."""
    if not 200 <= response.status_code < 300:
        return read_http_status(response)
    try:
        data = json.loads(response.content)
    except ValueError:
        data = None
    code = _robot_code(data)
    if code is None:
        return Answer(False, True, "unreadable", f"unreadable answer: {body_start(response)}")
    assert isinstance(data, dict)
    words = str(data.get("errmsg", data.get("msg", data.get("StatusMessage", ""))))
    if code == 0:
        return Answer(True, False, "0", words or "ok")
    if code in retry_after_s:
        return Answer(False, True, str(code), words, retry_after_s[code])
    return Answer(False, False, str(code), words)


def _robot_code(data: object) -> int | None:
    if not isinstance(data, dict):
        return None
    for name in ("errcode", "code", "StatusCode"):
        value = data.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def body_start(response: httpx.Response) -> str:
    return response.content[:DETAIL_BYTES].decode("utf-8", errors="replace")


def retry_after(response: httpx.Response) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _redacted(url: str) -> str:
    """Only the scheme and host: robot keys and tokens travel in the path and the query."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0]
    return f"{scheme}://{host}/..." if rest else "(not a URL)"
