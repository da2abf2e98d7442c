"""Rate limits per client on the public pages and the sign-in, in a moving window (the `limits`
library, in this process's memory): page views, fault reports, sign-in attempts, and codes that
match no item (someone guessing codes gets few guesses before every scan page answers 429).

The client is the peer address; behind a reverse proxy, run the API with uvicorn's
`--proxy-headers --forwarded-allow-ips <proxy>` so that it is the citizen's address. Each API
process counts on its own: with N processes a client may get up to N times the limits.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from fastapi import Request
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


@dataclass
class PageLimits:
    views: str = "120/minute"
    reports: str = "5/hour;20/day"
    misses: str = "20/hour"  # scans of codes no item is registered as
    sign_ins: str = "10/minute;50/hour"
    _limiter: MovingWindowRateLimiter = field(
        default_factory=lambda: MovingWindowRateLimiter(MemoryStorage()), repr=False
    )

    def _items(self, kind: str) -> list[RateLimitItem]:
        spec: str = getattr(self, kind)
        return [parse(part) for part in spec.split(";")]

    def blocked(self, kind: str, client: str) -> int | None:
        """Seconds until `client` may again, when a `kind` limit is used up; else None."""
        for item in self._items(kind):
            if not self._limiter.test(item, kind, client):
                stats = self._limiter.get_window_stats(item, kind, client)
                return max(1, math.ceil(stats.reset_time - time.time()))
        return None

    def hit(self, kind: str, client: str) -> int | None:
        """Count one `kind` for `client`; the seconds to wait when that was over a limit."""
        for item in self._items(kind):
            if not self._limiter.hit(item, kind, client):
                stats = self._limiter.get_window_stats(item, kind, client)
                return max(1, math.ceil(stats.reset_time - time.time()))
        return None


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def page_limits(request: Request) -> PageLimits:
    limits: PageLimits = request.app.state.page_limits
    return limits
