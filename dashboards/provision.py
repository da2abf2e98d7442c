"""`python -m dashboards.provision`: push the fitmon datasource and dashboards to a running Grafana.

Idempotent: the folder, the datasource and each dashboard are created or overwritten by uid, so
running it twice leaves Grafana as running it once does. Needs an API token (service account)
or a user and password with the Admin role in the organisation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dashboards.payloads import (
    DASHBOARDS_DIR,
    DATASOURCE_FILE,
    FOLDER_TITLE,
    FOLDER_UID,
    ProvisioningError,
    ProvisionPlan,
    build_plan,
)

if TYPE_CHECKING:
    from grafana_client.api import GrafanaApi


class GrafanaRefused(RuntimeError):
    """Grafana answered a provisioning call with an error; the message says which call."""


class GrafanaSettings(BaseSettings):
    """Where Grafana is and how to sign in (env FITMON_GRAFANA_URL, _TOKEN, _USER, _PASSWORD)."""

    model_config = SettingsConfigDict(env_prefix="FITMON_GRAFANA_", extra="ignore")

    url: str = "http://127.0.0.1:3000"
    token: SecretStr | None = None
    user: str | None = None
    password: SecretStr | None = None
    timeout_s: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _one_way_to_sign_in(self) -> GrafanaSettings:
        if self.token is not None and (self.user is not None or self.password is not None):
            raise ValueError("give an API token or a user and password, not both")
        if self.token is None and (self.user is None or self.password is None):
            raise ValueError(
                "no Grafana credentials: set --token (FITMON_GRAFANA_TOKEN) or --user and "
                "--password (FITMON_GRAFANA_USER, FITMON_GRAFANA_PASSWORD)"
            )
        return self

    @property
    def credential(self) -> str | tuple[str, str]:
        if self.token is not None:
            return self.token.get_secret_value()
        assert self.user is not None  # checked above
        assert self.password is not None
        return (self.user, self.password.get_secret_value())


def connect(settings: GrafanaSettings) -> GrafanaApi:
    from grafana_client.api import GrafanaApi  # noqa: PLC0415 - only the network path needs it

    api: GrafanaApi = GrafanaApi.from_url(
        settings.url, credential=settings.credential, timeout=settings.timeout_s
    )
    return api


def _status(exc: Exception) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def ensure_folder(api: GrafanaApi, uid: str, title: str) -> str:
    from grafana_client.client import GrafanaClientError  # noqa: PLC0415

    try:
        api.folder.get_folder(uid)  # type: ignore[no-untyped-call]
    except GrafanaClientError as exc:
        if _status(exc) != 404:
            raise
        api.folder.create_folder(title, uid=uid)  # type: ignore[no-untyped-call]
        return f"folder {uid}: created"
    return f"folder {uid}: exists"


def upsert_datasource(api: GrafanaApi, payload: dict[str, Any]) -> str:
    from grafana_client.client import GrafanaClientError  # noqa: PLC0415

    uid = str(payload["uid"])
    try:
        existing: Any = api.datasource.get_datasource_by_uid(uid)  # type: ignore[no-untyped-call]
    except GrafanaClientError as exc:
        if _status(exc) != 404:
            raise
        api.datasource.create_datasource(payload)  # type: ignore[no-untyped-call]
        return f"datasource {uid}: created"
    if isinstance(existing, dict) and existing.get("readOnly"):
        # Grafana refuses API changes to a datasource it provisioned from files (docker-compose).
        return f"datasource {uid}: provisioned from files in Grafana, left as it is"
    api.datasource.update_datasource_by_uid(uid, payload)  # type: ignore[no-untyped-call]
    return f"datasource {uid}: updated"


def push(api: GrafanaApi, plan: ProvisionPlan, echo: Callable[[str], None]) -> None:
    """Make the calls of `plan`. A refused dashboard raises GrafanaRefused naming it; any other
    refused call raises grafana_client's GrafanaException."""
    from grafana_client.client import GrafanaException  # noqa: PLC0415

    health: Any = api.health.check()  # type: ignore[no-untyped-call]
    version = health.get("version", "?") if isinstance(health, dict) else "?"
    echo(f"Grafana {version} at {api.url}")
    echo(ensure_folder(api, plan.folder_uid, plan.folder_title))
    for datasource in plan.datasources:
        echo(upsert_datasource(api, datasource))
    for payload in plan.dashboards:
        uid = payload["dashboard"]["uid"]
        try:
            result: Any = api.dashboard.update_dashboard(payload)  # type: ignore[no-untyped-call]
        except GrafanaException as exc:
            raise GrafanaRefused(f"dashboard {uid}: {exc.message}") from exc
        version = result.get("version", "?") if isinstance(result, dict) else "?"
        echo(f"dashboard {uid}: saved, version {version}")


@click.command("provision")
@click.option("--url", help="Grafana base URL (env FITMON_GRAFANA_URL; default 127.0.0.1:3000).")
@click.option("--token", help="Service-account token (env FITMON_GRAFANA_TOKEN).")
@click.option("--user", help="Basic-auth user (env FITMON_GRAFANA_USER).")
@click.option("--password", help="Basic-auth password (env FITMON_GRAFANA_PASSWORD).")
@click.option("--folder-uid", default=FOLDER_UID, show_default=True)
@click.option("--folder-title", default=FOLDER_TITLE, show_default=True)
@click.option(
    "--dashboards-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=DASHBOARDS_DIR,
    show_default=True,
)
@click.option(
    "--datasource-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=DATASOURCE_FILE,
    show_default=True,
    help="Datasource provisioning YAML; its ${VARS} come from this environment.",
)
@click.option("--skip-datasource", is_flag=True, help="Push the dashboards only.")
@click.option("--dry-run", is_flag=True, help="Print the request bodies instead of sending them.")
def provision(
    url: str | None,
    token: str | None,
    user: str | None,
    password: str | None,
    folder_uid: str,
    folder_title: str,
    dashboards_dir: Path,
    datasource_file: Path,
    skip_datasource: bool,
    dry_run: bool,
) -> None:
    """Push the fitmon datasource and dashboards to Grafana, overwriting them by uid."""
    try:
        plan = build_plan(
            dashboards_dir=dashboards_dir,
            datasource_file=None if skip_datasource else datasource_file,
            environ=os.environ,
            folder_uid=folder_uid,
            folder_title=folder_title,
        )
    except ProvisioningError as exc:
        raise click.ClickException(str(exc)) from None
    if dry_run:
        # Passwords never leave the process: the dry run shows which secure fields are set.
        shown = [
            {**d, "secureJsonData": dict.fromkeys(d.get("secureJsonData", {}), "<set>")}
            for d in plan.datasources
        ]
        click.echo(json.dumps({"datasources": shown, "dashboards": plan.dashboards}, indent=2))
        return
    given = {"url": url, "token": token, "user": user, "password": password}
    overrides: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    try:
        settings = GrafanaSettings(**overrides)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    from grafana_client.client import GrafanaException  # noqa: PLC0415
    from niquests.exceptions import RequestException  # noqa: PLC0415

    try:
        push(connect(settings), plan, click.echo)
    except GrafanaRefused as exc:
        raise click.ClickException(f"Grafana at {settings.url} refused {exc}") from None
    except GrafanaException as exc:
        raise click.ClickException(f"Grafana at {settings.url} refused: {exc.message}") from None
    except RequestException as exc:
        raise click.ClickException(f"cannot reach Grafana at {settings.url}: {exc}") from None


def main() -> None:
    provision()


if __name__ == "__main__":
    main()
