"""The fleet in simulated time: a discrete-event core that turns the city into v1 messages.

It never reads the clock, so the same city, config and start give the same messages and ledger
however fast the network takes them; a message is ledgered when made, sent then or after an outage.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from heapq import heappop, heappush
from typing import Any

import numpy as np

from devices.catalog import FAULT_TYPES
from devices.registry_rows import Registry
from simulators import activity as ev
from simulators import messages
from simulators.config import ConnectionMode, SimConfig
from simulators.delivery import Counters, Delivery, Emission, LinkSpec
from simulators.ledger import LedgerWriter
from simulators.state import build_state
from simulators.wear import FAULT_CODES, LOW_BATTERY, STRUCTURE_TILT

NEVER = 2**62
WARMUP_MS = 30_000  # births are spread over the first half minute (half a heartbeat at most)
LEDGER_CLOSE_LAG_MS = 3 * ev.HOUR_MS  # > longest session + largest clock skew
FIRMWARE = "2.4.1"
_TRANSIENT = frozenset({"SENSOR_OFFLINE", "TAMPER"})
_SEVERITY = [FAULT_TYPES[code].default_severity.value for code in FAULT_CODES]


class Engine:
    """Create with a city, a config and a start; pull emissions with advance(), then finish()."""

    def __init__(
        self, city: Registry, config: SimConfig, *, start: datetime, ledger: LedgerWriter
    ) -> None:
        self.config = config
        self.start_ms = messages.ms_of(start)
        self.now = self.start_ms
        self.rng = np.random.default_rng(config.seed)
        self.py = random.Random(config.seed)
        self.state = state = build_state(city, config, self.start_ms, self.rng)
        self.ledger = ledger
        self.counters = Counters()
        self.fmt = messages.Rfc3339()
        self.net = Delivery(config, state, ledger, self.counters, self._push, self.fmt, self.py)
        self._retain_status = config.connection is ConnectionMode.DEVICE
        self._heartbeat_ms = config.heartbeat_s * 1000
        self._tick_ms = config.tick_s * 1000
        self._heap: list[tuple[int, int, int, int, Any]] = []
        self._order = itertools.count()
        self._offline_since: dict[int, int] = {}
        n = state.size
        warmup = min(WARMUP_MS, self._heartbeat_ms // 2)
        for i in range(n):
            self._push(self.start_ms + i * warmup // n, ev.BIRTH, i, None)
        first = self.start_ms + warmup
        self._next_tick = first
        self._hb_base = first - first % self._heartbeat_ms
        self._hb_j = 0
        self._hb_phase = state.heartbeat_phase
        while self._hb_base + self._hb_phase[self._hb_j] < first:
            self._next_heartbeat()
        # What heartbeats report, as plain lists: refreshed each tick, patched on events.
        self._rssi: list[float] = state.rssi.tolist()
        self._tilt: list[float] = np.round(state.tilt, 1).tolist()
        self._battery: list[float] = []
        self._temperature: list[float] = []
        self._refresh_readings(ev.tick_context(state, config.seed, first))
        self._stop = NEVER

    # -- the clock ---------------------------------------------------------------------------

    def next_time(self) -> int:
        """The simulated time of the next thing that will happen."""
        top = self._heap[0][0] if self._heap else NEVER
        return min(top, self._next_tick, self._hb_base + self._hb_phase[self._hb_j])

    def advance(self, until_ms: int) -> Iterator[Emission]:
        """Everything that happens up to `until_ms`, as emissions in simulated-time order."""
        out, heap, phase = self.net.out, self._heap, self._hb_phase
        while True:
            while out:
                yield out.popleft()
            limit = min(until_ms, self._stop)
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
                self._heartbeats(min(limit, tick))
            else:
                if tick > limit:
                    break
                self.now = tick
                self._tick(tick)
        self.now = max(self.now, limit)

    def stop_at(self, ms: int) -> None:
        """Create nothing after `ms` (a real-time run interrupted)."""
        self._stop = min(self._stop, ms)

    def finish(self) -> Iterator[Emission]:
        """End the run at `now`: every device comes back and flushes its buffer, gateways flush."""
        at = self.now
        for item in sorted(self.net.buffers):
            self._online(at, item)
        self.net.flush_all(at)
        yield from self.net.out
        self.net.out.clear()
        self._stop = at

    def close_ledger(self, manifest: dict[str, object]) -> None:
        state, ledger, counters = self.state, self.ledger, self.counters
        counters.unmeasured_sessions = sum(ledger.unmeasured)
        counters.by_kind = {
            "birth": sum(ledger.births),
            "status": sum(ledger.statuses),
            "usage": sum(ledger.usages),
            "fault": sum(ledger.faults),
        }
        ledger.close(
            kinds=state.kinds,
            skew_ms=state.skew_ms,
            first_boot=state.first_boot,
            last_boot=state.boot,
            manifest={**manifest, **self.describe(self.now)},
        )

    @property
    def offline_items(self) -> int:
        return len(self.net.buffers)

    def describe(self, end_ms: int) -> dict[str, object]:
        config = asdict(self.config)
        config["connection"] = self.config.connection.value
        return {
            "config": config,
            "items": self.state.size,
            "sites": len(self.state.site_codes),
            "start": messages.datetime_of(self.start_ms).isoformat(),
            "end": messages.datetime_of(end_ms).isoformat(),
            "topic_root": self.config.topic_root,
            "counters": asdict(self.counters),
        }

    def links(self, tag: str) -> list[LinkSpec]:
        return self.net.links(tag, gateway_boot=self.start_ms // 1000)

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
        ctx = ev.tick_context(self.state, self.config.seed, at)
        events = ev.draw_tick(
            self.state,
            ctx,
            self.rng,
            self.py,
            start_ms=self.start_ms,
            at_ms=at,
            length_ms=end - at,
            wear_scale=self.config.wear_scale,
            misbehaviour=self.config.misbehaviour,
            unmeasured=self.ledger.unmeasured,
        )
        for event in events:
            self._push(*event)
        self.ledger.close_hours_before(at - LEDGER_CLOSE_LAG_MS)
        self._refresh_readings(ctx)

    def _refresh_readings(self, ctx: ev.TickContext) -> None:
        state = self.state
        self._battery = np.round(state.battery, 1).tolist()
        temperature = np.array(ctx.temperature)[state.district_of] + state.temp_offset
        self._temperature = np.round(temperature, 1).tolist()

    # -- events ------------------------------------------------------------------------------

    def _handle(self, at: int, kind: int, item: int, data: Any) -> None:
        if kind == ev.SESSION:
            self._usage(at, item, data)
        elif kind == ev.FAULT:
            self._fault(at, item, *data)
        elif kind == ev.DUPLICATE:
            self.net.resend(at, item, *data)
        elif kind == ev.FLUSH:
            self.net.flush(at, item)
        elif kind == ev.OFFLINE:
            self.counters.offline_periods += 1
            self.state.offline[item] = True
            self._offline_since[item] = at
            self.net.link_down(at, item)
        elif kind == ev.ONLINE:
            self._online(at, item)
        elif kind == ev.REBOOT:
            self.state.boot[item] += 1
            self.state.seq[item] = 0
            self.counters.reboots += 1
            self.net.restart(at, item)
            self._birth(at, item)
        else:
            self._birth(at, item)

    def _next_seq(self, item: int) -> int:
        seq = self.state.seq[item]
        self.state.seq[item] = seq + 1
        return seq

    def _birth(self, at: int, i: int) -> None:
        state = self.state
        payload = messages.birth(
            state.codes[i],
            state.boot[i],
            self._next_seq(i),
            self.fmt(at + state.skew_ms[i]),
            fw=FIRMWARE,
            model=state.models[i],
            kind=state.kinds[i],
            heartbeat_s=self.config.heartbeat_s,
        )
        self.ledger.births[i] += 1
        self.net.message(at, i, "birth", payload)

    def _heartbeats(self, until: int) -> None:
        """Heartbeats due up to `until` and before any other event: most of the traffic, so one
        tight loop (the same messages, in the same order, as _status one at a time)."""
        state, heap, out = self.state, self._heap, self.net.out
        order, phase, period, n = (
            state.heartbeat_order,
            self._hb_phase,
            self._heartbeat_ms,
            len(self._hb_phase),
        )
        offline, codes, boot, seq, skew = (
            state.offline,
            state.codes,
            state.boot,
            state.seq,
            state.skew_ms,
        )
        battery, rssi, temperature, tilt = self._battery, self._rssi, self._temperature, self._tilt
        fmt, status, statuses, message = (
            self.fmt,
            messages.status,
            self.ledger.statuses,
            self.net.message,
        )
        random, retain = self.py.random, self._retain_status
        j, base = self._hb_j, self._hb_base
        at = base + phase[j]
        while at <= until and (not heap or at < heap[0][0]) and len(out) < 256:
            i = order[j]
            j += 1
            if j == n:
                j, base = 0, base + period
            if not offline[i]:
                number = seq[i]
                seq[i] = number + 1
                payload = status(
                    codes[i],
                    boot[i],
                    number,
                    fmt(at + skew[i]),
                    battery_pct=battery[i],
                    rssi_dbm=rssi[i] + int(random() * 7) - 3,
                    temp_c=temperature[i],
                    tilt_deg=tilt[i],
                )
                statuses[i] += 1
                message(at, i, "status", payload, retain=retain)
            self.now = at
            at = base + phase[j]
        self._hb_j, self._hb_base = j, base

    def _status(self, at: int, i: int) -> None:
        state = self.state
        if state.offline[i]:  # no heartbeats while the link is down; nothing to catch up on
            return
        payload = messages.status(
            state.codes[i],
            state.boot[i],
            self._next_seq(i),
            self.fmt(at + state.skew_ms[i]),
            battery_pct=self._battery[i],
            rssi_dbm=self._rssi[i] + int(self.py.random() * 7) - 3,
            temp_c=self._temperature[i],
            tilt_deg=self._tilt[i],
        )
        self.ledger.statuses[i] += 1
        self.net.message(at, i, "status", payload, retain=self._retain_status)

    def _usage(self, at: int, i: int, data: tuple[Any, ...]) -> None:
        state = self.state
        start, duration, reps, energy, cadence, load = data
        skew = state.skew_ms[i]
        payload = messages.usage(
            state.codes[i],
            state.boot[i],
            self._next_seq(i),
            self.fmt(at + skew),
            started_at=self.fmt(start + skew),
            duration_s=duration,
            reps=reps,
            energy_wh=energy,
            avg_cadence_rpm=cadence,
            max_load_kg=load,
        )
        self.ledger.usage(i, start + skew, duration, reps, energy or 0.0)
        if energy:  # a generating bike charges its own battery
            state.battery[i] = min(100.0, float(state.battery[i]) + energy * 0.5)
            self._battery[i] = round(float(state.battery[i]), 1)
        self.net.message(at, i, "usage", payload)

    def _fault(self, at: int, i: int, fault: int, raised: bool) -> None:
        state, code = self.state, FAULT_CODES[fault]
        if raised:
            self.counters.faults_raised += 1
            detail = FAULT_TYPES[code].description
            if fault == STRUCTURE_TILT:
                state.tilt[i] = self._tilt[i] = round(self.py.uniform(5.0, 25.0), 1)
                detail = f"frame tilted {state.tilt[i]:.1f} degrees"
            elif fault == LOW_BATTERY:
                detail = f"battery at {state.battery[i]:.0f}%"
        else:
            self.counters.faults_cleared += 1
            state.active[fault, i] = False
            detail = "recovered by itself" if code in _TRANSIENT else "repaired on site"
            if fault == STRUCTURE_TILT:
                state.tilt[i] = state.tilt_base[i]
                self._tilt[i] = round(float(state.tilt_base[i]), 1)
            elif fault == LOW_BATTERY:
                state.battery[i] = self._battery[i] = 100.0
                detail = "battery replaced"
        seq, ts = self._next_seq(i), self.fmt(at + state.skew_ms[i])
        state_text = "raised" if raised else "cleared"
        payload = messages.fault(
            state.codes[i],
            state.boot[i],
            seq,
            ts,
            fault_code=code,
            severity=_SEVERITY[fault],
            state=state_text,
            detail=detail,
        )
        self.ledger.fault(i, state.boot[i], seq, ts, code, _SEVERITY[fault], state_text, detail)
        self.net.message(at, i, "fault", payload)

    def _online(self, at: int, i: int) -> None:
        self.state.offline[i] = False
        self.state.link_down[i] = False
        buffered = self.net.link_up(at, i)
        self.ledger.offline(i, self._offline_since.pop(i), at, buffered)
        self._status(at, i)  # back: say so at once
