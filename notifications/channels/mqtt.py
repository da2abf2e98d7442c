"""MQTT for crew apps: a topic per crew, QoS 1 (the broker acknowledges each message), never
retained (an app that connects later reads the tickets from the API, not a stale alert)."""

from __future__ import annotations

import json
import ssl
import threading
import uuid
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from notifications.channels.base import Answer, ChannelKind, Message, Target


class MqttChannel:
    kind: ChannelKind = "mqtt"

    def __init__(self, url: str, *, client_id: str | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"an MQTT URL is mqtt://host:port or mqtts://host:port, not {url!r}")
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"fitmon-notify-{uuid.uuid4().hex[:10]}",
        )
        if parts.username:
            self.client.username_pw_set(parts.username, parts.password)
        if parts.scheme == "mqtts":
            self.client.tls_set_context(ssl.create_default_context())
        self.client.reconnect_delay_set(1, 10)
        self._connected = threading.Event()
        self.client.on_connect = lambda *args: self._connected.set()
        self.client.on_disconnect = lambda *args: self._connected.clear()
        port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        self.client.connect_async(parts.hostname, port)
        self.client.loop_start()

    def send(self, target: Target, message: Message, *, timeout_s: float) -> Answer:
        if not self._connected.wait(timeout_s):
            return Answer(False, True, "connect", "not connected to the MQTT broker")
        payload = json.dumps(
            {
                "key": message.key,
                "title": message.title,
                "severity": message.severity,
                "text": message.text,
                "markdown": message.markdown,
                "link": message.link,
                "count": message.count,
                "subjects": list(message.subjects),
            },
            ensure_ascii=False,
        )
        info = self.client.publish(target.address, payload, qos=1, retain=False)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return Answer(False, True, str(info.rc), mqtt.error_string(info.rc))
        try:
            info.wait_for_publish(timeout_s)
        except RuntimeError as exc:  # the connection went before the broker acknowledged
            return Answer(False, True, "disconnected", str(exc))
        if not info.is_published():
            return Answer(False, True, "timeout", f"no PUBACK within {timeout_s} s")
        return Answer(True, False, "puback", "acknowledged by the broker")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
