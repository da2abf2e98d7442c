"""`fitmon broker-auth`: Mosquitto's password file and ACL from the registry, and one username's
password for whoever installs a device (docs/broker-credentials.md)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import click
import psycopg
from pydantic import Field, SecretStr, model_validator

from cli.broker_files import DEFAULT_INGEST_USER, broker_files
from cli.settings import settings_from
from db.queries.broker import active_devices, active_sites
from db.settings import DatabaseSettings
from devices.broker_logins import GATEWAY_PREFIX, derived_password
from devices.codes import CodeError, parse_equipment_code, parse_site_code
from devices.topics import DEFAULT_TOPIC_ROOT

_USERNAME = re.compile(r"[A-Za-z0-9._-]{1,64}", re.ASCII)
DEV_BROKER_SECRET = "fitmon-development-broker-secret"  # noqa: S105 - refused in production


class BrokerAuthSettings(DatabaseSettings):
    """FITMON_BROKER_SECRET (devices' and gateways' passwords are derived from it),
    FITMON_TOPIC_ROOT, and ingest's login: FITMON_MQTT_USERNAME and FITMON_MQTT_PASSWORD (unset:
    derived from the secret like the others)."""

    broker_secret: SecretStr = Field(default=SecretStr(DEV_BROKER_SECRET), min_length=16)
    topic_root: str = DEFAULT_TOPIC_ROOT
    mqtt_username: str = Field(default=DEFAULT_INGEST_USER, pattern=_USERNAME.pattern)
    mqtt_password: SecretStr | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _refuse_dev_secret_in_production(self) -> BrokerAuthSettings:
        if self.env == "prod" and self.broker_secret.get_secret_value() == DEV_BROKER_SECRET:
            raise ValueError("FITMON_BROKER_SECRET must be set in production")
        return self


def _write(path: Path, text: str) -> None:
    """Replace `path` whole (the broker never reads half a file). A new file is its owner's only;
    a replaced one keeps its owner, group and mode, so the broker can still read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    if path.exists():
        before = path.stat()
        if (before.st_uid, before.st_gid) != (os.geteuid(), os.getegid()):
            os.chown(partial, before.st_uid, before.st_gid)  # needs root, as the broker's does
        partial.chmod(before.st_mode & 0o777)
    os.replace(partial, path)


_FILE = click.Path(dir_okay=False, path_type=Path)


@click.group("broker-auth", invoke_without_command=True)
@click.option("--password-file", type=_FILE, help="where Mosquitto's password_file is")
@click.option("--acl-file", type=_FILE, help="where Mosquitto's acl_file is")
@click.option("--database-url", help="PostgreSQL URL (default: $FITMON_DATABASE_URL).")
@click.option("--topic-root", help=f"default: $FITMON_TOPIC_ROOT, else {DEFAULT_TOPIC_ROOT}")
@click.pass_context
def broker_auth(
    ctx: click.Context,
    password_file: Path | None,
    acl_file: Path | None,
    database_url: str | None,
    topic_root: str | None,
) -> None:
    """Write Mosquitto's password file and ACL from the registry (then send Mosquitto SIGHUP):
    each device publishes only its own topics, each site gateway (gw-<site code>) only its
    site's, ingest ($FITMON_MQTT_USERNAME) reads them all."""
    if ctx.invoked_subcommand is not None:
        return
    if password_file is None or acl_file is None:
        raise click.UsageError("give --password-file and --acl-file (or a command: password)")
    settings = settings_from(BrokerAuthSettings, database_url=database_url, topic_root=topic_root)
    with psycopg.connect(settings.database_url.get_secret_value()) as conn:
        devices, sites = active_devices(conn), active_sites(conn)
    ingest_password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
    try:
        files = broker_files(
            settings.broker_secret.get_secret_value(),
            devices,
            sites,
            topic_root=settings.topic_root,
            ingest_user=settings.mqtt_username,
            ingest_password=ingest_password,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    _write(password_file, files.password_file)
    _write(acl_file, files.acl_file)
    click.echo(
        f"wrote {password_file} and {acl_file}: {files.devices} device(s), "
        f"{files.gateways} site gateway(s), {settings.mqtt_username}"
    )


@broker_auth.command("password")
@click.argument("username")
def password_command(username: str) -> None:
    """Print USERNAME's broker password: an equipment code or gw-<site code> (ingest's is
    FITMON_MQTT_PASSWORD when set)."""
    if not _USERNAME.fullmatch(username):
        raise click.BadParameter(f"1-64 of A-Z, a-z, 0-9, '.', '_', '-'; got {username!r}")
    try:
        if username.startswith(GATEWAY_PREFIX):
            parse_site_code(username.removeprefix(GATEWAY_PREFIX))
        elif username[:1].isdigit():
            parse_equipment_code(username)
    except CodeError as exc:
        raise click.BadParameter(str(exc), param_hint="USERNAME") from None
    settings = settings_from(BrokerAuthSettings)
    if username == settings.mqtt_username and settings.mqtt_password is not None:
        click.echo(settings.mqtt_password.get_secret_value())
        return
    click.echo(derived_password(settings.broker_secret.get_secret_value(), username))
