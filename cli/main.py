"""`fitmon`: migrate, import the registry, run ingest or the API, the demo, simulate, verify."""

from __future__ import annotations

import os
import sys

import click

from cli.broker_auth import broker_auth
from cli.demo import demo
from cli.people import people
from cli.registry import registry
from cli.settings import given, settings_from
from cli.verify import verify
from db.migrate import MigrationError, migrate
from db.settings import DatabaseSettings
from runtime.logs import configure_logging
from simulators.cli import simulate

DATABASE_URL = click.option(
    "--database-url",
    help="PostgreSQL URL (default: $FITMON_DATABASE_URL, else the development database).",
)


def _database_url(database_url: str | None) -> str:
    settings = settings_from(DatabaseSettings, database_url=database_url)
    return settings.database_url.get_secret_value()


@click.group()
def fitmon() -> None:
    """fitmon: monitoring and maintenance for smart outdoor fitness equipment."""


@fitmon.command("migrate")
@DATABASE_URL
def migrate_command(database_url: str | None) -> None:
    """Apply pending database migrations (TimescaleDB ones where the extension exists)."""
    configure_logging("console")
    try:
        applied = migrate(_database_url(database_url))
    except MigrationError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{len(applied)} migration(s) applied")


@fitmon.command("ingest")
@DATABASE_URL
@click.option("--mqtt-url", help="the broker (default: $FITMON_MQTT_URL)")
@click.option("--metrics-port", type=int, help="default: $FITMON_METRICS_PORT, else 9108")
def ingest_command(
    database_url: str | None, mqtt_url: str | None, metrics_port: int | None
) -> None:
    """Run the ingest process (the rest of its settings from FITMON_* environment variables)."""
    from ingest.main import main as ingest_main  # noqa: PLC0415 - heavy imports only when used

    ingest_main(given(database_url=database_url, mqtt_url=mqtt_url, metrics_port=metrics_port))


@fitmon.command("maintenance")
@DATABASE_URL
def maintenance_command(database_url: str | None) -> None:
    """Run the maintenance service: alerts, tickets and deadlines (settings from FITMON_*)."""
    from maintenance.main import main as maintenance_main  # noqa: PLC0415 - only when used

    maintenance_main(given(database_url=database_url))


@fitmon.command("notify")
@DATABASE_URL
def notify_command(database_url: str | None) -> None:
    """Run the notify process: deliver alerts and notices to the crews (settings from FITMON_*)."""
    from notifications.main import main as notify_main  # noqa: PLC0415 - only when used

    notify_main(given(database_url=database_url))


@fitmon.command("api")
@DATABASE_URL
@click.option("--host", help="default: $FITMON_API_HOST, else 127.0.0.1")
@click.option("--port", type=int, help="default: $FITMON_API_PORT, else 8000")
def api_command(database_url: str | None, host: str | None, port: int | None) -> None:
    """Run the API (the rest of its settings from FITMON_* environment variables)."""
    # Nothing imports api (the import contract): the API is its own process, `python -m api`,
    # which reads ApiSettings; this command becomes that process, with the options as overrides.
    overrides = given(FITMON_DATABASE_URL=database_url, FITMON_API_HOST=host, FITMON_API_PORT=port)
    os.environ.update({name: str(value) for name, value in overrides.items()})
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", "api"])  # noqa: S606 - no shell: an argv


fitmon.add_command(broker_auth)
fitmon.add_command(demo)
fitmon.add_command(people)
fitmon.add_command(registry)
fitmon.add_command(simulate)
fitmon.add_command(verify)


def main() -> None:
    fitmon()
