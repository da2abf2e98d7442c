"""How the `fitmon` commands hand their options to the processes' settings classes.

An option left out is None and not passed on, so the settings class reads FITMON_* for it.
"""

from __future__ import annotations

from typing import Any, TypeVar

import click
from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def given(**options: Any) -> dict[str, Any]:
    """The options the command line gave: overrides for a settings class."""
    return {name: value for name, value in options.items() if value is not None}


def settings_from(settings_class: type[SettingsT], **options: Any) -> SettingsT:
    """`settings_class` from FITMON_* variables and the options given; a value it refuses (a
    development default in production) is a usage error that says which and why."""
    try:
        return settings_class(**given(**options))
    except ValidationError as exc:
        # The messages only: the input they were checked against may hold a password.
        reasons = "; ".join(
            f"{'.'.join(map(str, error['loc'])) or 'settings'}: {error['msg']}"
            for error in exc.errors()
        )
        raise click.UsageError(reasons) from None


class DemoSettings(BaseSettings):
    """The demo's own services unless FITMON_DATABASE_URL or FITMON_MQTT_URL name others."""

    model_config = SettingsConfigDict(env_prefix="FITMON_", extra="ignore")

    database_url: SecretStr | None = None
    mqtt_url: str | None = None
