"""Settings of the ingest process, read from FITMON_* environment variables."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator

from db.settings import DatabaseSettings
from devices.topics import DEFAULT_TOPIC_ROOT


class IngestSettings(DatabaseSettings):
    """The database (FITMON_ENV, FITMON_DATABASE_URL) and everything else ingest reads."""

    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_protocol: Literal["5", "3.1.1"] = "5"
    mqtt_client_id: str = "fitmon-ingest"
    topic_root: str = DEFAULT_TOPIC_ROOT
    # How long the broker keeps ingest's session (and queues its messages) while it is down.
    session_expiry_s: int = Field(default=7 * 86_400, gt=0)
    # QoS 1 messages the broker may have in flight to ingest, unacknowledged (MQTT 5 §3.1.2.11.3).
    receive_maximum: int = Field(default=20_000, ge=1, le=65_535)
    # Payload bytes received and not yet committed that ingest holds at most; past it, it reads
    # nothing more from the broker (which keeps the rest) until commits make room.
    max_held_bytes: int = Field(default=32 * 1024 * 1024, ge=64 * 1024)
    # Processes that decode and write. Messages are shared among them by site, so each device's
    # messages stay in order in one of them; the MQTT process itself needs about one core.
    workers: int = Field(default=2, ge=1, le=64)
    batch_max: int = Field(default=5_000, ge=1)
    # A batch also ends at this many payload bytes (5,000 site batches of 50 items would be
    # 250,000 rows held at once). Decoded, a usage session takes about twice its JSON. Larger
    # batches cost fewer rollup updates per row, up to about this size.
    batch_max_bytes: int = Field(default=4 * 1024 * 1024, ge=1)
    batch_wait_ms: int = Field(default=50, ge=0)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9108, ge=0, le=65_535)
    # A device silent for three heartbeat intervals is marked offline; this is how often to look.
    offline_check_s: float = Field(default=30.0, gt=0)
    offline_after_heartbeats: int = Field(default=3, ge=1)
    default_heartbeat_s: int = Field(default=300, gt=0)
    registry_refresh_s: float = Field(default=2.0, ge=0)
    log_format: Literal["json", "console"] = "json"

    @model_validator(mode="after")
    def _refuse_anonymous_mqtt_in_production(self) -> IngestSettings:
        if self.env == "prod" and self.mqtt_password is None:
            raise ValueError("FITMON_MQTT_PASSWORD must be set in production")
        return self

    @property
    def mqtt_host(self) -> str:
        return urlsplit(self.mqtt_url).hostname or "127.0.0.1"

    @property
    def mqtt_port(self) -> int:
        parts = urlsplit(self.mqtt_url)
        return parts.port or (8883 if parts.scheme == "mqtts" else 1883)

    @property
    def mqtt_tls(self) -> bool:
        return urlsplit(self.mqtt_url).scheme == "mqtts"
