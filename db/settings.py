"""The database settings every fitmon process shares, read from FITMON_* environment variables.

Each process's settings class (ingest's, the API's) extends this one, so the development default
and its refusal in production live here once.
"""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/fitmon"


class EnvironmentSettings(BaseSettings):
    """FITMON_ENV, which every settings class reads (`prod` refuses development defaults)."""

    model_config = SettingsConfigDict(env_prefix="FITMON_", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"


class DatabaseSettings(EnvironmentSettings):
    """FITMON_ENV and FITMON_DATABASE_URL; commands that only touch the store use it as it is."""

    database_url: SecretStr = SecretStr(DEV_DATABASE_URL)

    @model_validator(mode="after")
    def _refuse_dev_database_in_production(self) -> DatabaseSettings:
        if self.env == "prod" and self.database_url.get_secret_value() == DEV_DATABASE_URL:
            raise ValueError("FITMON_DATABASE_URL must be set in production")
        return self
