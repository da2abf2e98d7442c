"""What happens to the fleet in one tick, drawn for all items at once: sessions, faults, outages.

Returns events for the engine's heap; the engine turns them into messages when their time comes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt

from simulators.config import Misbehaviour
from simulators.messages import datetime_of
from simulators.rhythm import CHINA_TZ, use_factor, weather
from simulators.state import FleetState
from simulators.usage import HAS_CADENCE, HAS_ENERGY, HAS_LOAD, draw_sessions
from simulators.wear import (
    BATTERY_PER_SESSION_PCT,
    BATTERY_REPLACED_AFTER_H,
    FAULT_MODELS,
    LOW_BATTERY,
    LOW_BATTERY_PCT,
    SENSOR_OFFLINE,
    hazards,
)

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
YEAR_MS = int(365.25 * DAY_MS)
SESSION_GAP_MS = 5_000  # the next person steps on after the last one steps off

# Event kinds on the engine's heap.
SESSION, FAULT, OFFLINE, ONLINE, REBOOT, DUPLICATE, FLUSH, BIRTH = range(8)
Event = tuple[int, int, int, Any]  # (ms, kind, item or site, data)


@dataclass(slots=True)
class TickContext:
    """The conditions of one tick: local day and hour, use and temperature per district."""

    day: date
    hour: int
    use: npt.NDArray[np.float64]
    temperature: list[float]


def tick_context(state: FleetState, seed: int, at_ms: int) -> TickContext:
    local = datetime_of(at_ms).astimezone(CHINA_TZ)
    day, hour = local.date(), local.hour
    use = np.array([use_factor(seed, d, day, hour) for d in state.divisions])
    temperature = [weather(seed, d, day).temperature_at(hour) for d in state.divisions]
    return TickContext(day, hour, use, temperature)


def draw_tick(
    state: FleetState,
    ctx: TickContext,
    rng: np.random.Generator,
    py: random.Random,
    *,
    start_ms: int,
    at_ms: int,
    length_ms: int,
    wear_scale: float,
    misbehaviour: Misbehaviour,
    unmeasured: list[int],
) -> list[Event]:
    """All that starts in [at_ms, at_ms + length_ms): sessions, fault raises, outages, reboots."""
    events: list[Event] = []
    hours = length_ms / HOUR_MS
    n = state.size
    multiplier = np.ones(n)
    for f, model in enumerate(FAULT_MODELS):
        if model.usage_while_active != 1.0:
            multiplier[state.active[f]] *= model.usage_while_active
    expected = state.daily / 24.0 * ctx.use[state.district_of] * multiplier * hours
    counts = rng.poisson(expected)
    _sessions(state, rng, counts, at_ms, length_ms, events, unmeasured)
    state.cumulative_use += counts
    state.battery -= state.drain_per_h * hours + counts * BATTERY_PER_SESSION_PCT
    np.clip(state.battery, 1.0, 100.0, out=state.battery)

    age = state.age0_years + (at_ms - start_ms) / YEAR_MS
    night = ctx.hour >= 22 or ctx.hour < 5
    for f, model in enumerate(FAULT_MODELS):
        chance = (
            hazards(
                model,
                age,
                state.life_years,
                state.cumulative_use,
                state.applies[f],
                night,
                wear_scale,
            )
            * hours
        )
        hits = np.flatnonzero((rng.random(n) < chance) & ~state.active[f])
        for i in hits.tolist():
            _raise(state, py, events, f, i, at_ms, length_ms, model.clear_after_h)
    low = np.flatnonzero((state.battery < LOW_BATTERY_PCT) & ~state.active[LOW_BATTERY])
    for i in low.tolist():
        _raise(state, py, events, LOW_BATTERY, i, at_ms, length_ms, BATTERY_REPLACED_AFTER_H)
    _outages(state, rng, py, misbehaviour, at_ms, length_ms, events)
    return events


def _sessions(
    state: FleetState,
    rng: np.random.Generator,
    counts: npt.NDArray[np.int64],
    at_ms: int,
    length_ms: int,
    events: list[Event],
    unmeasured: list[int],
) -> None:
    owners = np.repeat(np.arange(state.size), counts)
    m = len(owners)
    if m == 0:
        return
    drawn = draw_sessions(rng, state.kind_index[owners])
    offsets = rng.integers(0, length_ms, m)
    offsets = offsets[np.lexsort((offsets, owners))]  # ascending within each item's group
    sensor_down = state.active[SENSOR_OFFLINE]
    busy, kinds = state.busy_until, state.kind_index
    for j, (i, offset) in enumerate(zip(owners.tolist(), offsets.tolist(), strict=True)):
        start = max(at_ms + offset, busy[i])
        duration = drawn.duration_s[j]
        end = start + round(duration * 1000)
        busy[i] = end + SESSION_GAP_MS
        if sensor_down[i]:  # people used it, but nothing measured the session
            unmeasured[i] += 1
            continue
        k = int(kinds[i])
        events.append(
            (
                end,
                SESSION,
                i,
                (
                    start,
                    duration,
                    drawn.reps[j],
                    drawn.energy_wh[j] if HAS_ENERGY[k] else None,
                    drawn.cadence_rpm[j] if HAS_CADENCE[k] else None,
                    drawn.load_kg[j] if HAS_LOAD[k] else None,
                ),
            )
        )


def _raise(
    state: FleetState,
    py: random.Random,
    events: list[Event],
    fault: int,
    item: int,
    at_ms: int,
    length_ms: int,
    clear_after_h: tuple[float, float],
) -> None:
    state.active[fault, item] = True
    raised = at_ms + py.randrange(length_ms)
    events.append((raised, FAULT, item, (fault, True)))
    events.append(
        (raised + round(py.uniform(*clear_after_h) * HOUR_MS), FAULT, item, (fault, False))
    )


def _outages(
    state: FleetState,
    rng: np.random.Generator,
    py: random.Random,
    misbehaviour: Misbehaviour,
    at_ms: int,
    length_ms: int,
    events: list[Event],
) -> None:
    n = state.size
    day_share = length_ms / DAY_MS
    if misbehaviour.offline_per_day > 0:
        chance = misbehaviour.offline_per_day * day_share
        hits = np.flatnonzero((rng.random(n) < chance) & ~state.link_down)
        lengths = np.clip(
            rng.lognormal(np.log(misbehaviour.offline_median_s), 1.0, len(hits)), 1.0, 12 * 3600.0
        )
        for i, seconds in zip(hits.tolist(), lengths.tolist(), strict=True):
            state.link_down[i] = True
            down = at_ms + py.randrange(length_ms)
            events.append((down, OFFLINE, i, None))
            events.append((down + round(seconds * 1000), ONLINE, i, None))
    if misbehaviour.reboot_per_day > 0:
        hits = np.flatnonzero(rng.random(n) < misbehaviour.reboot_per_day * day_share)
        for i in hits.tolist():
            events.append((at_ms + py.randrange(length_ms), REBOOT, i, None))
