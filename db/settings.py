"""The database settings every fitmon process shares, read from FITMON_* environment variables.

Each process's settings class (ingest's, the API's) extends this one, so the development default
and its refusal in production live here once.
"""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/fitmon"

DEFAULT_RAW_RETENTION_DAYS = 400
# A session may be reported up to 30 days after it started (docs/protocol.md), and a copy of it
# later still (ingest's broker queue, a device resending after it reconnects): its original must
# still be stored for the copy to be recognised and stored once. usage_daily's refresh re-reads
# the last 30 days of raw sessions, which must all be there or the refresh would empty rollups.
# Twice the 30 days covers both with a month to spare.
MIN_RAW_RETENTION_DAYS = 60
MAX_RAW_RETENTION_DAYS = 36_500


def check_raw_retention_days(days: int) -> int:
    if not MIN_RAW_RETENTION_DAYS <= days <= MAX_RAW_RETENTION_DAYS:
        raise ValueError(
            f"raw telemetry must be kept {MIN_RAW_RETENTION_DAYS} to {MAX_RAW_RETENTION_DAYS} "
            f"days, got {days}: a session may be reported 30 days after it started and "
            "usage_daily is refreshed from the last 30 days of raw sessions"
        )
    return days


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


class MigrateSettings(DatabaseSettings):
    """`fitmon migrate`'s: the database, and FITMON_RAW_RETENTION_DAYS, how long raw telemetry is
    kept on TimescaleDB (db/retention.py: 400 days unless set, never under 60)."""

    raw_retention_days: int = DEFAULT_RAW_RETENTION_DAYS

    @field_validator("raw_retention_days")
    @classmethod
    def _within_limits(cls, days: int) -> int:
        return check_raw_retention_days(days)
