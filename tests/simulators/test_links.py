"""The asyncio paho links against the real broker: bounded windows, last wills on a drop."""

from __future__ import annotations

import asyncio
import threading
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from cli.services import LocalBroker
from devices.protocol import Will
from simulators.delivery import LinkSpec
from simulators.links import close_links, drain, open_links
from simulators.messages import will
from tests.support import wait_until


class Listener:
    """A plain paho subscriber on its own thread, recording what arrives."""

    def __init__(self, broker: LocalBroker, topic: str) -> None:
        self.received: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=uuid.uuid4().hex)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def payloads(self) -> list[bytes]:
        with self._lock:
            return [payload for _, payload, _ in self.received]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_unacknowledged_publishes_never_exceed_the_window(
    broker: LocalBroker, topic_root: str
) -> None:
    async def publish_many() -> tuple[int, int]:
        links = await open_links(
            [LinkSpec(f"w-{uuid.uuid4().hex[:8]}", None, None)],
            url=broker.url,
            mqtt5=broker.supports_mqtt5,
            window=8,
        )
        link, most = links[0], 0
        for n in range(3000):
            if link.full:
                await link.wait_room()
            link.publish(f"{topic_root}/load", str(n).encode())
            most = max(most, link.pending)
            if n % 64 == 0:
                await asyncio.sleep(0)
        left = await drain(links, 30)
        await close_links(links)
        return most, left

    listener = Listener(broker, f"{topic_root}/load")
    try:
        most, left = asyncio.run(publish_many())
        assert most == 8
        assert left == 0
        wait_until(lambda: len(listener.payloads()) == 3000, 20, "all 3000 messages")
    finally:
        listener.close()


def test_a_dropped_device_link_makes_the_broker_publish_its_will(
    broker: LocalBroker, topic_root: str
) -> None:
    status = f"{topic_root}/320102-0001/320102-0001-001-X/status"

    async def drop_and_return() -> None:
        spec = LinkSpec(f"d-{uuid.uuid4().hex[:8]}", status, will(41))
        links = await open_links([spec], url=broker.url, mqtt5=broker.supports_mqtt5, window=8)
        links[0].drop()
        # the broker has noticed the drop once it publishes the will
        await asyncio.to_thread(wait_until, listener.payloads, 10, "the will after the drop")
        await links[0].reconnect(status, will(42))
        assert links[0].client.is_connected()
        await close_links(links)

    listener = Listener(broker, status)
    try:
        asyncio.run(drop_and_return())
        wills = wait_until(listener.payloads, 10, "the will of boot 41")
        assert [Will.model_validate_json(p).boot for p in wills] == [41]
    finally:
        listener.close()
