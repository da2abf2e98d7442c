"""Settings of the simulator process: its broker and topic root, from FITMON_* variables."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SimulatorSettings(BaseSettings):
    """FITMON_MQTT_URL and FITMON_TOPIC_ROOT, as ingest reads them, so one environment serves
    both; the topic root defaults to the preset's (fitness/v1). FITMON_BROKER_SECRET, as
    `fitmon broker-auth` reads it: each device or gateway signs in with its own login."""

    model_config = SettingsConfigDict(env_prefix="FITMON_", extra="ignore")

    mqtt_url: str = "mqtt://127.0.0.1:1883"
    topic_root: str | None = None
    broker_secret: SecretStr | None = None
