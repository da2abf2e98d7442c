"""Settings of the notify process (`fitmon notify`), from FITMON_* environment variables.

Secrets come from the environment only: FITMON_SECRET_KEY (which seals the robots' URLs and
signing secrets kept in the database) and FITMON_SMTP_PASSWORD.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from db.settings import DatabaseSettings
from notifications.sealed import SecretKeySettings


class NotifySettings(DatabaseSettings, SecretKeySettings):
    # Retries: exponential backoff from the first delay, doubling, capped, with jitter (each wait
    # is drawn between half of it and all of it); dead after the last try.
    max_attempts: int = Field(default=8, ge=1, le=50)
    retry_first_s: float = Field(default=5, gt=0)
    retry_max_s: float = Field(default=600, gt=0)
    # One send may take this long; a receiver that hangs costs its own lane this much, no other.
    send_timeout_s: float = Field(default=10, gt=0, le=120)
    # Lanes sent to at once (each lane, one recipient channel, is sent to by one thread at a time).
    workers: int = Field(default=16, ge=1, le=256)
    # The robots' rate limits (DOMAIN: WeCom and DingTalk 20 a minute, Feishu 100 a minute and 5
    # a second) over a window that is a minute in production; 0 = no limit (webhook, e-mail, MQTT).
    rate_window_s: float = Field(default=60, gt=0)
    wecom_per_window: int = Field(default=20, ge=0)
    dingtalk_per_window: int = Field(default=20, ge=0)
    feishu_per_window: int = Field(default=100, ge=0)
    feishu_per_second: int = Field(default=5, ge=0)
    webhook_per_window: int = Field(default=0, ge=0)
    # Once a lane has used half its window's messages, what comes next waits this long to be
    # grouped (by site, then by crew) with what follows; at most this many alerts in one message.
    group_wait_s: float = Field(default=10, ge=0)
    group_max_items: int = Field(default=20, ge=1, le=200)
    # E-mail (SMTP): STARTTLS on 587, TLS on 465, or none (a relay on localhost only).
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65_535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "fitmon <fitmon@localhost>"
    # MQTT for crew apps: a topic per crew, `{notify_topic_root}/crews/{crew id}`, QoS 1, not
    # retained. No URL: no MQTT deliveries.
    notify_mqtt_url: str | None = None
    notify_topic_root: str = "fitmon/notifications"
    # Where a ticket's page is: `{id}` is replaced by the ticket's id.
    ticket_url: str = "http://127.0.0.1:8000/crew/tickets/{id}"
    # A folder of templates replacing the shipped ones of the same name (notifications/templates).
    templates_dir: str | None = None
    metrics_port: int = Field(default=9110, ge=0, le=65_535)
    log_format: Literal["json", "console"] = "json"

    @model_validator(mode="after")
    def _tls_unless_local(self) -> NotifySettings:
        local = self.smtp_host in (None, "localhost", "127.0.0.1", "::1")
        if self.env == "prod" and self.smtp_security == "none" and not local:
            raise ValueError("FITMON_SMTP_SECURITY=none is for a relay on localhost only")
        return self
