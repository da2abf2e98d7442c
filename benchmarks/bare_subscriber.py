"""Baseline (a) of benchmarks/ingest.py: a paho subscriber that only counts, in its own process.

It resumes a persistent session that the caller created and loaded, counts messages (paho's auto
ack) until it has `expected`, and prints `<count> <seconds from the first to the last message>`.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

RECEIVE_MAXIMUM = 20_000  # the same window as ingest's default receive_maximum
SESSION_EXPIRY_S = 3600


class Mqtt:
    """A paho client of 127.0.0.1:`port` whose connect() waits for the CONNACK."""

    def __init__(self, port: int, client_id: str, *, v5: bool, persistent: bool) -> None:
        self.v5 = v5
        self._port = port
        self._persistent = persistent
        self._connected = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else not persistent,
        )
        self.client.on_connect = self._on_connect

    def connect(self) -> None:
        properties = None
        if self.v5 and self._persistent:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = SESSION_EXPIRY_S
            properties.ReceiveMaximum = RECEIVE_MAXIMUM
        self.client.connect(
            "127.0.0.1",
            self._port,
            clean_start=not self._persistent if self.v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
        )
        self.client.loop_start()
        if not self._connected.wait(20):
            raise TimeoutError(f"no CONNACK from 127.0.0.1:{self._port} within 20 s")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if not reason_code.is_failure:
            self._connected.set()


def create_session(port: int, client_id: str, topic: str, *, v5: bool) -> None:
    """Subscribe `client_id` to `topic` at QoS 1 in a persistent session, then go away."""
    subscribed = threading.Event()
    client = Mqtt(port, client_id, v5=v5, persistent=True)
    client.client.on_subscribe = lambda *_: subscribed.set()
    client.connect()
    client.client.subscribe(topic, qos=1)
    if not subscribed.wait(20):
        raise TimeoutError("no SUBACK from the broker within 20 s")
    client.close()


def count_messages(port: int, client_id: str, expected: int, *, v5: bool) -> tuple[int, float]:
    """Resume the session and count until `expected`; (count, seconds first to last message)."""
    count, first, last = 0, 0.0, 0.0
    done = threading.Event()

    def on_message(client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        nonlocal count, first, last
        last = time.perf_counter()
        if count == 0:
            first = last
        count += 1
        if count == expected:
            done.set()

    consumer = Mqtt(port, client_id, v5=v5, persistent=True)
    consumer.client.on_message = on_message
    consumer.connect()
    try:
        if not done.wait(max(120.0, expected / 1000)):
            raise TimeoutError(f"the bare subscriber received {count} of {expected} messages")
    finally:
        consumer.close()
    return count, last - first


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bare_subscriber")
    parser.add_argument("port", type=int)
    parser.add_argument("client_id")
    parser.add_argument("expected", type=int)
    parser.add_argument("--mqtt", choices=["5", "3.1.1"], default="5")
    args = parser.parse_args(argv)
    count, seconds = count_messages(args.port, args.client_id, args.expected, v5=args.mqtt == "5")
    print(count, seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
