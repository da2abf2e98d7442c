"""The fleet in simulated time: a discrete-event core that turns the city into v1 messages.

Deterministic: the same city, config and start give the same messages and ledger however fast
the network takes them; it never reads the clock. Messages are created (and ledgered) at their
simulated time and delivered then, or later when the device was offline.
"""

from __future__ import annotations

import itertools
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from heapq import heappop, heappush
from typing import Any

import numpy as np

from devices.catalog import FAULT_TYPES
from devices.protocol import GATEWAY, batch_topic
from devices.registry import Registry
from simulators import activity as ev
from simulators import messages
from simulators.bad import BAD_WAYS, make_bad
from simulators.config import ConnectionMode, SimConfig
from simulators.ledger import LedgerWriter
from simulators.state import build_state
from simulators.wear import FAULT_CODES, FAULT_MODELS, LOW_BATTERY, STRUCTURE_TILT

# An emission: (simulated ms, link index, op, topic, payload).
Emission = tuple[int, int, int, str, bytes]
OP_PUBLISH, OP_RETAIN, OP_DROP, OP_RECONNECT = range(4)
NEVER = 2**62
BATCH_BYTES_LIMIT = 60_000  # under PROTOCOL.md's 64 KiB per MQTT message
WARMUP_MS = 30_000  # births are spread over the first half minute
LEDGER_CLOSE_LAG_MS = 3 * ev.HOUR_MS  # > longest session + largest clock skew
FIRMWARE = "2.4.1"
_TRANSIENT = frozenset({"SENSOR_OFFLINE", "TAMPER"})
_SEVERITY = [FAULT_TYPES[code].default_severity.value for code in FAULT_CODES]


@dataclass(frozen=True, slots=True)
class LinkSpec:
    """One MQTT connection the fleet needs, with its last will (PROTOCOL.md, Transport)."""

    client_id: str
    will_topic: str | None
    will_payload: bytes | None


@dataclass(slots=True)
class Counters:
    messages: int = 0  # good v1 messages created (each counted once, however often sent)
    by_kind: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    bad: int = 0
    bad_by_way: dict[str, int] = field(default_factory=dict)
    late: int = 0  # delivered after a reconnect, behind their device time
    flushes: int = 0
    out_of_order_flushes: int = 0
    offline_periods: int = 0
    reboots: int = 0
    faults_raised: int = 0
    faults_cleared: int = 0
    unmeasured_sessions: int = 0


class Engine:
    """Create with a city, a config and a start; pull emissions with advance(), then finish()."""

    def __init__(self, city: Registry, config: SimConfig, *, start: datetime,
                 ledger: LedgerWriter) -> None:
        self.config = config
        self.start_ms = messages.ms_of(start)
        self.now = self.start_ms
        self.rng = np.random.default_rng(config.seed)
        self.py = random.Random(config.seed)
        self.state = state = build_state(city, config, self.start_ms, self.rng)
        self.ledger = ledger
        self.counters = Counters()
        self.fmt = messages.Rfc3339()
        self.mode = config.connection
        self._heartbeat_ms = config.heartbeat_s * 1000
        self._tick_ms = config.tick_s * 1000
        self._heap: list[tuple[int, int, int, int, Any]] = []
        self._order = itertools.count()
        self._out: deque[Emission] = deque()
        self._buffers: dict[int, list[tuple[str, bytes, str | None]]] = {}
        self._offline_since: dict[int, int] = {}
        self._batches: dict[int, list[bytes]] = {}
        self._batch_bytes: dict[int, int] = {}
        root = config.topic_root
        self._prefix = [f"{root}/{state.site_codes[s]}/{code}/"
                        for code, s in zip(state.codes, state.site_of, strict=True)]
        self._batch_topic = [batch_topic(site, root) for site in state.site_codes]
        n = state.size
        for i in range(n):
            self._push(self.start_ms + i * WARMUP_MS // n, ev.BIRTH, i, None)
        first = self.start_ms + WARMUP_MS
        self._next_tick = first
        self._hb_base = first - first % self._heartbeat_ms
        self._hb_j = 0
        self._hb_phase = state.heartbeat_phase
        while self._hb_base + self._hb_phase[self._hb_j] < first:
            self._next_heartbeat()
        self._ctx = ev.tick_context(state, config.seed, first)
        self._stop = NEVER

    # -- the clock ---------------------------------------------------------------------------

    def next_time(self) -> int:
        """The simulated time of the next thing that will happen."""
        top = self._heap[0][0] if self._heap else NEVER
        return min(top, self._next_tick, self._hb_base + self._hb_phase[self._hb_j])

    def advance(self, until_ms: int) -> Iterator[Emission]:
        """Everything that happens up to `until_ms`, as emissions in simulated-time order."""
        out, heap, phase, state = self._out, self._heap, self._hb_phase, self.state
        limit = min(until_ms, self._stop)
        while True:
            while out:
                yield out.popleft()
            heartbeat = self._hb_base + phase[self._hb_j]
            tick = self._next_tick
            top = heap[0][0] if heap else NEVER
            if top <= heartbeat and top <= tick:
                if top > limit:
                    break
                self.now = top
                _, _, kind, item, data = heappop(heap)
                self._handle(top, kind, item, data)
            elif heartbeat <= tick:
                if heartbeat > limit:
                    break
                self.now = heartbeat
                item = state.heartbeat_order[self._hb_j]
                self._next_heartbeat()
                self._status(heartbeat, item)
            else:
                if tick > limit:
                    break
                self.now = tick
                self._tick(tick)
        self.now = max(self.now, limit) if limit < NEVER else self.now

    def stop_at(self, ms: int) -> None:
        """Stop creating anything after `ms` (a real-time run interrupted)."""
        self._stop = min(self._stop, ms)

    def finish(self, manifest: dict[str, object]) -> Iterator[Emission]:
        """End the run at `now`: every device comes back and flushes, gateways flush, ledger closes."""
        at = self.now
        for item in sorted(self._buffers):
            self._online(at, item)
        for site in sorted(self._batches):
            self._flush(at, site)
        yield from self._out
        self._out.clear()
        state = self.state
        self.ledger.close(kinds=state.kinds, skew_ms=state.skew_ms, first_boot=state.first_boot,
                          last_boot=state.boot, manifest={**manifest, **self.describe(at)})

    def describe(self, end_ms: int) -> dict[str, object]:
        config = asdict(self.config)
        config["connection"] = self.config.connection.value
        return {
            "config": config, "items": self.state.size, "sites": len(self.state.site_codes),
            "start": messages.datetime_of(self.start_ms).isoformat(),
            "end": messages.datetime_of(end_ms).isoformat(),
            "topic_root": self.config.topic_root, "counters": asdict(self.counters),
        }

    def links(self, tag: str) -> list[LinkSpec]:
        """The connections this fleet publishes on; emissions name them by index."""
        state, root = self.state, self.config.topic_root
        if self.mode is ConnectionMode.GATEWAY:
            return [LinkSpec(f"sim-{tag}-{site}", f"{root}/{site}/{GATEWAY}/status",
                             messages.will(self.start_ms // 1000)) for site in state.site_codes]
        if self.mode is ConnectionMode.DEVICE:
            return [LinkSpec(f"sim-{tag}-{code}", self._prefix[i] + "status",
                             messages.will(state.boot[i])) for i, code in enumerate(state.codes)]
        return [LinkSpec(f"sim-{tag}-pool{k}", None, None) for k in range(self.config.pool_size)]

    def _next_heartbeat(self) -> None:
        self._hb_j += 1
        if self._hb_j == len(self._hb_phase):
            self._hb_j = 0
            self._hb_base += self._heartbeat_ms

    def _push(self, ms: int, kind: int, item: int, data: Any) -> None:
        heappush(self._heap, (ms, next(self._order), kind, item, data))

    def _tick(self, at: int) -> None:
        end = at - at % self._tick_ms + self._tick_ms
        self._next_tick = end
        self._ctx = ctx = ev.tick_context(self.state, self.config.seed, at)
        unmeasured = self.ledger.unmeasured
        before = sum(unmeasured) if False else 0
        for event in ev.draw_tick(
            self.state, ctx, self.rng, self.py, start_ms=self.start_ms, at_ms=at,
            length_ms=end - at, wear_scale=self.config.wear_scale,
            misbehaviour=self.config.misbehaviour, unmeasured=unmeasured,
        ):
            self._push(*event)
        del before
        self.ledger.close_hours_before(at - LEDGER_CLOSE_LAG_MS)

    # -- events ------------------------------------------------------------------------------

    def _handle(self, at: int, kind: int, item: int, data: Any) -> None:
        if kind == ev.SESSION:
            self._usage(at, item, data)
        elif kind == ev.FAULT:
            self._fault(at, item, *data)
        elif kind == ev.DUPLICATE:
            self.counters.duplicates += 1
            self.ledger.duplicates[item] += 1
            self._deliver(at, item, data[0], data[1])
        elif kind == ev.FLUSH:
            self._flush(at, item)
        elif kind == ev.OFFLINE:
            self._offline(at, item)
        elif kind == ev.ONLINE:
            self._online(at, item)
        elif kind == ev.REBOOT:
            self._reboot(at, item)
        else:
            self._birth(at, item)

    def _next_seq(self, item: int) -> int:
        seq = self.state.seq[item]
        self.state.seq[item] = seq + 1
        return seq

    def _birth(self, at: int, i: int) -> None:
        state = self.state
        payload = messages.birth(
            state.codes[i], state.boot[i], self._next_seq(i), self.fmt(at + state.skew_ms[i]),
            fw=FIRMWARE, model=state.models[i], kind=state.kinds[i],
            heartbeat_s=self.config.heartbeat_s)
        self.ledger.births[i] += 1
        self._message(at, i, "birth", payload)

    def _status(self, at: int, i: int) -> None:
        state = self.state
        if state.offline[i]:  # no heartbeats while the link is down; nothing to catch up on
            return
        payload = messages.status(
            state.codes[i], state.boot[i], self._next_seq(i), self.fmt(at + state.skew_ms[i]),
            battery_pct=round(float(state.battery[i]), 1),
            rssi_dbm=float(state.rssi[i]) + self.py.randrange(-3, 4),
            temp_c=round(self._ctx.temperature[state.district_of[i]] + state.temp_offset[i], 1),
            tilt_deg=round(float(state.tilt[i]), 1))
        self.ledger.statuses[i] += 1
        self._message(at, i, "status", payload, retain=self.mode is ConnectionMode.DEVICE)

    def _usage(self, at: int, i: int, data: tuple[Any, ...]) -> None:
        state = self.state
        start, duration, reps, energy, cadence, load = data
        skew = state.skew_ms[i]
        payload = messages.usage(
            state.codes[i], state.boot[i], self._next_seq(i), self.fmt(at + skew),
            started_at=self.fmt(start + skew), duration_s=duration, reps=reps, energy_wh=energy,
            avg_cadence_rpm=cadence, max_load_kg=load)
        self.ledger.usage(i, start + skew, duration, reps, energy or 0.0)
        if energy:  # a generating bike charges its own battery
            state.battery[i] = min(100.0, float(state.battery[i]) + energy * 0.5)
        self._message(at, i, "usage", payload)

    def _fault(self, at: int, i: int, fault: int, raised: bool) -> None:
        state, code = self.state, FAULT_CODES[fault]
        if raised:
            self.counters.faults_raised += 1
            detail = FAULT_TYPES[code].description
            if fault == STRUCTURE_TILT:
                state.tilt[i] = round(self.py.uniform(5.0, 25.0), 1)
                detail = f"frame tilted {state.tilt[i]:.1f} degrees"
            elif fault == LOW_BATTERY:
                detail = f"battery at {state.battery[i]:.0f}%"
        else:
            self.counters.faults_cleared += 1
            state.active[fault, i] = False
            detail = "recovered by itself" if code in _TRANSIENT else "repaired on site"
            if fault == STRUCTURE_TILT:
                state.tilt[i] = state.tilt_base[i]
            elif fault == LOW_BATTERY:
                state.battery[i] = 100.0
                detail = "battery replaced"
        seq, ts, state_text = self._next_seq(i), self.fmt(at + state.skew_ms[i]), (
            "raised" if raised else "cleared")
        payload = messages.fault(state.codes[i], state.boot[i], seq, ts, fault_code=code,
                                 severity=_SEVERITY[fault], state=state_text, detail=detail)
        self.ledger.fault(i, state.boot[i], seq, ts, code, _SEVERITY[fault], state_text, detail)
        self._message(at, i, "fault", payload)

    def _offline(self, at: int, i: int) -> None:
        self.state.offline[i] = True
        self._buffers[i] = []
        self._offline_since[i] = at
        self.counters.offline_periods += 1
        if self.mode is ConnectionMode.DEVICE:
            self._out.append((at, i, OP_DROP, "", b""))

    def _online(self, at: int, i: int) -> None:
        state = self.state
        state.offline[i] = False
        state.link_down[i] = False
        buffered = self._buffers.pop(i)
        if self.mode is ConnectionMode.DEVICE:
            self._out.append((at, i, OP_RECONNECT, self._prefix[i] + "status",
                              messages.will(state.boot[i])))
        if buffered:
            self.counters.flushes += 1
            if len(buffered) > 1 and self.py.random() < self.config.misbehaviour.out_of_order_share:
                self.py.shuffle(buffered)
                self.counters.out_of_order_flushes += 1
        for kind, payload, topic in buffered:
            if topic is None:
                self._send(at, i, kind, payload)
            else:
                self._out.append((at, self._link(i), OP_PUBLISH, topic, payload))
        self.counters.late += len(buffered)
        self.ledger.offline(i, self._offline_since.pop(i), at, len(buffered))
        self._status(at, i)  # back: say so at once

    def _reboot(self, at: int, i: int) -> None:
        state = self.state
        state.boot[i] += 1
        state.seq[i] = 0
        self.counters.reboots += 1
        if self.mode is ConnectionMode.DEVICE and not state.offline[i]:
            self._out.append((at, i, OP_DROP, "", b""))
            self._out.append((at, i, OP_RECONNECT, self._prefix[i] + "status",
                              messages.will(state.boot[i])))
        self._birth(at, i)

    # -- delivery ----------------------------------------------------------------------------

    def _message(self, at: int, i: int, kind: str, payload: bytes, *, retain: bool = False) -> None:
        counters = self.counters
        counters.messages += 1
        counters.by_kind[kind] = counters.by_kind.get(kind, 0) + 1
        self._deliver(at, i, kind, payload, retain=retain)
        misbehaviour, py = self.config.misbehaviour, self.py
        if misbehaviour.duplicate_share and py.random() < misbehaviour.duplicate_share:
            self._push(at + py.randrange(200, 20_000), ev.DUPLICATE, i, (kind, payload))
        if misbehaviour.bad_share and py.random() < misbehaviour.bad_share:
            self._bad(at, i)

    def _deliver(self, at: int, i: int, kind: str, payload: bytes, *, retain: bool = False) -> None:
        buffer = self._buffers.get(i)
        if buffer is not None:
            buffer.append((kind, payload, None))
        else:
            self._send(at, i, kind, payload, retain)

    def _link(self, i: int) -> int:
        if self.mode is ConnectionMode.GATEWAY:
            return self.state.site_of[i]
        return i if self.mode is ConnectionMode.DEVICE else i % self.config.pool_size

    def _send(self, at: int, i: int, kind: str, payload: bytes, retain: bool = False) -> None:
        if self.mode is not ConnectionMode.GATEWAY:
            self._out.append((at, self._link(i), OP_RETAIN if retain else OP_PUBLISH,
                              self._prefix[i] + kind, payload))
            return
        site = self.state.site_of[i]
        batch = self._batches.get(site)
        if batch is not None and self._batch_bytes[site] + len(payload) > BATCH_BYTES_LIMIT:
            self._flush(at, site)
            batch = None
        if batch is None:
            batch = self._batches[site] = []
            self._batch_bytes[site] = 2
            self._push(at + round(self.config.batch_window_s * 1000), ev.FLUSH, site, None)
        batch.append(payload)
        self._batch_bytes[site] += len(payload) + 1
        if len(batch) >= self.config.batch_max_items:
            self._flush(at, site)

    def _flush(self, at: int, site: int) -> None:
        batch = self._batches.pop(site, None)
        if batch:
            self._out.append((at, site, OP_PUBLISH, self._batch_topic[site], messages.batch(batch)))

    def _bad(self, at: int, i: int) -> None:
        state, counters = self.state, self.counters
        nonce = counters.bad
        counters.bad += 1
        way = BAD_WAYS[nonce % len(BAD_WAYS)]
        counters.bad_by_way[way.value] = counters.bad_by_way.get(way.value, 0) + 1
        bad = make_bad(way, root=self.config.topic_root, site=state.site_codes[state.site_of[i]],
                       code=state.codes[i], other_code=state.codes[(i + 1) % state.size],
                       boot=state.boot[i], nonce=nonce, ms=at + state.skew_ms[i], ts=self.fmt)
        self.ledger.bad(nonce, way.value, at, bad.topic, bad.payload)
        buffer = self._buffers.get(i)
        if buffer is not None:
            buffer.append(("", bad.payload, bad.topic))
        else:
            self._out.append((at, self._link(i), OP_PUBLISH, bad.topic, bad.payload))
