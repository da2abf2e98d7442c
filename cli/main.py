"""`fitmon`: migrate, import the registry, run ingest, run the demo, simulate and verify."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cli.demo import demo
from cli.verify import verify
from db.migrate import MigrationError, migrate
from db.registry_writes import import_registry
from devices.registry_rows import RegistryImportError, parse_registry_csv
from ingest.logs import configure_logging
from simulators.cli import simulate

DATABASE_URL = click.option(
    "--database-url",
    envvar="FITMON_DATABASE_URL",
    required=True,
    help="PostgreSQL URL (env FITMON_DATABASE_URL).",
)


@click.group()
def fitmon() -> None:
    """fitmon: monitoring and maintenance for smart outdoor fitness equipment."""


@fitmon.command("migrate")
@DATABASE_URL
def migrate_command(database_url: str) -> None:
    """Apply pending database migrations (TimescaleDB ones where the extension exists)."""
    configure_logging("console")
    try:
        applied = migrate(database_url)
    except MigrationError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{len(applied)} migration(s) applied")


@fitmon.group()
def registry() -> None:
    """The registry of sites (一站一码) and equipment (一物一码)."""


@registry.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@DATABASE_URL
def registry_import(csv_file: Path, database_url: str) -> None:
    """Import sites and items from a CSV file: all rows or none, every bad cell reported."""
    try:
        parsed = parse_registry_csv(csv_file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{csv_file} is not UTF-8: {exc}") from None
    except RegistryImportError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    sites, items = import_registry(database_url, parsed)
    click.echo(f"imported {sites} site(s) and {items} item(s) from {csv_file}")


@fitmon.command("ingest")
def ingest_command() -> None:
    """Run the ingest process (settings from FITMON_* environment variables)."""
    from ingest.main import main as ingest_main  # noqa: PLC0415 - heavy imports only when used

    ingest_main()


fitmon.add_command(demo)
fitmon.add_command(simulate)
fitmon.add_command(verify)


def main() -> None:
    fitmon()
