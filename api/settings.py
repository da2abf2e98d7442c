"""Settings of the API process, read from FITMON_* environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/fitmon"


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FITMON_", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    database_url: SecretStr = SecretStr(DEV_DATABASE_URL)

    @model_validator(mode="after")
    def _refuse_dev_defaults_in_production(self) -> ApiSettings:
        if self.env == "prod" and self.database_url.get_secret_value() == DEV_DATABASE_URL:
            raise ValueError("FITMON_DATABASE_URL must be set in production")
        return self
