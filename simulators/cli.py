"""`fitmon simulate`: generate a city, and run it against a broker with a ledger of the truth."""

from __future__ import annotations

import asyncio
import errno
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from devices.registry_rows import Registry
from simulators.city import generate_city, load_city, write_city
from simulators.config import PRESETS, CityShape, ConnectionMode, Misbehaviour, SimConfig
from simulators.runner import Progress, RunOptions, RunResult, run_fleet
from simulators.runner import dry_run as run_without_broker
from simulators.settings import SimulatorSettings

_preset = click.option(
    "--preset",
    type=click.Choice(sorted(PRESETS)),
    default="small",
    show_default=True,
    help="small: 240 items; city: 4,800; stress: 100,000",
)
_seed = click.option("--seed", type=int, default=1, show_default=True, help="same seed, same run")
_districts = click.option(
    "--districts", help="comma-separated 6-digit administrative codes (default: the preset's)"
)
_sites = click.option("--sites-per-district", type=int, help="default: the preset's")
_items = click.option("--items-per-site", type=int, help="default: the preset's")


def _shape(preset: str, districts: str | None, sites: int | None, items: int | None) -> CityShape:
    base = PRESETS[preset].city
    return CityShape(
        tuple(d.strip() for d in districts.split(",")) if districts else base.districts,
        sites or base.sites_per_district,
        items or base.items_per_site,
    )


@click.group("simulate")
def simulate() -> None:
    """A simulated city of fitness equipment speaking protocol v1, and the ledger of what it did."""


@simulate.command("city")
@_preset
@_seed
@_districts
@_sites
@_items
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="the registry import file to write",
)
def city_command(
    preset: str,
    seed: int,
    districts: str | None,
    sites_per_district: int | None,
    items_per_site: int | None,
    out: Path,
) -> None:
    """Generate a city and write it as a registry import file (`fitmon registry import OUT`)."""
    shape = _shape(preset, districts, sites_per_district, items_per_site)
    registry = generate_city(shape, seed=seed, today=datetime.now(UTC).date())
    write_city(registry, out)
    _say(
        f"{len(registry.equipment)} items at {len(registry.sites)} sites written to {out}; "
        f"load them with: fitmon registry import {out}"
    )


@simulate.command("run")
@_preset
@_seed
@_districts
@_sites
@_items
@click.option(
    "--city",
    "city_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="a registry import file to simulate instead of generating one",
)
@click.option(
    "--ledger",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="directory for the ledger (the ground truth `fitmon verify` reads)",
)
@click.option(
    "--mqtt-url",
    "--broker",
    "mqtt_url",
    help="the broker (default: $FITMON_MQTT_URL, else mqtt://127.0.0.1:1883)",
)
@click.option(
    "--mqtt-protocol", type=click.Choice(["5", "3.1.1"]), default="3.1.1", show_default=True
)
@click.option("--topic-root", help="default: $FITMON_TOPIC_ROOT, else the preset's (fitness/v1)")
@click.option("--realtime", is_flag=True, help="run on the wall clock instead of replaying")
@click.option("--duration", type=float, help="real-time: stop after this many seconds")
@click.option(
    "--days",
    type=float,
    default=1.0,
    show_default=True,
    help="accelerated: replay the last DAYS days, ending now",
)
@click.option("--end", "end_text", help="accelerated: end of the replay (ISO 8601, default now)")
@click.option(
    "--speed",
    type=float,
    help="accelerated: simulated seconds per real second (default: as fast as it goes)",
)
@click.option(
    "--connection",
    type=click.Choice([m.value for m in ConnectionMode]),
    help="gateway: one connection per site; device: one per item; pool: --pool-size",
)
@click.option("--pool-size", type=int)
@click.option("--heartbeat-s", type=int)
@click.option("--offline-per-day", type=float)
@click.option("--reboot-per-day", type=float)
@click.option("--duplicate-share", type=float)
@click.option("--skewed-share", type=float)
@click.option("--out-of-order-share", type=float)
@click.option("--bad-share", type=float)
@click.option(
    "--window",
    type=int,
    default=32,
    show_default=True,
    help="unacknowledged QoS 1 publishes per connection",
)
@click.option(
    "--sign-in-wait",
    "sign_in_wait_s",
    type=click.FloatRange(min=0),
    default=0.0,
    help="seconds refused sign-ins keep retrying (a broker loading new logins) before failing",
)
@click.option(
    "--progress/--no-progress",
    " /--quiet",
    default=True,
    show_default=True,
    help="the live line: simulated time, msg/s, faults, offline devices, bad messages, lag",
)
@click.option("--dry-run", is_flag=True, help="no broker: only write the ledger")
def run_command(
    preset: str,
    seed: int,
    districts: str | None,
    sites_per_district: int | None,
    items_per_site: int | None,
    city_file: Path | None,
    ledger: Path,
    mqtt_url: str | None,
    mqtt_protocol: str,
    topic_root: str | None,
    realtime: bool,
    duration: float | None,
    days: float,
    end_text: str | None,
    speed: float | None,
    connection: str | None,
    pool_size: int | None,
    heartbeat_s: int | None,
    window: int,
    sign_in_wait_s: float,
    progress: bool,
    dry_run: bool,
    **rates: float | None,
) -> None:
    """Run the fleet: accelerated replay of the past (default) or real time (--realtime)."""
    given: dict[str, Any] = {"mqtt_url": mqtt_url, "topic_root": topic_root}
    settings = SimulatorSettings(**{name: value for name, value in given.items() if value})
    now = datetime.now(UTC)
    if realtime:
        start, end = now.replace(microsecond=0), None
        if duration is not None:
            end = start + timedelta(seconds=duration)
        if speed is not None:
            raise click.UsageError("--speed applies to accelerated runs only")
    else:
        end = datetime.fromisoformat(end_text) if end_text else now.replace(second=0, microsecond=0)
        if end.tzinfo is None:
            raise click.UsageError(f"--end needs a time zone offset, got {end_text!r}")
        if end > now:  # ingest refuses device time more than 5 minutes ahead (docs/protocol.md)
            raise click.UsageError(f"an accelerated run must end in the past, not at {end_text}")
        start = end - timedelta(days=days)
    try:
        config = _config(
            PRESETS[preset].config,
            seed=seed,
            connection=connection,
            pool_size=pool_size,
            heartbeat_s=heartbeat_s,
            topic_root=settings.topic_root,
            rates=rates,
        )
        if city_file is not None:
            city = load_city(city_file)
        else:
            shape = _shape(preset, districts, sites_per_district, items_per_site)
            city = generate_city(shape, seed=seed, today=now.date())
    except ValueError as exc:  # a bad rate or shape, or a registry file with bad rows
        raise click.UsageError(str(exc)) from None
    _say(
        f"{len(city.equipment)} items at {len(city.sites)} sites, {config.connection} "
        f"connections, from {start.isoformat()} to "
        f"{end.isoformat() if end else 'interrupted'}; ledger in {ledger}",
        err=True,
    )
    if dry_run:
        if end is None:
            raise click.UsageError("a dry run needs an end: --duration or an accelerated run")
        engine = run_without_broker(city, config, start=start, end=end, ledger_dir=ledger)
        _say(f"{engine.counters.messages} messages simulated", err=True)
        return
    options = RunOptions(
        mqtt_url=settings.mqtt_url,
        mqtt5=mqtt_protocol == "5",
        realtime=realtime,
        speed=speed,
        window=window,
        broker_secret=(
            settings.broker_secret.get_secret_value() if settings.broker_secret else None
        ),
        sign_in_wait_s=sign_in_wait_s,
    )
    result = asyncio.run(_run(city, config, start, end, ledger, options, progress))
    _say(
        f"\n{result.messages} messages in {result.publishes} publishes "
        f"({result.duplicates} resent, {result.bad} bad) in {result.wall_s:.1f} s, "
        f"{result.messages / max(result.wall_s, 1e-9):.0f} msg/s; peak memory "
        f"{result.peak_rss_mb:.0f} MB; unacknowledged {result.unacknowledged}. "
        f"Check it with: fitmon verify {ledger}",
        err=True,
    )
    if result.unacknowledged:
        raise SystemExit(1)


def _config(
    base: SimConfig,
    *,
    seed: int,
    connection: str | None,
    pool_size: int | None,
    heartbeat_s: int | None,
    topic_root: str | None,
    rates: dict[str, float | None],
) -> SimConfig:
    changed = {name: value for name, value in rates.items() if value is not None}
    misbehaviour: Misbehaviour = replace(base.misbehaviour, **changed)
    return replace(
        base,
        seed=seed,
        misbehaviour=misbehaviour,
        connection=ConnectionMode(connection) if connection else base.connection,
        pool_size=pool_size or base.pool_size,
        heartbeat_s=heartbeat_s or base.heartbeat_s,
        topic_root=topic_root or base.topic_root,
    )


async def _run(
    city: Registry,
    config: SimConfig,
    start: datetime,
    end: datetime | None,
    ledger: Path,
    options: RunOptions,
    progress: bool,
) -> RunResult:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return await run_fleet(
        city,
        config,
        start=start,
        end=end,
        ledger_dir=ledger,
        options=options,
        stop=stop,
        on_progress=_display() if progress else None,
    )


def _say(message: str, *, err: bool = False, nl: bool = True) -> None:
    """click.echo, except that output whose reader has gone (EPIPE) is dropped: the run goes on
    to its end or its stop, and closes its connections and its ledger."""
    try:
        click.echo(message, err=err, nl=nl)
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise


def _display() -> Callable[[Progress], None]:
    """One live line on a terminal; a line every ten seconds into a log."""
    last = [0.0]

    def show(p: Progress) -> None:
        line = (
            f"sim {p.sim_time:%Y-%m-%d %H:%M} UTC | {p.messages_per_s:>8,.0f} msg/s | "
            f"{p.publishes_per_s:>7,.0f} pub/s | {p.messages:>11,} msgs | faults "
            f"{p.faults_active} | offline {p.offline_items} | bad {p.bad} | lag {p.lag_s:.1f} s"
        )
        if sys.stderr.isatty():
            _say("\r" + line, err=True, nl=False)
        elif time.monotonic() - last[0] >= 10:
            last[0] = time.monotonic()
            _say(line, err=True)

    return show
