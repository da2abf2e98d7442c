"""`fitmon registry`: import the sites and items of a CSV or XLSX file (all rows or none, every bad
cell reported by line and column), and export them in the same format."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import psycopg

from cli.settings import settings_from
from db.queries.registry import export_rows
from db.registry_writes import IMPORT_COMMAND, write_registry
from db.settings import DatabaseSettings
from devices.registry_files import FileFormat, parse_registry_file, registry_file
from devices.registry_rows import RegistryImportError

DATABASE_URL = click.option(
    "--database-url",
    help="PostgreSQL URL (default: $FITMON_DATABASE_URL, else the development database).",
)
_FORMATS: dict[str, FileFormat] = {".csv": "csv", ".xlsx": "xlsx"}


def _format_of(path: Path) -> FileFormat:
    found = _FORMATS.get(path.suffix.lower())
    if found is None:
        raise click.ClickException(f"{path}: name a .csv or .xlsx file")
    return found


def _database_url(database_url: str | None) -> str:
    settings = settings_from(DatabaseSettings, database_url=database_url)
    return settings.database_url.get_secret_value()


@click.group()
def registry() -> None:
    """The registry of sites (一站一码) and equipment (一物一码)."""


@registry.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@DATABASE_URL
@click.option("--dry-run", is_flag=True, help="check everything, write nothing")
def registry_import(path: Path, database_url: str | None, dry_run: bool) -> None:
    """Import sites and items from a CSV or XLSX file: all rows or none, every bad cell
    reported. A column the file leaves out keeps what is stored."""
    file_format = _format_of(path)
    try:
        parsed = parse_registry_file(path.read_bytes(), file_format)
        with psycopg.connect(_database_url(database_url)) as conn, conn.transaction():
            result = write_registry(conn, parsed, IMPORT_COMMAND, dry_run=dry_run)
    except RegistryImportError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    verb = "would import" if dry_run else "imported"
    click.echo(
        f"{verb} {len(parsed.sites)} site(s) and {len(parsed.equipment)} item(s) from {path}: "
        f"{result.sites_created} site(s) and {result.items_created} item(s) new, "
        f"{result.sites_updated} site(s) and {result.items_updated} item(s) changed, "
        f"{result.unchanged} unchanged"
    )


@registry.command("export")
@click.argument("path", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@DATABASE_URL
@click.option("--district", help="only this district (6 digits)")
def registry_export(path: Path, database_url: str | None, district: str | None) -> None:
    """Write the sites and items not retired to a CSV or XLSX file that imports back."""
    file_format = _format_of(path)
    with psycopg.connect(_database_url(database_url)) as conn:
        sites, items = export_rows(conn, districts=None, district=district)
    path.write_bytes(registry_file(sites, items, file_format))
    click.echo(f"exported {len(sites)} site(s) and {len(items)} item(s) to {path}")
