"""Rate limits per client on the public pages and the sign-in, in a moving window kept in this
process's memory: page views, fault reports, sign-in attempts, and codes that match no item
(someone guessing codes gets few guesses before every scan page answers 429).

The client is the peer address; behind a reverse proxy, run the API with uvicorn's
`--proxy-headers --forwarded-allow-ips <proxy>` so that it is the citizen's address. Each API
process counts on its own: with N processes a client may get up to N times the limits.

A view is counted on every scan, so the bookkeeping is a few list operations under a lock, with
no timer thread: a client's hits are forgotten as they leave the longest window, and clients
not seen for that long are swept out once a minute.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from fastapi import Request

_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86_400}
_LIMIT_RE = re.compile(r"\s*([0-9]+)\s*/\s*(second|minute|hour|day)\s*")
_SWEEP_EVERY_S = 60.0

Limit = tuple[int, float]  # at most this many hits in any window of this many seconds


def parse_limits(spec: str) -> list[Limit]:
    """`"5/hour;20/day"` as [(5, 3600.0), (20, 86400.0)]; a malformed spec is a ValueError."""
    parsed = []
    for part in spec.split(";"):
        match = _LIMIT_RE.fullmatch(part)
        if match is None or int(match[1]) < 1:
            raise ValueError(
                f"bad rate limit {part!r} in {spec!r}: expected N/second, N/minute, N/hour or "
                "N/day with N at least 1, several separated by ';'"
            )
        parsed.append((int(match[1]), float(_SECONDS[match[2]])))
    return parsed


@dataclass
class PageLimits:
    views: str = "120/minute"
    reports: str = "5/hour;20/day"
    misses: str = "20/hour"  # scans of codes no item is registered as
    sign_ins: str = "10/minute;50/hour"
    _limits: dict[str, list[Limit]] = field(init=False, repr=False)
    _hits: dict[tuple[str, str], deque[float]] = field(init=False, repr=False, default_factory=dict)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)
    _swept_at: float = field(init=False, repr=False, default_factory=time.monotonic)

    def __post_init__(self) -> None:
        kinds = ("views", "reports", "misses", "sign_ins")
        self._limits = {kind: parse_limits(getattr(self, kind)) for kind in kinds}

    def blocked(self, kind: str, client: str) -> int | None:
        """Seconds until `client` may again, when a `kind` limit is used up; else None."""
        now = time.monotonic()
        with self._lock:
            return self._wait(kind, self._hits.get((kind, client)), now)

    def hit(self, kind: str, client: str) -> int | None:
        """Count one `kind` for `client`; the seconds to wait when that was over a limit (and
        then it is not counted)."""
        now = time.monotonic()
        with self._lock:
            if now - self._swept_at > _SWEEP_EVERY_S:
                self._sweep(now)
            hits = self._hits.get((kind, client))
            wait = self._wait(kind, hits, now)
            if wait is None:
                if hits is None:
                    most = max(count for count, _ in self._limits[kind])
                    hits = self._hits[(kind, client)] = deque(maxlen=most)
                hits.append(now)
            return wait

    def _wait(self, kind: str, hits: deque[float] | None, now: float) -> int | None:
        if not hits:
            return None
        longest = max(window for _, window in self._limits[kind])
        while hits and hits[0] <= now - longest:
            hits.popleft()
        waits = [
            hits[-count] + window - now
            for count, window in self._limits[kind]
            if len(hits) >= count and hits[-count] > now - window
        ]
        return max(1, math.ceil(max(waits))) if waits else None

    def _sweep(self, now: float) -> None:
        """Forget the clients whose latest hit has left their kind's longest window."""
        for (kind, client), hits in list(self._hits.items()):
            longest = max(window for _, window in self._limits[kind])
            if not hits or hits[-1] <= now - longest:
                del self._hits[(kind, client)]
        self._swept_at = now


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def page_limits(request: Request) -> PageLimits:
    """Async, though it awaits nothing: FastAPI runs a sync dependency in the threadpool."""
    limits: PageLimits = request.app.state.page_limits
    return limits
