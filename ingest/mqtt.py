"""The MQTT edge of ingest: a persistent paho session whose callback only enqueues.

QoS 1 messages are acknowledged (manual ack) only after the batch holding them is committed, so
the broker redelivers whatever a crash left uncommitted (MQTT 5 §4.4).
"""

from __future__ import annotations

import queue
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from devices.topics import subscription
from ingest.metrics import IngestMetrics
from ingest.settings import IngestSettings

log = structlog.get_logger(__name__)


class BufferedSocket:
    """A socket that paho reads through a 64 KiB buffer.

    paho reads each packet with three or more recv() calls (its first byte, its length a byte at
    a time, its body) and wakes select() for each: a system call per few bytes, most of what it
    costs to receive a small message. Behind this buffer one recv() takes in hundreds of packets,
    `pending()` tells paho's loop that more are there without select(), and `loop_read` below
    reads them all. Everything but receiving goes to the socket itself. paho's own websocket
    transport is a wrapper of the same shape.
    """

    _CHUNK = 64 * 1024

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buffer = b""
        self._pos = 0

    def recv(self, size: int) -> bytes:
        if self._pos >= len(self._buffer):
            data = self._sock.recv(max(size, self._CHUNK))  # BlockingIOError: nothing yet
            if len(data) <= size:
                return bytes(data)
            self._buffer, self._pos = data, 0
        start = self._pos
        self._pos = min(start + size, len(self._buffer))
        return self._buffer[start : self._pos]

    def buffered(self) -> int:
        return len(self._buffer) - self._pos

    def pending(self) -> int:
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return self.buffered() + inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _Client(mqtt.Client):
    """paho's client, receiving through a BufferedSocket (paho-mqtt 2.x, whose `_create_socket`
    and `_sock` this relies on; pyproject.toml pins below 3), and only while `room` is set."""

    room: threading.Event | None = None

    def _create_socket(self) -> Any:
        return BufferedSocket(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        room = self.room
        if room is not None and not room.wait(_FULL_WAIT_S):
            # Holding all it may: leave the rest with the broker (TCP pushes back) until commits
            # make room. paho's loop goes on meanwhile, writing acks and keeping the connection.
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        # paho reads one packet per call; take every one already buffered (each call consumes
        # at least a byte of the buffer, so this ends).
        rc = super().loop_read(max_packets)
        sock = self._sock
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and isinstance(sock, BufferedSocket):
            if not sock.buffered() or (room is not None and not room.is_set()):
                break
            rc = super().loop_read(max_packets)
            sock = self._sock
        return rc


_FULL_WAIT_S = 0.05


@dataclass(slots=True)
class Received:
    topic: str
    payload: bytes
    qos: int
    mid: int
    retain: bool
    received_at: float  # time.time() at arrival
    generation: int  # which connection delivered it; acks go only to that connection


class MqttSource:
    def __init__(
        self, settings: IngestSettings, inbox: queue.SimpleQueue[Received], metrics: IngestMetrics
    ) -> None:
        self._settings = settings
        self._inbox = inbox
        self._metrics = metrics
        self._v5 = settings.mqtt_protocol == "5"
        self.generation = 0
        self.connected = threading.Event()
        self.client = _Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.mqtt_client_id,
            protocol=mqtt.MQTTv5 if self._v5 else mqtt.MQTTv311,
            clean_session=None if self._v5 else False,
            manual_ack=True,
        )
        if settings.mqtt_username:
            password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
            self.client.username_pw_set(settings.mqtt_username, password)
        if settings.mqtt_tls:
            self.client.tls_set(tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        # What is received and not yet committed is bounded by message count (ReceiveMaximum) and
        # by bytes: past max_held_bytes ingest reads no more until commits make room.
        self._held_bytes = 0
        self._held_lock = threading.Lock()
        self._room = threading.Event()
        self._room.set()
        self.client.room = self._room
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def start(self) -> None:
        properties = None
        if self._v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self._settings.session_expiry_s
            properties.ReceiveMaximum = self._settings.receive_maximum
        self.client.connect_async(
            self._settings.mqtt_host,
            self._settings.mqtt_port,
            keepalive=30,
            clean_start=False if self._v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
        )
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self.connected.clear()
        self._metrics.connected.set(0)

    def ack(self, received: list[Received]) -> None:
        """Acknowledge committed QoS 1 messages still owned by the current connection, and stop
        holding them.

        A message from an earlier connection is redelivered on the new one with a packet id that
        may since have been given to another message, so its ack must not be sent (MQTT 5 §4.4).
        """
        generation = self.generation
        for item in received:
            if item.qos and item.generation == generation:
                self.client.ack(item.mid, item.qos)
        self._hold(-sum(len(item.payload) for item in received))

    @property
    def held_bytes(self) -> int:
        """Payload bytes received and not yet committed."""
        return self._held_bytes

    def _hold(self, size: int) -> None:
        with self._held_lock:
            self._held_bytes += size
            if self._held_bytes < self._settings.max_held_bytes:
                self._room.set()
            else:
                self._room.clear()

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.error("mqtt connection refused", reason=str(reason_code))
            return
        self.generation += 1
        topic = subscription(self._settings.topic_root)
        if self._v5:
            # Retained wills are sent only for a new subscription: a resumed session has seen them.
            client.subscribe(topic, options=SubscribeOptions(qos=1, retainHandling=1))
        elif not flags.session_present:
            client.subscribe(topic, qos=1)
        self.connected.set()
        self._metrics.connected.set(1)
        log.info(
            "mqtt connected",
            broker=self._settings.mqtt_url,
            session_present=flags.session_present,
            topic=topic,
        )

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self.connected.clear()
        self._metrics.connected.set(0)
        log.warning("mqtt disconnected", reason=str(reason_code))

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        payload = bytes(message.payload)
        self._hold(len(payload))
        self._inbox.put(
            Received(
                message.topic,
                payload,
                message.qos,
                message.mid,
                message.retain,
                time.time(),
                self.generation,
            )
        )
