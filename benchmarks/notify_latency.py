"""The notifications leg of the maintenance benchmark: `python -m notifications` delivering to a
local webhook receiver that checks each message's fitmon signature (HMAC-SHA256 over the
timestamp and the body) and notes when each fault's item arrived."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
from pydantic import SecretStr

from benchmarks.harness import ServiceProcess
from notifications.preferences import add_crew_channel
from notifications.sealed import Sealer

TARGET_P99_S = 1.0


@dataclass
class SignedSink:
    """A webhook receiver on 127.0.0.1: refuses a bad signature or a stale timestamp (401)."""

    secret: str = field(default_factory=lambda: secrets.token_hex(24))
    arrived: dict[str, float] = field(default_factory=dict)  # subject -> first arrival
    refused: int = 0

    def __post_init__(self) -> None:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                at = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                ts = self.headers.get("X-Fitmon-Timestamp", "")
                mac = hmac.new(sink.secret.encode(), f"{ts}.".encode() + body, hashlib.sha256)
                offered = self.headers.get("X-Fitmon-Signature", "").removeprefix("v1=")
                fresh = ts.isdigit() and abs(at - int(ts)) <= 300
                ok = fresh and hmac.compare_digest(mac.hexdigest(), offered)
                if ok:
                    for subject in json.loads(body).get("subjects", []):
                        sink.arrived.setdefault(subject, at)
                else:
                    sink.refused += 1
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/fitmon"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class NotifyLeg:
    sink: SignedSink
    process: ServiceProcess

    @classmethod
    def start(cls, db_url: str, workdir: Path) -> NotifyLeg:
        """A signed webhook for every crew, then the notify process (waits until it is up)."""
        sink = SignedSink()
        key = secrets.token_urlsafe(32)
        with psycopg.connect(db_url) as conn, conn.transaction():
            for (crew,) in conn.execute("SELECT id FROM crews").fetchall():
                add_crew_channel(
                    conn,
                    Sealer(SecretStr(key)),
                    crew,
                    kind="webhook",
                    name="bench receiver",
                    url=sink.url,
                    secret=sink.secret,
                )
        env = {
            "FITMON_ENV": "dev",
            "FITMON_DATABASE_URL": db_url,
            "FITMON_SECRET_KEY": key,
            "FITMON_METRICS_PORT": "0",
            "FITMON_LOG_FORMAT": "json",
        }
        process = ServiceProcess("notifications", env, workdir / "notify.log")
        process.wait_for_log("notify service started")
        return cls(sink, process)

    def latencies(self, published: dict[str, float], codes: list[str]) -> list[float]:
        """Publish -> signed webhook received, for each fault that arrived (waits up to 30 s)."""
        deadline = time.monotonic() + 30
        while len(set(codes) & self.sink.arrived.keys()) < len(codes):
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        return [self.sink.arrived[c] - published[c] for c in codes if c in self.sink.arrived]

    def stop(self) -> None:
        self.process.stop()
        self.sink.close()
