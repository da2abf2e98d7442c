"""Rate limits per client on the public pages and the sign-in, in a moving window kept in this
process's memory: page views, fault reports, sign-in attempts, and codes that match no item
(someone guessing codes gets few guesses before every scan page answers 429).

The client is the peer address; behind a reverse proxy, run the API with uvicorn's
`--proxy-headers --forwarded-allow-ips <proxy>` so that it is the citizen's address. Each API
process counts on its own: with N processes a client may get up to N times the limits.

A view is counted on every scan, so the bookkeeping is a few list operations under a lock, with
no timer thread: a client's hits are forgotten as they leave the longest window. Clients are kept
in the order they were last seen; those not seen for their longest window are dropped from the
front a few at a time, and past MAX_CLIENTS the least recently seen goes, so a flood of new
addresses costs bounded memory and time. An IPv6 client counts by its /64 network (what one
subscriber is given), so a host cannot get fresh limits by changing its interface address.
"""

from __future__ import annotations

import ipaddress
import math
import re
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from fastapi import Request

_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86_400}
_LIMIT_RE = re.compile(r"\s*([0-9]+)\s*/\s*(second|minute|hour|day)\s*")
MAX_CLIENTS = 100_000  # (kind, client) entries: some 30 MB at most
_SWEEP_AT_MOST = 64  # expired entries dropped per hit

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
    _hits: OrderedDict[tuple[str, str], deque[float]] = field(
        init=False, repr=False, default_factory=OrderedDict
    )
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

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
            self._sweep(now)
            hits = self._hits.get((kind, client))
            wait = self._wait(kind, hits, now)
            if wait is None:
                if hits is None:
                    if len(self._hits) >= MAX_CLIENTS:
                        self._hits.popitem(last=False)  # the least recently seen
                    most = max(count for count, _ in self._limits[kind])
                    hits = self._hits[(kind, client)] = deque(maxlen=most)
                else:
                    self._hits.move_to_end((kind, client))
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
        """Drop, from the least recently seen, entries whose latest hit has left their kind's
        longest window; a few at a time, stopping at the first still in use."""
        for _ in range(_SWEEP_AT_MOST):
            if not self._hits:
                return
            (kind, client), hits = next(iter(self._hits.items()))
            longest = max(window for _, window in self._limits[kind])
            if hits and hits[-1] > now - longest:
                return
            del self._hits[(kind, client)]

    def __len__(self) -> int:
        """How many (kind, client) entries are kept."""
        return len(self._hits)


def client_of(request: Request) -> str:
    """Who the limits count: the peer's IPv4 address, or its IPv6 /64 network."""
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host  # not an address (a test client's name)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


async def page_limits(request: Request) -> PageLimits:
    """Async, though it awaits nothing: FastAPI runs a sync dependency in the threadpool."""
    limits: PageLimits = request.app.state.page_limits
    return limits
