"""How a lane paces its messages, as pure functions of the time: the receiver's rate limit
(counted over sends as they finished, so the receiver, which counts arrivals, never sees more),
grouping a burst into fewer messages (alerts of one site, then of one crew, then of the lane),
and the backoff of a retry."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Literal

from notifications.channels.base import SEVERITY_RANK

GroupLevel = Literal["single", "site", "crew", "lane"]


class RateLimit:
    """At most `count` sends in any `window_s` (several limits may apply: Feishu's minute and
    second). Not thread-safe: one lane, one thread at a time."""

    def __init__(self, limits: Sequence[tuple[int, float]]) -> None:
        self.limits = [(count, window) for count, window in limits if count > 0]
        self._sent: deque[float] = deque()
        self._longest = max((window for _, window in self.limits), default=0.0)

    @property
    def capacity(self) -> int | None:
        """Messages allowed in the longest window (None: no limit)."""
        longest = [count for count, window in self.limits if window == self._longest]
        return min(longest) if longest else None

    def available(self, now: float) -> int | None:
        """How many may be sent at `now` (None: no limit)."""
        if not self.limits:
            return None
        self._forget(now)
        return max(0, min(count - self._in(now, window) for count, window in self.limits))

    def next_free(self, now: float) -> float:
        """When the next send will be allowed."""
        at = now
        for count, window in self.limits:
            recent = [t for t in self._sent if t > now - window]
            if len(recent) >= count:
                at = max(at, recent[len(recent) - count] + window)
        return at

    def record(self, finished_at: float) -> None:
        self._sent.append(finished_at)

    def block_until(self, until: float, now: float) -> None:
        """The receiver said it is over its limit: send nothing before `until`."""
        for count, window in self.limits:
            while self._in(now, window) < count:
                self._sent.append(until - window)

    def _in(self, now: float, window: float) -> int:
        return sum(1 for t in self._sent if t > now - window)

    def _forget(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self._longest:
            self._sent.popleft()


@dataclass(frozen=True, slots=True)
class Pending:
    """What the planner needs of a pending delivery."""

    id: int
    severity: str
    site_code: str
    crew_id: int | None
    created_at: float  # seconds since the epoch


@dataclass(frozen=True, slots=True)
class Group:
    level: GroupLevel
    items: tuple[Pending, ...]


def _urgency(p: Pending) -> tuple[int, float, int]:
    return (-SEVERITY_RANK[p.severity], p.created_at, p.id)


def _chunks(level: GroupLevel, items: list[Pending], size: int) -> list[Group]:
    return [Group(level, tuple(items[i : i + size])) for i in range(0, len(items), size)]


def _grouped(
    level: GroupLevel, items: list[Pending], key: Callable[[Pending], object], size: int
) -> list[Group]:
    ordered = sorted(items, key=lambda p: (str(key(p)), _urgency(p)))
    groups: list[Group] = []
    for _, members in groupby(ordered, key=lambda p: str(key(p))):
        groups.extend(_chunks(level, list(members), size))
    return sorted(groups, key=lambda g: _urgency(g.items[0]))


def plan(pending: Sequence[Pending], slots: int | None, max_items: int) -> list[Group]:
    """The messages to send now for `pending`, given `slots` messages allowed now (None: any
    number). One message each while they fit; else alerts of one site in one message; else of
    one crew; else of the whole lane, in messages of at most `max_items` each, the most severe
    and oldest first. What does not fit in `slots` waits for the next plan, never dropped."""
    items = sorted(pending, key=_urgency)
    if not items or slots == 0:
        return []
    if slots is None or len(items) <= slots:
        return [Group("single", (p,)) for p in items]
    for level, key in (
        ("site", lambda p: p.site_code),
        ("crew", lambda p: p.crew_id),
    ):
        groups = _grouped(level, items, key, max_items)  # type: ignore[arg-type]
        if len(groups) <= slots:
            return groups
    return _chunks("lane", items, max_items)[:slots]


def slots_now(
    available: int | None, capacity: int | None, oldest_waited_s: float, group_wait_s: float
) -> int | None:
    """How many messages a lane may send now. While more than half of its window's messages are
    left, all of them; below that, what comes waits `group_wait_s` to be grouped with what
    follows, then half of what is left goes (at least one), keeping some for what comes next."""
    if available is None or capacity is None:
        return None
    if available == 0:
        return 0
    if available * 2 > capacity:
        return available
    if oldest_waited_s < group_wait_s:
        return 0
    return max(1, available // 2)


def backoff_s(
    attempt: int, first_s: float, max_s: float, rng: random.Random | None = None
) -> float:
    """The wait after failed attempt number `attempt` (1, 2, ...): `first_s` doubled per attempt,
    capped at `max_s`, drawn between half of it and all of it (jitter), so that many deliveries
    failing at once do not come back at once."""
    full = min(max_s, first_s * 2.0 ** (attempt - 1))
    draw: float = (rng or random).random()
    return full * (0.5 + 0.5 * draw)
