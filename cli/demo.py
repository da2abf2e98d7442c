"""`fitmon demo`: the whole chain on embedded defaults, with live figures, until Ctrl-C.

A PostgreSQL of its own (unless --database-url), an MQTT broker of its own (unless --broker-url),
migrations, a simulated city loaded into the registry, ingest, the maintenance service, the API,
and the simulator.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import click
import psycopg
from prometheus_client.parser import text_string_to_metric_families

from cli.demo_notify import notify_banner, notify_env
from cli.demo_pages import pages_banner, prepare_demo_crew
from cli.services import LocalBroker
from cli.settings import DemoSettings, settings_from
from db.embedded import EmbeddedPostgres, free_port
from db.migrate import migrate
from db.queries.figures import live_figures
from db.registry_writes import import_registry
from devices.registry_rows import parse_registry_csv
from maintenance.demo_admin import issue_demo_admin_token

# On stop, how long the simulator, the API, the maintenance service and ingest may take (each is
# bounded well under it) before they and what is left of their process groups are killed.
_CHILD_STOP_S = 12.0
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
_FITMON = [sys.executable, "-m", "cli"]  # every process of the chain is a fitmon command


class _Stop(Exception):
    """Ctrl-C or SIGTERM: leave whatever the demo is doing and stop the chain."""


class _Output:
    """The demo's stdout. When its reader has gone (`fitmon demo | tee` and Ctrl-C, or `| head`),
    writing fails (EPIPE; EIO for a terminal that has gone): from then on the demo writes nowhere
    and stops the chain."""

    def __init__(self) -> None:
        self.closed = False

    def say(self, text: str) -> None:
        if self.closed:
            return
        try:
            click.echo(text)
        except OSError:
            self.closed = True
            # Whatever Python still holds for stdout, and the children that share it, now go
            # nowhere; else the interpreter's last flush fails again on the way out.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)


@dataclass
class Chain:
    workdir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    postgres: EmbeddedPostgres | None = None
    broker: LocalBroker | None = None
    out: _Output = field(default_factory=_Output)
    stop_requested: str | None = None
    _stops_held: bool = False

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        """SIGINT or SIGTERM while the chain runs: leave what the demo does, unless it is starting
        a child (then just after, so that stop() knows every child)."""
        self.stop_requested = signal.Signals(signum).name
        if not self._stops_held:
            raise _Stop(self.stop_requested)

    @contextmanager
    def _stops_deferred(self) -> Iterator[None]:
        # Not a blocked signal mask: a child would inherit it and ignore SIGTERM.
        self._stops_held = True
        try:
            yield
        finally:
            self._stops_held = False
        if self.stop_requested:
            raise _Stop(self.stop_requested)

    def spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        with (self.workdir / f"{name}.log").open("ab") as log, self._stops_deferred():
            self.processes[name] = subprocess.Popen(
                command,
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                # Ctrl-C reaches the demo only; it stops the children, each with its own group.
                start_new_session=True,
            )

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None and name != "simulator":
                tail = (self.workdir / f"{name}.log").read_text(errors="replace")[-2000:]
                raise click.ClickException(f"{name} exited with {process.returncode}:\n{tail}")

    def stop(self) -> None:
        """SIGTERM to the simulator, the API, the maintenance service and ingest at once; what is
        left of them and of their process groups (ingest's workers) after _CHILD_STOP_S is killed.
        Then the broker and the database."""
        running = [process for process in self.processes.values() if process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + _CHILD_STOP_S
        for process in running:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for process in self.processes.values():
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        if self.broker is not None:
            self.broker.stop()
        if self.postgres is not None:
            self.postgres.stop()


def _metrics(text: str) -> defaultdict[str, float]:
    """Prometheus text as sample name -> value, summed over the samples' labels."""
    totals: defaultdict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] += sample.value
    return totals


def _scrape(metrics_port: int) -> str:
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def _ensure_database(server: EmbeddedPostgres) -> str:
    with psycopg.connect(server.url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = 'fitmon'").fetchone()
        if exists is None:
            conn.execute("CREATE DATABASE fitmon")
    return server.url_for("fitmon")


@click.command()
@click.option("--database-url", help="Use this PostgreSQL (default: $FITMON_DATABASE_URL).")
@click.option("--broker-url", help="Use this MQTT broker, mqtt://h:p (default: $FITMON_MQTT_URL).")
@click.option("--preset", default="small", show_default=True, help="Simulator preset.")
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--days", default=1.0, show_default=True, help="Days of history to replay.")
@click.option("--speed", default=720.0, show_default=True, help="Simulated seconds per second.")
@click.option("--duration", type=float, help="Stop after this many seconds (default: Ctrl-C).")
@click.option(
    "--workdir",
    default=".fitmon/demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
)
def demo(
    database_url: str | None,
    broker_url: str | None,
    preset: str,
    seed: int,
    days: float,
    speed: float,
    duration: float | None,
    workdir: Path,
) -> None:
    """Run the whole chain on embedded defaults and print what is happening."""
    settings = settings_from(DemoSettings, database_url=database_url, mqtt_url=broker_url)
    workdir.mkdir(parents=True, exist_ok=True)
    chain = Chain(workdir)

    def on_signal_while_stopping(signum: int, frame: FrameType | None) -> None:
        pass  # stopping is under way, and bounded

    for signum in _STOP_SIGNALS:
        signal.signal(signum, chain.on_signal)
    try:
        url = settings.database_url.get_secret_value() if settings.database_url else None
        _run(chain, url, settings.mqtt_url, preset, seed, days, speed, duration)
    except _Stop:
        pass
    finally:
        for signum in _STOP_SIGNALS:
            signal.signal(signum, on_signal_while_stopping)
        # The children first: nothing here may end the demo before they are stopped.
        chain.out.say("stopping: simulator, api, maintenance, ingest, broker, database ...")
        chain.stop()
        chain.out.say("stopped cleanly.")


def _run(
    chain: Chain,
    database_url: str | None,
    broker_url: str | None,
    preset: str,
    seed: int,
    days: float,
    speed: float,
    duration: float | None,
) -> None:
    workdir, say = chain.workdir, chain.out.say
    if database_url is None:
        chain.postgres = EmbeddedPostgres(workdir / "postgres")
        chain.postgres.start()
        database_url = _ensure_database(chain.postgres)
        say(f"database   embedded PostgreSQL  {database_url}")
    else:
        say(f"database   {database_url}")
    mqtt5 = "5"
    if broker_url is None:
        chain.broker = LocalBroker(workdir / "broker")
        chain.broker.start()
        broker_url = chain.broker.url
        mqtt5 = "5" if chain.broker.supports_mqtt5 else "3.1.1"
        say(f"broker     embedded {chain.broker.kind}  {broker_url}")
    else:
        say(f"broker     {broker_url}")
    applied = migrate(database_url)
    say(f"migrations {len(applied)} applied")

    city = workdir / "city.csv"
    ledger = workdir / "ledger"
    subprocess.run(
        [*_FITMON, "simulate", "city", "--preset", preset, "--seed", str(seed), "--out", str(city)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    sites, items = import_registry(database_url, parse_registry_csv(city.read_text("utf-8")))
    say(f"registry   {sites} sites, {items} items imported from {city}")
    crew = prepare_demo_crew(database_url)  # before the maintenance service routes tickets

    metrics_port, api_port = free_port(), free_port()
    env = {
        "FITMON_DATABASE_URL": database_url,
        "FITMON_MQTT_URL": broker_url,
        "FITMON_MQTT_PROTOCOL": mqtt5,
        "FITMON_METRICS_PORT": str(metrics_port),
        "FITMON_MQTT_CLIENT_ID": "fitmon-demo-ingest",
        "FITMON_OFFLINE_CHECK_S": "5",
    }
    chain.spawn("ingest", [*_FITMON, "ingest"], env)
    chain.spawn("maintenance", [*_FITMON, "maintenance"], env)
    chain.spawn("notify", [*_FITMON, "notify"], notify_env(env, broker_url))
    chain.spawn("api", [*_FITMON, "api", "--host", "127.0.0.1", "--port", str(api_port)], env)
    _wait_for_ingest(chain, metrics_port)
    # Accelerated replay of the last `days` days, so the store fills with a believable history.
    chain.spawn(
        "simulator",
        [
            *_FITMON,
            "simulate",
            "run",
            "--city",
            str(city),
            "--preset",
            preset,
            "--seed",
            str(seed),
            "--mqtt-protocol",
            mqtt5,
            "--days",
            str(days),
            "--speed",
            str(speed),
            "--ledger",
            str(ledger),
            "--quiet",
        ],
        env,
    )
    first_code = parse_registry_csv(city.read_text("utf-8")).equipment[0].code
    with psycopg.connect(database_url) as conn:
        token = issue_demo_admin_token(conn, datetime.now(UTC))
    api = f"http://127.0.0.1:{api_port}/api/v1"
    say(f"""
where to look
  metrics    http://127.0.0.1:{metrics_port}/metrics
  api        {api}/equipment/{first_code}
  alerts     {api}/alerts
  tickets    {api}/tickets
  figures    {api}/figures/good-order  (also repair-times, mtbf/kinds, on-time, open-tickets)
{pages_banner(f"http://127.0.0.1:{api_port}", first_code, crew)}
{notify_banner(broker_url, api)}
  token      these need a credential; the demo's admin holds this one:
             curl -H 'Authorization: Bearer {token}' {api}/alerts
  logs       {workdir}/ingest.log  {workdir}/maintenance.log  {workdir}/simulator.log
             {workdir}/api.log
  ledger     {ledger}  (check it: fitmon verify {ledger} --database-url {database_url})
  Ctrl-C stops everything.
""")
    _report_until_stopped(chain, metrics_port, database_url, duration, ledger)


def _wait_for_ingest(chain: Chain, metrics_port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        chain.check_alive()
        try:
            if _metrics(_scrape(metrics_port))["fitmon_ingest_connected"] == 1:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise click.ClickException("ingest did not connect within 60 s (see ingest.log)")


def _report_until_stopped(
    chain: Chain,
    metrics_port: int,
    database_url: str,
    duration: float | None,
    ledger: Path,
) -> None:
    started = time.monotonic()
    verified = False
    last_received, last_at = 0.0, started
    say = chain.out.say
    say(
        "  time  recv/s  received  stored  dupes  dead  | sessions  faults  online offline  "
        "| alerts tickets out"
    )
    while not chain.out.closed and (duration is None or time.monotonic() - started < duration):
        time.sleep(min(5.0, max(0.5, (duration or 5.0) / 10)))
        chain.check_alive()
        metrics = _metrics(_scrape(metrics_port))
        received = metrics["fitmon_ingest_messages_received_total"]
        now = time.monotonic()
        rate = (received - last_received) / (now - last_at)
        last_received, last_at = received, now
        with psycopg.connect(database_url) as conn:
            figures = live_figures(conn)
        say(
            f"{now - started:6.0f}  {rate:6.0f}  {received:8.0f}  "
            f"{metrics['fitmon_ingest_messages_stored_total']:6.0f}  "
            f"{metrics['fitmon_ingest_messages_duplicate_total']:5.0f}  "
            f"{figures.dead_letters:4d}  | {figures.usage_sessions:8d}  "
            f"{figures.faults_raised:6d}  {figures.devices_online:6d}  "
            f"{figures.devices_offline:7d}  | {figures.open_alerts:6d}  {figures.open_tickets:6d}  "
            f"{figures.out_of_service:3d}"
        )
        simulator = chain.processes["simulator"]
        if not verified and simulator.poll() is not None:
            verified = True
            _verify_when_drained(chain, metrics_port, database_url, ledger, simulator.returncode)


def _verify_when_drained(
    chain: Chain, metrics_port: int, database_url: str, ledger: Path, returncode: int
) -> None:
    """The replay is over: once ingest has committed everything, check the store against it."""
    say = chain.out.say
    if returncode != 0:
        say(f"simulator exited with {returncode}; see {chain.workdir}/simulator.log")
        return
    for _ in range(120):
        if _metrics(_scrape(metrics_port))["fitmon_ingest_queue_depth"] == 0:
            break
        time.sleep(0.5)
    time.sleep(2 * 0.05 + 1)  # one more batch window for the last messages to commit
    say("the replay is over; checking the store against the simulator's ledger:")
    result = subprocess.run(
        [*_FITMON, "verify", str(ledger), "--database-url", database_url, "--limit", "10"],
        check=False,
        capture_output=True,
        text=True,
    )
    say((result.stdout + result.stderr).rstrip())
    say("figures go on; Ctrl-C stops everything.")
