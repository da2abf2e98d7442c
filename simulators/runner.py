"""Run a fleet against a broker: paced in real time, at a speed factor, or as fast as it takes them.

The engine decides what happens; this module only paces, publishes and reports progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from devices.registry_rows import Registry
from simulators.city import write_city
from simulators.config import ConnectionMode, SimConfig
from simulators.delivery import OP_DROP, OP_RETAIN, Emission
from simulators.engine import Engine
from simulators.ledger import CITY_FILE, LedgerWriter
from simulators.links import Link, close_links, drain, keep_alive, open_links
from simulators.messages import datetime_of, ms_of

CHUNK_MS = 60_000  # unpaced runs advance a simulated minute at a time, to notice a stop
YIELD_EVERY = 256  # publishes between turns of the event loop (paho writes and reads there)


@dataclass(frozen=True, slots=True)
class RunOptions:
    mqtt_url: str
    mqtt5: bool = False
    realtime: bool = False  # simulated time is the wall clock (start the run at now)
    speed: float | None = None  # accelerated: simulated s per real s; None: as fast as possible
    window: int = 32  # unacknowledged QoS 1 publishes per link
    # Devices and gateways sign in with passwords derived from it (docs/broker-credentials.md);
    # the broker may refuse them for sign_in_wait_s while it loads their logins.
    broker_secret: str | None = None
    sign_in_wait_s: float = 0.0
    drain_timeout_s: float = 120.0
    # After a stop request, how long the run may still take to have what it published
    # acknowledged; then it stops waiting for the broker (gone away, perhaps) and counts the rest
    # as unacknowledged.
    stop_grace_s: float = 5.0
    # Real connection drops (with last wills) for device links; off in accelerated runs, where
    # presence is judged by arrival time and could not match simulated outages anyway.
    drop_connections: bool | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    sim_time: datetime
    messages: int
    publishes: int
    messages_per_s: float
    publishes_per_s: float
    faults_active: int
    offline_items: int
    bad: int
    lag_s: float


@dataclass(frozen=True, slots=True)
class RunResult:
    ledger_dir: Path
    messages: int
    publishes: int
    duplicates: int
    bad: int
    wall_s: float
    unacknowledged: int
    peak_rss_mb: float


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


class _Pump:
    def __init__(self, engine: Engine, links: list[Link], drops: bool) -> None:
        self.engine, self.links, self.drops = engine, links, drops
        self.publishes = 0

    async def run(self, emissions: Iterator[Emission]) -> None:
        links, count, retained = self.links, 0, OP_RETAIN
        for _, link_index, op, topic, payload in emissions:
            link = links[link_index]
            if op <= retained:
                if link.pending >= link.window:
                    await link.wait_room()
                link.publish(topic, payload, op == retained)
                count += 1
                if count % YIELD_EVERY == 0:
                    self.publishes += YIELD_EVERY
                    await asyncio.sleep(0)
            elif self.drops:
                if op == OP_DROP:
                    link.drop()
                else:
                    await link.reconnect(topic, payload)
        self.publishes += count % YIELD_EVERY


async def run_fleet(
    city: Registry,
    config: SimConfig,
    *,
    start: datetime,
    end: datetime | None,
    ledger_dir: Path,
    options: RunOptions,
    stop: asyncio.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> RunResult:
    """Simulate from `start` to `end` (None: until `stop`), publishing to options.mqtt_url.

    Accelerated runs must lie in the past: ingest refuses device time > 5 minutes ahead.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    ledger_dir.mkdir(parents=True, exist_ok=True)
    write_city(city, ledger_dir / CITY_FILE)
    ledger = LedgerWriter(ledger_dir, [e.code for e in city.equipment])
    engine = Engine(city, config, start=start, ledger=ledger)
    if options.realtime and options.speed is not None:
        raise ValueError("a real-time run has no speed: it follows the wall clock")
    speed = 1.0 if options.realtime else options.speed
    paced = speed is not None
    drops = options.drop_connections
    if drops is None:
        drops = options.realtime and config.connection is ConnectionMode.DEVICE
    tag = uuid.uuid4().hex[:8]
    links = await open_links(
        engine.links(tag),
        url=options.mqtt_url,
        mqtt5=options.mqtt5,
        window=options.window,
        stop=stop,
        broker_secret=options.broker_secret,
        sign_in_wait_s=options.sign_in_wait_s,
    )
    keeper_stop = asyncio.Event()
    keeper = asyncio.create_task(keep_alive(links, keeper_stop))
    giver_up = asyncio.create_task(_give_up_after_stop(stop, options.stop_grace_s, links))
    pump = _Pump(engine, links, drops)
    started_at, real0 = datetime.now(UTC), loop.time()
    end_ms = ms_of(end) if end is not None else None
    lag = [0.0]

    def sim_now() -> int:
        if options.realtime:  # the wall clock, as fitmon's arrival times are
            return ms_of(datetime.now(UTC))
        assert speed is not None
        return engine.start_ms + round((loop.time() - real0) * speed * 1000)

    reporter = asyncio.create_task(_report(engine, pump, lag, on_progress)) if on_progress else None
    try:
        while True:
            horizon = sim_now() if paced else engine.now - engine.now % CHUNK_MS + CHUNK_MS
            if end_ms is not None and horizon >= end_ms:
                horizon = end_ms
            if stop.is_set():
                engine.stop_at(horizon if paced else engine.now)
            await pump.run(engine.advance(horizon))
            if paced:
                lag[0] = max(0.0, (sim_now() - horizon) / 1000 / (speed or 1.0))
            if stop.is_set() or (end_ms is not None and horizon >= end_ms):
                break
            if paced:
                delay = (engine.next_time() - sim_now()) / 1000 / (speed or 1.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), min(max(delay, 0.001), 0.5))
            else:
                await asyncio.sleep(0)
        await pump.run(engine.finish())
        unacknowledged = await drain(links, options.drain_timeout_s)
    finally:
        giver_up.cancel()
        keeper_stop.set()
        await keeper
        if reporter is not None:
            reporter.cancel()
        await close_links(links)
    finished_at = datetime.now(UTC)
    engine.close_ledger(
        {
            "mode": "realtime" if options.realtime else "accelerated",
            "speed": speed,
            "connection_drops": drops,
            "real_started_at": started_at.isoformat(),
            "real_finished_at": finished_at.isoformat(),
            "unacknowledged": unacknowledged,
            "gave_up_on_broker": any(link.abandoned for link in links),
            "publishes": pump.publishes,
        }
    )
    counters = engine.counters
    return RunResult(
        ledger_dir,
        counters.messages,
        pump.publishes,
        counters.duplicates,
        counters.bad,
        loop.time() - real0,
        unacknowledged,
        peak_rss_mb(),
    )


async def _give_up_after_stop(stop: asyncio.Event, grace_s: float, links: list[Link]) -> None:
    await stop.wait()
    await asyncio.sleep(grace_s)
    for link in links:
        link.give_up()


async def _report(
    engine: Engine, pump: _Pump, lag: list[float], on_progress: Callable[[Progress], None]
) -> None:
    loop = asyncio.get_running_loop()
    last_t, last_messages, last_publishes = loop.time(), 0, 0
    while True:
        await asyncio.sleep(1.0)
        now = loop.time()
        span = max(now - last_t, 1e-6)
        messages = engine.counters.messages
        on_progress(
            Progress(
                datetime_of(engine.now),
                messages,
                pump.publishes,
                (messages - last_messages) / span,
                (pump.publishes - last_publishes) / span,
                int(engine.state.active.sum()),
                engine.offline_items,
                engine.counters.bad,
                lag[0],
            )
        )
        last_t, last_messages, last_publishes = now, messages, pump.publishes


def dry_run(
    city: Registry, config: SimConfig, *, start: datetime, end: datetime, ledger_dir: Path
) -> Engine:
    """The same simulation with no broker: the ledger, and the engine's counters to look at."""
    ledger_dir.mkdir(parents=True, exist_ok=True)
    write_city(city, ledger_dir / CITY_FILE)
    engine = Engine(
        city, config, start=start, ledger=LedgerWriter(ledger_dir, [e.code for e in city.equipment])
    )
    emissions = sum(1 for _ in engine.advance(ms_of(end)))
    emissions += sum(1 for _ in engine.finish())
    engine.close_ledger({"mode": "dry-run", "emissions": emissions})
    return engine
