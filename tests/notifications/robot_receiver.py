"""A real local HTTP server that plays the WeCom, DingTalk and Feishu group robots and a generic
webhook receiver, checking what each real one checks (docs/notification-channels.md,
../shared/DOMAIN.md): signature and timestamp window, JSON shape, size limit, rate limit. The
robots answer HTTP 200 with their own error codes, as the real ones do.

Paths: WeCom `/cgi-bin/webhook/send?key=KEY`, DingTalk `/robot/send?access_token=T` (signed in
the query), Feishu `/open-apis/bot/v2/hook/TOKEN` (signed in the body), webhook `/hooks/NAME`
(`X-Fitmon-*` headers). `fail_next` codes: a robot's own code (answered in an HTTP 200 body), a
three-digit HTTP status (429 and 503 carry `Retry-After: 1`), `timeout` (hold the request for
`hang_s` seconds, or until the receiver stops, then answer 504) or `garbage` (HTTP 200 with a
body that is not JSON).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from notifications.channels.base import ChannelKind, Target
from tests.notifications.robot_checks import (
    CHECKS,
    ROBOT_KINDS,
    Refusal,
    Robot,
    check_webhook,
    forced_answer,
    json_object,
    ok_body,
    refusal_answer,
    route,
    unknown_token,
)


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it. `headers` names are lower case; `payload` is the JSON
    body (empty when it was not JSON); `code` is what was answered ("0" for a robot's success,
    "200" for the webhook's) and `reason` why it was refused ("" when accepted)."""

    kind: ChannelKind
    name: str
    at: float
    headers: dict[str, str]
    body: bytes
    payload: dict[str, Any]
    code: str
    reason: str

    def text(self) -> str:
        """The human-readable content of the message (markdown/card text)."""
        p = self.payload
        if self.kind == "wecom":
            part = p.get(p.get("msgtype", ""), {})
            return str(part.get("content", "")) if isinstance(part, dict) else ""
        if self.kind == "dingtalk":
            part = p.get(p.get("msgtype", ""), {})
            if not isinstance(part, dict):
                return ""
            return str(part.get("text", part.get("content", "")))
        if self.kind == "feishu":
            card = p.get("card", {})
            if not isinstance(card, dict):
                return str(p.get("content", {}).get("text", ""))
            title = card.get("header", {}).get("title", {}).get("content", "")
            parts = [str(title)] if title else []
            for element in card.get("elements", []):
                text = element.get("text", {}) if isinstance(element, dict) else {}
                if isinstance(text, dict) and "content" in text:
                    parts.append(str(text["content"]))
            return "\n".join(parts)
        return str(p.get("text", ""))


class RobotReceiver:
    """Context manager: starts on `__enter__`, stops on `__exit__`. `window_s` is the length of
    the rate limits' "minute" and `dingtalk_throttle_s` how long DingTalk stays throttled once
    over its limit (600 s, as the real robot): shorten them to test a storm in seconds."""

    def __init__(
        self,
        *,
        wecom_per_minute: int = 20,
        dingtalk_per_minute: int = 20,
        feishu_per_minute: int = 100,
        feishu_per_second: int = 5,
        window_s: float = 60.0,
        dingtalk_throttle_s: float = 600.0,
        hang_s: float = 2.0,
    ) -> None:
        self.per_minute = {
            "wecom": wecom_per_minute,
            "dingtalk": dingtalk_per_minute,
            "feishu": feishu_per_minute,
        }
        self.feishu_per_second = feishu_per_second
        self.window_s = window_s
        self.dingtalk_throttle_s = dingtalk_throttle_s
        self.hang_s = hang_s
        self._lock = threading.Lock()
        self._robots: dict[tuple[str, str], Robot] = {}
        self._by_token: dict[tuple[str, str], Robot] = {}
        self._received: list[Received] = []
        self._refused: list[Received] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()  # ends a `timeout` hang when the receiver stops

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> RobotReceiver:
        receiver = self
        self._stopping.clear()

        class Handler(_Handler):
            owner = receiver

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # so that leaving the context is quick
            name="robot-receiver",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        assert self._server is not None, "RobotReceiver is used as a context manager"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- what tests use -------------------------------------------------------------------------
    @property
    def received(self) -> list[Received]:
        """Accepted messages, in order of arrival (a snapshot)."""
        with self._lock:
            return list(self._received)

    @property
    def refused(self) -> list[Received]:
        """Refused requests, with the code answered and why (a snapshot)."""
        with self._lock:
            return list(self._refused)

    def target(self, kind: ChannelKind, name: str = "crew") -> Target:
        """A Target for robot `name` of `kind` ('webhook', 'wecom', 'dingtalk', 'feishu'): the URL
        (with its key/access_token/hook token) and the secret it verifies with (None for WeCom,
        whose key is its secret)."""
        robot = self._robot(kind, name)
        base = self.base_url
        if kind == "wecom":
            return Target("wecom", f"{base}/cgi-bin/webhook/send?key={robot.token}")
        if kind == "dingtalk":
            url = f"{base}/robot/send?access_token={robot.token}"
            return Target("dingtalk", url, robot.secret)
        if kind == "feishu":
            return Target("feishu", f"{base}/open-apis/bot/v2/hook/{robot.token}", robot.secret)
        return Target("webhook", f"{base}/hooks/{robot.token}", robot.secret)

    def fail_next(self, kind: ChannelKind, name: str, code: str, times: int = 1) -> None:
        """Answer the next `times` requests to that robot with this error (e.g. '45009', '93000',
        '130101', '19021', or an HTTP status like '503' for the webhook)."""
        robot = self._robot(kind, name)
        with self._lock:
            robot.forced.extend([code] * times)

    def _robot(self, kind: ChannelKind, name: str) -> Robot:
        if kind not in (*ROBOT_KINDS, "webhook"):
            raise ValueError(
                f"RobotReceiver plays wecom, dingtalk, feishu and webhook, not {kind!r}"
            )
        with self._lock:
            robot = self._robots.get((kind, name))
            if robot is None:
                token = (
                    f"{name}-{secrets.token_hex(8)}" if kind == "webhook" else secrets.token_hex(16)
                )
                secret = None if kind == "wecom" else "SEC" + secrets.token_hex(24)
                robot = Robot(kind, name, token, secret)
                self._robots[(kind, name)] = robot
                self._by_token[(kind, token)] = robot
            return robot

    # -- handling (on the server's threads) -----------------------------------------------------
    def _handle(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        now = time.time()
        kind, token, query = route(path)
        if kind is None:
            return 404, {}, b"not found"
        with self._lock:
            robot = self._by_token.get((kind, token))
        payload = json_object(body)
        forced = self._pop_forced(robot)
        if forced is not None:
            self._log(kind, robot, now, headers, body, payload, forced, f"told to fail ({forced})")
            if forced == "timeout":
                self._stopping.wait(self.hang_s)
                forced = "504"
            return forced_answer(kind, forced)
        try:
            if robot is None:
                raise unknown_token(kind)
            if kind == "webhook":
                check_webhook(robot, headers, body, payload, now)
            else:
                CHECKS[kind](robot, query, body, payload, now)
            with self._lock:
                self._check_rate(robot, now)
                robot.sent.append(now)
        except Refusal as refusal:
            self._log(kind, robot, now, headers, body, payload, refusal.code, refusal.reason)
            return refusal_answer(kind, refusal)
        ok_code = "200" if kind == "webhook" else "0"
        self._log(kind, robot, now, headers, body, payload, ok_code, "")
        return 200, {}, ok_body(kind)

    def _pop_forced(self, robot: Robot | None) -> str | None:
        with self._lock:
            return robot.forced.popleft() if robot is not None and robot.forced else None

    def _check_rate(self, robot: Robot, now: float) -> None:
        """Called under the lock: the robots' own rate limits, counted over accepted messages."""
        if robot.kind == "webhook":
            return
        while robot.sent and robot.sent[0] <= now - self.window_s:
            robot.sent.popleft()
        if robot.kind == "wecom" and len(robot.sent) >= self.per_minute["wecom"]:
            raise Refusal("45009", "api freq out of limit")
        if robot.kind == "dingtalk":
            if now < robot.throttled_until:
                raise Refusal("130101", "send too fast, throttled for 10 minutes")
            if len(robot.sent) >= self.per_minute["dingtalk"]:
                robot.throttled_until = now + self.dingtalk_throttle_s
                raise Refusal("130101", "send too fast, exceed 20 times per minute")
        if robot.kind == "feishu":
            last_second = sum(1 for at in robot.sent if at > now - 1.0)
            if (
                len(robot.sent) >= self.per_minute["feishu"]
                or last_second >= self.feishu_per_second
            ):
                raise Refusal("11232", "frequency limited")

    def _log(
        self,
        kind: ChannelKind,
        robot: Robot | None,
        now: float,
        headers: dict[str, str],
        body: bytes,
        payload: dict[str, Any],
        code: str,
        reason: str,
    ) -> None:
        name = robot.name if robot is not None else "?"
        entry = Received(kind, name, now, headers, body, payload, code, reason)
        with self._lock:
            (self._refused if reason else self._received).append(entry)


class _Handler(BaseHTTPRequestHandler):
    owner: RobotReceiver
    protocol_version = "HTTP/1.1"  # keep-alive, as the robots' front ends
    timeout = 10  # an idle keep-alive connection is closed after this

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, extra, answer = self.owner._handle(self.path, headers, body)
        content_type = "application/json" if answer.startswith(b"{") else "text/plain"
        try:
            self.send_response(status)
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(answer)))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(answer)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the sender gave up waiting (a `timeout` test)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's name)
        return  # quiet: tests read `received` and `refused`
