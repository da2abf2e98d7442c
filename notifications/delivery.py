"""The delivery core. The main loop fans the outbox out and hands each due lane (one recipient
channel: a crew's robot, a crew's MQTT topic, a person's e-mail or webhook) to a worker thread;
one thread per lane at a time, so a lane waiting on a receiver that hangs until its timeout
delays no other lane. A lane's pass paces its messages (rate limit, grouping a burst), sends,
and records every attempt; a failure is retried with exponential backoff and jitter, and dead
after its last try."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jinja2
import psycopg
import structlog
from psycopg_pool import ConnectionPool

from notifications.channels.base import Answer, Channel, ChannelKind, Message, Target
from notifications.lanes import (
    Delivery,
    dead_without_attempt,
    due_lanes,
    pending_in_lane,
    record_attempt,
    resolve_target,
)
from notifications.metrics import NotifyMetrics
from notifications.outbox import fan_out
from notifications.pacing import Pending, RateLimit, backoff_s, plan, slots_now
from notifications.render import Renderer, Told
from notifications.sealed import Sealer
from notifications.settings import NotifySettings

log = structlog.get_logger(__name__)

Clock = Callable[[], float]  # seconds since the epoch


@dataclass
class _LaneState:
    limit: RateLimit
    busy: bool = False
    wake_at: float = 0.0  # not before: the rate limit, or a burst being gathered


@dataclass
class DeliveryCore:
    settings: NotifySettings
    channels: Mapping[ChannelKind, Channel]
    pool: ConnectionPool[psycopg.Connection[Any]]
    metrics: NotifyMetrics = field(default_factory=NotifyMetrics)
    clock: Clock = time.time
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.renderer = Renderer(
            ticket_url=self.settings.ticket_url, templates_dir=self.settings.templates_dir
        )
        self.sealer = Sealer(self.settings.secret_key)
        self.stopping = threading.Event()
        self._lanes: dict[str, _LaneState] = {}
        self._lock = threading.Lock()
        self._workers = ThreadPoolExecutor(self.settings.workers, thread_name_prefix="lane")

    # -- the main loop's steps --------------------------------------------------------------
    def fan_out(self, conn: psycopg.Connection[Any]) -> int:
        """Fan out everything waiting in the outbox; returns how many deliveries were made."""
        made = 0
        while True:
            with conn.transaction():
                done = fan_out(conn, self._now(), mqtt="mqtt" in self.channels)
            made += done.deliveries
            if not done.events:
                return made

    def dispatch(self, conn: psycopg.Connection[Any]) -> float:
        """Hand every due lane that no worker holds to a worker; returns when the next lane not
        yet due will be (seconds since the epoch)."""
        now = self.clock()
        next_at = now + 1.0
        for due in due_lanes(conn):
            with self._lock:
                state = self._lanes.get(due.lane)
                if state is None:
                    state = self._lanes[due.lane] = _LaneState(self._limit_for(due.kind))
                if state.busy:
                    continue
                at = max(due.due_at.timestamp(), state.wake_at)
                if at > now:
                    next_at = min(next_at, at)
                    continue
                state.busy = True
            self._workers.submit(self._run_lane, due.lane, state)
        return next_at

    def refresh_gauges(self, conn: psycopg.Connection[Any]) -> None:
        counts = dict.fromkeys(("pending", "dead"), 0)
        rows = conn.execute(
            "SELECT status, count(*) FROM notification_deliveries "
            "WHERE status IN ('pending', 'dead') GROUP BY status"
        ).fetchall()
        counts.update({str(status): int(n) for status, n in rows})
        for status, n in counts.items():
            self.metrics.deliveries.labels(status).set(n)

    def close(self) -> None:
        """Wait for the lanes in hand (each bounded by the send timeout)."""
        self.stopping.set()
        self._workers.shutdown(wait=True, cancel_futures=True)

    def idle(self) -> bool:
        with self._lock:
            return not any(state.busy for state in self._lanes.values())

    # -- a lane's pass (on a worker thread) ------------------------------------------------
    def _run_lane(self, lane: str, state: _LaneState) -> None:
        try:
            with self.pool.connection() as conn:
                while not self.stopping.is_set() and self._pass(conn, lane, state):
                    pass
        except Exception:
            log.exception("lane pass failed; it is tried again", lane=lane)
            state.wake_at = self.clock() + 1.0
        finally:
            with self._lock:
                state.busy = False

    def _pass(self, conn: psycopg.Connection[Any], lane: str, state: _LaneState) -> bool:
        """Send what the lane may send now; True when it sent and more may be due."""
        now = self.clock()
        with conn.transaction():
            pending = pending_in_lane(conn, lane, self._now(now))
        if not pending:
            return False
        kind = pending[0].kind
        channel = self.channels.get(kind)
        with conn.transaction():
            target = resolve_target(conn, pending[0], self.sealer, self.settings.notify_topic_root)
            why = target if isinstance(target, str) else None
            if channel is None:
                why = f"this notify process has no {kind} channel (see its settings)"
            if why is not None:
                dead_without_attempt(conn, pending, self._now(now), why)
                self.metrics.attempts.labels(kind, "dead").inc(len(pending))
                log.warning("undeliverable", lane=lane, deliveries=len(pending), why=why)
                return False
        assert channel is not None
        assert isinstance(target, Target)
        oldest = min(d.created_at.timestamp() for d in pending)
        available = state.limit.available(now)
        slots = slots_now(available, state.limit.capacity, now - oldest, self.settings.group_wait_s)
        if slots == 0:
            state.wake_at = (
                state.limit.next_free(now)
                if available == 0
                else oldest + self.settings.group_wait_s
            )
            return False
        by_id = {d.id: d for d in pending}
        wanted = [
            Pending(d.id, d.severity, d.site_code, d.crew_id, d.created_at.timestamp())
            for d in pending
        ]
        for group in plan(wanted, slots, self.settings.group_max_items):
            members = [by_id[p.id] for p in group.items]
            if not self._send(conn, channel, target, members, state):
                return False
        return True

    def _send(
        self,
        conn: psycopg.Connection[Any],
        channel: Channel,
        target: Target,
        members: Sequence[Delivery],
        state: _LaneState,
    ) -> bool:
        kind = members[0].kind
        try:
            message = self.renderer.message(
                [Told(d.id, d.facts) for d in members], members[0].language
            )
        except (jinja2.TemplateError, KeyError, ValueError, OSError) as exc:
            with conn.transaction():
                dead_without_attempt(conn, members, self._now(), f"template failed: {exc!r}")
            self.metrics.attempts.labels(kind, "dead").inc(len(members))
            log.error("template failed", lane=members[0].lane, error=repr(exc))
            return True
        started = self.clock()
        answer = self._answer(channel, target, message)
        finished = self.clock()
        if state.limit.limits:
            state.limit.record(finished)
        retry = [self._retry_at(d, answer, finished) for d in members]
        with conn.transaction():
            states = record_attempt(
                conn,
                members,
                answer,
                at=self._now(finished),
                took_s=finished - started,
                key=message.key,
                retry_at=retry,
            )
        for outcome in ("delivered", "pending", "dead"):
            if n := states.count(outcome):
                label = "retry" if outcome == "pending" else outcome
                self.metrics.attempts.labels(kind, label).inc(n)
        if answer.ok:
            for d in members:
                self.metrics.latency.labels(kind).observe(finished - d.created_at.timestamp())
            return True
        log.warning(
            "not delivered",
            lane=members[0].lane,
            code=answer.code,
            detail=answer.detail[:200],
            deliveries=len(members),
            dead=states.count("dead"),
        )
        if answer.retry_after_s:
            state.limit.block_until(finished + answer.retry_after_s, finished)
            state.wake_at = max(state.wake_at, finished + answer.retry_after_s)
        return False

    def _answer(self, channel: Channel, target: Target, message: Message) -> Answer:
        timeout = self.settings.send_timeout_s
        try:
            return channel.send(target, message, timeout_s=timeout)
        except Exception as exc:  # an adapter must answer, but a bug in one must not stop a lane
            log.exception("channel raised", kind=channel.kind)
            return Answer(False, True, "error", f"the {channel.kind} adapter raised {exc!r}")

    def _retry_at(self, delivery: Delivery, answer: Answer, finished: float) -> datetime | None:
        attempt = delivery.attempts + 1
        if answer.ok or not answer.retry or attempt >= self.settings.max_attempts:
            return None
        s = self.settings
        wait = backoff_s(attempt, s.retry_first_s, s.retry_max_s, self.rng)
        return self._now(finished + max(wait, answer.retry_after_s or 0.0))

    def _limit_for(self, kind: ChannelKind) -> RateLimit:
        s, window = self.settings, self.settings.rate_window_s
        limits = {
            "wecom": [(s.wecom_per_window, window)],
            "dingtalk": [(s.dingtalk_per_window, window)],
            "feishu": [(s.feishu_per_window, window), (s.feishu_per_second, 1.0)],
            "webhook": [(s.webhook_per_window, window)],
        }
        return RateLimit(limits.get(kind, []))

    def _now(self, at: float | None = None) -> datetime:
        return datetime.fromtimestamp(self.clock() if at is None else at, UTC)
