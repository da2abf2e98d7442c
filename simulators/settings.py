"""Settings of the simulator process: its broker and topic root, from FITMON_* variables."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class SimulatorSettings(BaseSettings):
    """FITMON_MQTT_URL and FITMON_TOPIC_ROOT, as ingest reads them, so one environment serves
    both; the topic root defaults to the preset's (fitness/v1)."""

    model_config = SettingsConfigDict(env_prefix="FITMON_", extra="ignore")

    mqtt_url: str = "mqtt://127.0.0.1:1883"
    topic_root: str | None = None
