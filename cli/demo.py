"""`fitmon demo`: the whole chain on embedded defaults, with live figures, until Ctrl-C.

A PostgreSQL of its own (unless --database-url), an MQTT broker of its own (unless --broker-url),
migrations, a simulated city loaded into the registry, ingest, the API, and the simulator.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import psycopg

from cli.services import LocalBroker
from db.embedded import EmbeddedPostgres, free_port
from db.migrate import migrate
from db.registry_writes import import_registry
from devices.registry_rows import parse_registry_csv

_FIGURES = """
SELECT (SELECT count(*) FROM usage_sessions),
       (SELECT coalesce(sum(sessions), 0) FROM usage_hourly),
       (SELECT count(*) FROM fault_events WHERE state = 'raised'),
       (SELECT count(*) FROM status_reports),
       (SELECT count(*) FROM dead_letters),
       (SELECT count(*) FILTER (WHERE online) FROM device_state),
       (SELECT count(*) FILTER (WHERE NOT online) FROM device_state)
"""


@dataclass
class Chain:
    workdir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    postgres: EmbeddedPostgres | None = None
    broker: LocalBroker | None = None

    def spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log = (self.workdir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            command,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the demo only; it stops the children in order
        )

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None and name != "simulator":
                tail = (self.workdir / f"{name}.log").read_text(errors="replace")[-2000:]
                raise click.ClickException(f"{name} exited with {process.returncode}:\n{tail}")

    def stop(self) -> None:
        for name in ("simulator", "api", "ingest"):
            process = self.processes.get(name)
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.broker is not None:
            self.broker.stop()
        if self.postgres is not None:
            self.postgres.stop()


def _metric(text: str, name: str) -> float:
    return sum(
        float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#") and line[len(name)] in "{ "
    )


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
@click.option("--database-url", envvar="FITMON_DATABASE_URL", help="Use this PostgreSQL.")
@click.option("--broker-url", envvar="FITMON_MQTT_URL", help="Use this MQTT broker (mqtt://h:p).")
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
    workdir.mkdir(parents=True, exist_ok=True)
    chain = Chain(workdir)
    stopping = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        _run(chain, database_url, broker_url, preset, seed, days, speed, duration, lambda: stopping)
    finally:
        click.echo("stopping: simulator, api, ingest, broker, database ...")
        chain.stop()
        click.echo("stopped cleanly.")


def _run(
    chain: Chain,
    database_url: str | None,
    broker_url: str | None,
    preset: str,
    seed: int,
    days: float,
    speed: float,
    duration: float | None,
    stopping: Any,
) -> None:
    workdir = chain.workdir
    if database_url is None:
        chain.postgres = EmbeddedPostgres(workdir / "postgres")
        chain.postgres.start()
        database_url = _ensure_database(chain.postgres)
        click.echo(f"database   embedded PostgreSQL  {database_url}")
    else:
        click.echo(f"database   {database_url}")
    mqtt5 = "5"
    if broker_url is None:
        chain.broker = LocalBroker(workdir / "broker")
        chain.broker.start()
        broker_url = chain.broker.url
        mqtt5 = "5" if chain.broker.supports_mqtt5 else "3.1.1"
        click.echo(f"broker     embedded {chain.broker.kind}  {broker_url}")
    else:
        click.echo(f"broker     {broker_url}")
    applied = migrate(database_url)
    click.echo(f"migrations {len(applied)} applied")

    city = workdir / "city.csv"
    ledger = workdir / "ledger"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "simulate",
            "city",
            "--preset",
            preset,
            "--seed",
            str(seed),
            "--out",
            str(city),
        ],
        check=True,
    )
    sites, items = import_registry(database_url, parse_registry_csv(city.read_text("utf-8")))
    click.echo(f"registry   {sites} sites, {items} items imported from {city}")

    metrics_port, api_port = free_port(), free_port()
    env = {
        "FITMON_DATABASE_URL": database_url,
        "FITMON_MQTT_URL": broker_url,
        "FITMON_MQTT_PROTOCOL": mqtt5,
        "FITMON_METRICS_PORT": str(metrics_port),
        "FITMON_MQTT_CLIENT_ID": "fitmon-demo-ingest",
        "FITMON_OFFLINE_CHECK_S": "5",
    }
    chain.spawn("ingest", [sys.executable, "-m", "ingest"], env)
    chain.spawn(
        "api",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(api_port),
        ],
        env,
    )
    _wait_for_ingest(chain, metrics_port)
    # Accelerated replay of the last `days` days, so the store fills with a believable history.
    chain.spawn(
        "simulator",
        [
            sys.executable,
            "-m",
            "cli",
            "simulate",
            "run",
            "--city",
            str(city),
            "--preset",
            preset,
            "--seed",
            str(seed),
            "--broker",
            broker_url,
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
    click.echo(f"""
where to look
  metrics    http://127.0.0.1:{metrics_port}/metrics
  api        http://127.0.0.1:{api_port}/api/v1/equipment/{first_code}
  logs       {workdir}/ingest.log  {workdir}/simulator.log  {workdir}/api.log
  ledger     {ledger}  (check it: fitmon verify {ledger} --database-url {database_url})
  Ctrl-C stops everything.
""")
    _report_until_stopped(chain, metrics_port, database_url, duration, stopping, ledger)


def _wait_for_ingest(chain: Chain, metrics_port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        chain.check_alive()
        try:
            text = _scrape(metrics_port)
            if _metric(text, "fitmon_ingest_connected") == 1:
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
    stopping: Any,
    ledger: Path,
) -> None:
    started = time.monotonic()
    verified = False
    last_received, last_at = 0.0, started
    click.echo("  time  recv/s  received  stored  dupes  dead  | sessions  faults  online offline")
    while not stopping() and (duration is None or time.monotonic() - started < duration):
        time.sleep(min(5.0, max(0.5, (duration or 5.0) / 10)))
        chain.check_alive()
        text = _scrape(metrics_port)
        received = _metric(text, "fitmon_ingest_messages_received_total")
        now = time.monotonic()
        rate = (received - last_received) / (now - last_at)
        last_received, last_at = received, now
        with psycopg.connect(database_url) as conn:
            row = conn.execute(_FIGURES).fetchone()
        assert row is not None
        sessions, _, faults, _, dead, online, offline = row
        click.echo(
            f"{now - started:6.0f}  {rate:6.0f}  {received:8.0f}  "
            f"{_metric(text, 'fitmon_ingest_messages_stored_total'):6.0f}  "
            f"{_metric(text, 'fitmon_ingest_messages_duplicate_total'):5.0f}  {dead:4d}  | "
            f"{sessions:8d}  {faults:6d}  {online:6d}  {offline:7d}"
        )
        simulator = chain.processes["simulator"]
        if not verified and simulator.poll() is not None:
            verified = True
            _verify_when_drained(chain, metrics_port, database_url, ledger, simulator.returncode)


def _verify_when_drained(
    chain: Chain, metrics_port: int, database_url: str, ledger: Path, returncode: int
) -> None:
    """The replay is over: once ingest has committed everything, check the store against it."""
    if returncode != 0:
        click.echo(f"simulator exited with {returncode}; see {chain.workdir}/simulator.log")
        return
    for _ in range(120):
        text = _scrape(metrics_port)
        if _metric(text, "fitmon_ingest_queue_depth") == 0:
            break
        time.sleep(0.5)
    time.sleep(2 * 0.05 + 1)  # one more batch window for the last messages to commit
    click.echo("the replay is over; checking the store against the simulator's ledger:")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "verify",
            str(ledger),
            "--database-url",
            database_url,
            "--limit",
            "10",
        ],
        check=False,
    )
    click.echo("figures go on; Ctrl-C stops everything.")
