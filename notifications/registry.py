"""Which adapter delivers each kind of channel, built from the notify process's settings."""

from __future__ import annotations

import ssl

import httpx

from notifications.channels.base import Channel, ChannelKind
from notifications.channels.dingtalk import DingTalkChannel
from notifications.channels.email import EmailChannel, SmtpServer
from notifications.channels.feishu import FeishuChannel
from notifications.channels.mqtt import MqttChannel
from notifications.channels.webhook import WebhookChannel
from notifications.channels.wecom import WeComChannel
from notifications.settings import NotifySettings


def build_channels(
    settings: NotifySettings, http: httpx.Client, *, smtp_context: ssl.SSLContext | None = None
) -> dict[ChannelKind, Channel]:
    """The adapters this process can use: the HTTP ones always, e-mail when an SMTP host is set,
    MQTT when a broker URL is. A delivery to a kind left out is dead-lettered, saying why."""
    channels: dict[ChannelKind, Channel] = {
        "webhook": WebhookChannel(http),
        "wecom": WeComChannel(http),
        "dingtalk": DingTalkChannel(http),
        "feishu": FeishuChannel(http),
    }
    if settings.smtp_host:
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        channels["email"] = EmailChannel(
            SmtpServer(
                settings.smtp_host,
                settings.smtp_port,
                settings.smtp_security,
                settings.smtp_from,
                settings.smtp_username,
                password,
                smtp_context,
            )
        )
    if settings.notify_mqtt_url:
        channels["mqtt"] = MqttChannel(settings.notify_mqtt_url)
    return channels


def http_client() -> httpx.Client:
    """One client for every HTTP lane: connections kept alive per host, redirects not followed
    (a robot that redirects is misconfigured, and the body must not go elsewhere)."""
    return httpx.Client(
        follow_redirects=False,
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        headers={"User-Agent": "fitmon-notify"},
    )
