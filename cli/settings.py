"""How the `fitmon` commands hand their options to the processes' settings classes.

An option left out is None and not passed on, so the settings class reads FITMON_* for it.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def given(**options: Any) -> dict[str, Any]:
    """The options the command line gave: overrides for a settings class."""
    return {name: value for name, value in options.items() if value is not None}


class DemoSettings(BaseSettings):
    """The demo's own services unless FITMON_DATABASE_URL or FITMON_MQTT_URL name others."""

    model_config = SettingsConfigDict(env_prefix="FITMON_", extra="ignore")

    database_url: SecretStr | None = None
    mqtt_url: str | None = None
