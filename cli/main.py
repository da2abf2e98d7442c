"""`fitmon`: migrate, import the registry, run ingest or the API, the demo, simulate, verify."""

from __future__ import annotations

import os
import sys

import click
import psycopg

from cli.broker_auth import broker_auth
from cli.demo import demo
from cli.people import people
from cli.registry import registry
from cli.settings import given, settings_from
from cli.verify import verify
from db.migrate import MigrationError, migrate
from db.rollups import refresh_usage_rollups
from db.settings import DatabaseSettings, MigrateSettings
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
@click.option(
    "--raw-retention-days",
    type=int,
    help="days raw telemetry is kept on TimescaleDB (default: $FITMON_RAW_RETENTION_DAYS; 400)",
)
def migrate_command(database_url: str | None, raw_retention_days: int | None) -> None:
    """Apply pending database migrations (TimescaleDB ones where the extension exists), then the
    raw telemetry retention."""
    configure_logging("console")
    settings = settings_from(
        MigrateSettings, database_url=database_url, raw_retention_days=raw_retention_days
    )
    try:
        applied = migrate(
            settings.database_url.get_secret_value(),
            raw_retention_days=settings.raw_retention_days,
        )
    except MigrationError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{len(applied)} migration(s) applied")


@fitmon.group("rollups")
def rollups() -> None:
    """The dashboards' usage rollups (docs/dashboards.md)."""


@rollups.command("refresh")
@DATABASE_URL
@click.option("--all", "everything", is_flag=True, help="rebuild them whole from usage_hourly")
def rollups_refresh(database_url: str | None, everything: bool) -> None:
    """Bring the rollups up to date now (the maintenance service does so every minute)."""
    with psycopg.connect(_database_url(database_url)) as conn:
        done = refresh_usage_rollups(conn, everything=everything)
    click.echo(f"{done.hours} hour(s) and {done.days} day(s) recomputed")


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
