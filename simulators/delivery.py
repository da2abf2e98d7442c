"""Where a created message goes: out on its link, into the device's offline buffer, or into its
site gateway's batch; and the resends and bad messages that ride along with real traffic.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devices.broker_logins import gateway_username
from devices.protocol import GATEWAY, batch_topic
from simulators import activity as ev
from simulators import messages
from simulators.bad import BAD_WAYS, make_bad
from simulators.config import ConnectionMode, SimConfig
from simulators.ledger import LedgerWriter
from simulators.state import FleetState

# An emission: (simulated ms, link index, op, topic, payload).
Emission = tuple[int, int, int, str, bytes]
OP_PUBLISH, OP_RETAIN, OP_DROP, OP_RECONNECT = range(4)
BATCH_BYTES_LIMIT = 60_000  # under docs/protocol.md's 64 KiB per MQTT message
# (kind, payload, topic of a bad message, is the first copy of a good message)
Buffered = tuple[str, bytes, str | None, bool]


@dataclass(frozen=True, slots=True)
class LinkSpec:
    """One MQTT connection the fleet needs, with its last will (docs/protocol.md, Topics) and
    its broker login (docs/broker-credentials.md; a pool member has none)."""

    client_id: str
    will_topic: str | None
    will_payload: bytes | None
    username: str | None = None


@dataclass(slots=True)
class Counters:
    messages: int = 0  # good v1 messages created (each counted once, however often sent)
    by_kind: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    bad: int = 0
    bad_by_way: dict[str, int] = field(default_factory=dict)
    late: int = 0  # good messages held through an outage and sent on reconnect (first copies)
    flushes: int = 0  # reconnects that sent two or more held messages
    out_of_order_flushes: int = 0
    offline_periods: int = 0
    reboots: int = 0
    faults_raised: int = 0
    faults_cleared: int = 0
    unmeasured_sessions: int = 0


class Delivery:
    def __init__(
        self,
        config: SimConfig,
        state: FleetState,
        ledger: LedgerWriter,
        counters: Counters,
        schedule: Callable[[int, int, int, Any], None],
        fmt: messages.Rfc3339,
        py: random.Random,
    ) -> None:
        self.config, self.state, self.ledger, self.counters = config, state, ledger, counters
        self.schedule, self.fmt, self.py = schedule, fmt, py
        self.mode = config.connection
        self.out: deque[Emission] = deque()
        self.buffers: dict[int, list[Buffered]] = {}
        self._batches: dict[int, list[bytes]] = {}
        self._batch_bytes: dict[int, int] = {}
        root = config.topic_root
        self.prefix = [
            f"{root}/{state.site_codes[s]}/{code}/"
            for code, s in zip(state.codes, state.site_of, strict=True)
        ]
        self._batch_topic = [batch_topic(site, root) for site in state.site_codes]
        self._misbehaviour = config.misbehaviour
        if self.mode is ConnectionMode.GATEWAY:
            self._link_of = list(state.site_of)
        elif self.mode is ConnectionMode.DEVICE:
            self._link_of = list(range(state.size))
        else:
            self._link_of = [i % config.pool_size for i in range(state.size)]

    def links(self, tag: str, gateway_boot: int) -> list[LinkSpec]:
        """The connections the fleet publishes on; emissions name them by index."""
        state, root = self.state, self.config.topic_root
        if self.mode is ConnectionMode.GATEWAY:
            return [
                LinkSpec(
                    f"sim-{tag}-{site}",
                    f"{root}/{site}/{GATEWAY}/status",
                    messages.will(gateway_boot),
                    gateway_username(site),
                )
                for site in state.site_codes
            ]
        if self.mode is ConnectionMode.DEVICE:
            return [
                LinkSpec(
                    f"sim-{tag}-{code}",
                    self.prefix[i] + "status",
                    messages.will(state.boot[i]),
                    code,
                )
                for i, code in enumerate(state.codes)
            ]
        return [LinkSpec(f"sim-{tag}-pool{k}", None, None) for k in range(self.config.pool_size)]

    def link(self, i: int) -> int:
        return self._link_of[i]

    def message(self, at: int, i: int, kind: str, payload: bytes, *, retain: bool = False) -> None:
        """A good message created now: deliver it, maybe resend it later, maybe add a bad one."""
        counters = self.counters
        counters.messages += 1
        self.deliver(at, i, kind, payload, retain=retain, original=True)
        py = self.py
        if self._misbehaviour.duplicate_share and py.random() < self._misbehaviour.duplicate_share:
            self.schedule(at + py.randrange(200, 20_000), ev.DUPLICATE, i, (kind, payload))
        if self._misbehaviour.bad_share and py.random() < self._misbehaviour.bad_share:
            self.bad(at, i)

    def resend(self, at: int, i: int, kind: str, payload: bytes) -> None:
        """At-least-once delivery: the same bytes again."""
        self.counters.duplicates += 1
        self.ledger.duplicates[i] += 1
        self.deliver(at, i, kind, payload)

    def deliver(
        self,
        at: int,
        i: int,
        kind: str,
        payload: bytes,
        *,
        retain: bool = False,
        original: bool = False,
    ) -> None:
        buffer = self.buffers.get(i)
        if buffer is not None:
            buffer.append((kind, payload, None, original))
        else:
            self.send(at, i, kind, payload, retain)

    def send(self, at: int, i: int, kind: str, payload: bytes, retain: bool = False) -> None:
        if self.mode is not ConnectionMode.GATEWAY:
            op = OP_RETAIN if retain else OP_PUBLISH
            self.out.append((at, self._link_of[i], op, self.prefix[i] + kind, payload))
            return
        site = self.state.site_of[i]
        batch = self._batches.get(site)
        if batch is not None and self._batch_bytes[site] + len(payload) > BATCH_BYTES_LIMIT:
            self.flush(at, site)
            batch = None
        if batch is None:
            batch = self._batches[site] = []
            self._batch_bytes[site] = 2
            self.schedule(at + round(self.config.batch_window_s * 1000), ev.FLUSH, site, None)
        batch.append(payload)
        self._batch_bytes[site] += len(payload) + 1
        if len(batch) >= self.config.batch_max_items:
            self.flush(at, site)

    def flush(self, at: int, site: int) -> None:
        batch = self._batches.pop(site, None)
        if batch:
            self.out.append((at, site, OP_PUBLISH, self._batch_topic[site], messages.batch(batch)))

    def flush_all(self, at: int) -> None:
        for site in sorted(self._batches):
            self.flush(at, site)

    def link_down(self, at: int, i: int) -> None:
        """The device keeps what it creates from now on (its QoS 1 store survives reboots)."""
        self.buffers[i] = []
        if self.mode is ConnectionMode.DEVICE:
            self.out.append((at, i, OP_DROP, "", b""))

    def link_up(self, at: int, i: int) -> int:
        """Back online: reconnect, send what was held (sometimes out of order); returns how many."""
        buffered = self.buffers.pop(i)
        if self.mode is ConnectionMode.DEVICE:
            will = messages.will(self.state.boot[i])
            self.out.append((at, i, OP_RECONNECT, self.prefix[i] + "status", will))
        if len(buffered) > 1:  # only then can the order differ
            self.counters.flushes += 1
            if self.py.random() < self._misbehaviour.out_of_order_share:
                self.py.shuffle(buffered)
                self.counters.out_of_order_flushes += 1
        for kind, payload, topic, original in buffered:
            if topic is None:
                self.send(at, i, kind, payload)
                self.counters.late += original
            else:
                self.out.append((at, self.link(i), OP_PUBLISH, topic, payload))
        return len(buffered)

    def restart(self, at: int, i: int) -> None:
        """A reboot drops the connection (the broker sends the old boot's will) and reconnects."""
        if self.mode is ConnectionMode.DEVICE and i not in self.buffers:
            will = messages.will(self.state.boot[i])
            self.out.append((at, i, OP_DROP, "", b""))
            self.out.append((at, i, OP_RECONNECT, self.prefix[i] + "status", will))

    def bad(self, at: int, i: int) -> None:
        state, counters = self.state, self.counters
        nonce = counters.bad
        counters.bad += 1
        way = BAD_WAYS[nonce % len(BAD_WAYS)]
        counters.bad_by_way[way.value] = counters.bad_by_way.get(way.value, 0) + 1
        bad = make_bad(
            way,
            root=self.config.topic_root,
            site=state.site_codes[state.site_of[i]],
            code=state.codes[i],
            other_code=state.codes[(i + 1) % state.size],
            boot=state.boot[i],
            nonce=nonce,
            ms=at + state.skew_ms[i],
            ts=self.fmt,
        )
        self.ledger.bad(nonce, way.value, at, bad.topic, bad.payload)
        buffer = self.buffers.get(i)
        if buffer is not None:
            buffer.append(("", bad.payload, bad.topic, False))
        else:
            self.out.append((at, self.link(i), OP_PUBLISH, bad.topic, bad.payload))
