"""MQTT connections on asyncio through paho's external-loop API (loop_read/loop_write/misc).

Each link bounds its unacknowledged QoS 1 publishes: paho refuses new ones once 65,535 ids are in
flight (MQTT_ERR_QUEUE_SIZE), and a bounded window keeps memory flat under back-pressure.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from devices.broker_logins import derived_password
from simulators.delivery import LinkSpec

KEEPALIVE_S = 60
RECONNECT_DELAY_S = 1.0
_NO_CONN = mqtt.MQTT_ERR_NO_CONN


class LinkError(RuntimeError):
    pass


def parse_mqtt_url(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        raise ValueError(f"MQTT URL must look like mqtt://host:port, got {url!r}")
    return parts.hostname, parts.port or 1883


class Link:
    """One connection: a device, a site gateway, or a member of a pool."""

    def __init__(
        self,
        spec: LinkSpec,
        *,
        host: str,
        port: int,
        mqtt5: bool,
        window: int,
        password: str | None = None,
    ) -> None:
        self.spec = spec
        self.host, self.port, self.mqtt5, self.window = host, port, mqtt5, window
        self.loop = asyncio.get_running_loop()
        self.pending = 0  # QoS 1 publishes not yet acknowledged by the broker
        self.dropped = False  # a simulated outage: no reconnect until told
        self.closing = False
        self.abandoned = False  # the run is stopping and gave up waiting for the broker
        self.connected = asyncio.Event()
        self.room = asyncio.Event()
        self.failure: str | None = None
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=spec.client_id,
            protocol=mqtt.MQTTv5 if mqtt5 else mqtt.MQTTv311,
        )
        # The window below bounds what is in flight; paho's own limit would only rescan its
        # outgoing messages on every acknowledgement.
        client.max_inflight_messages_set(0)
        client.max_queued_messages_set(0)
        if spec.will_topic is not None:
            client.will_set(spec.will_topic, spec.will_payload, qos=1, retain=True)
        if spec.username is not None and password is not None:
            client.username_pw_set(spec.username, password)
        client.on_socket_open = self._socket_open
        client.on_socket_close = self._socket_close
        client.on_socket_register_write = self._register_write
        client.on_socket_unregister_write = self._unregister_write
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self.client = client

    # paho's socket callbacks: hand the socket to the asyncio loop
    def _socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.loop.add_reader(sock, client.loop_read)

    def _socket_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.loop.remove_reader(sock)
        self.loop.remove_writer(sock)

    def _register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.loop.add_writer(sock, client.loop_write)

    def _unregister_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.loop.remove_writer(sock)

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        # A refused link retries after its disconnect like any lost one; admitted, it is cleared.
        refused = reason.is_failure
        self.failure = f"broker refused {self.spec.client_id}: {reason}" if refused else None
        self.connected.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        self.connected.clear()
        if not (self.dropped or self.closing):  # lost by accident: come back, paho resends
            self.loop.call_later(RECONNECT_DELAY_S, self._reconnect_quietly)

    def _reconnect_quietly(self) -> None:
        if self.dropped or self.closing or self.connected.is_set():
            return
        try:
            self.client.reconnect()
        except OSError:
            self.loop.call_later(RECONNECT_DELAY_S, self._reconnect_quietly)

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, properties: Any
    ) -> None:
        self.pending -= 1
        if self.pending < self.window:
            self.room.set()

    def connect(self) -> None:
        """Start connecting (non-blocking after the TCP handshake); await `connected` after."""
        self.client.connect(self.host, self.port, keepalive=KEEPALIVE_S)

    @property
    def full(self) -> bool:
        return self.pending >= self.window

    async def wait_room(self) -> None:
        while self.pending >= self.window and not self.abandoned:
            self.room.clear()
            await self.room.wait()

    def give_up(self) -> None:
        """Stop waiting for acknowledgements: what is published from now on is only counted."""
        self.abandoned = True
        self.room.set()

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        rc = self.client.publish(topic, payload, 1, retain).rc
        if rc and rc != _NO_CONN:  # NO_CONN: paho keeps it and sends it after the reconnect
            raise LinkError(
                f"{self.spec.client_id} could not publish on {topic}: {mqtt.error_string(rc)}"
            )
        self.pending += 1

    def drop(self) -> None:
        """A simulated outage: the link dies without DISCONNECT, so the broker sends the will.

        MQTT 3.1.1 §3.1.2.5 and 5 §3.1.2.5: the will is published when the network connection
        closes without a DISCONNECT packet, as it does when a real device loses power or signal.
        """
        self.dropped = True
        sock = self.client.socket()
        if isinstance(sock, socket.socket):
            sock.shutdown(socket.SHUT_RDWR)
            self.client.loop_read()  # paho sees the end now, so a reconnect starts afresh

    async def reconnect(self, will_topic: str, will_payload: bytes) -> None:
        """Back from an outage or a reboot, with the will of the current boot."""
        self.dropped = False
        if self.client.is_connected():
            return
        self.client.will_set(will_topic, will_payload, qos=1, retain=True)
        self.connected.clear()
        self.client.reconnect()
        await asyncio.wait_for(self.connected.wait(), 30)

    def misc(self) -> None:
        self.client.loop_misc()

    def close(self) -> None:
        self.closing = True
        if self.client.is_connected():
            self.client.disconnect()


async def open_links(
    specs: list[LinkSpec],
    *,
    url: str,
    mqtt5: bool,
    window: int,
    timeout_s: float = 120.0,
    stop: asyncio.Event | None = None,
    broker_secret: str | None = None,
    sign_in_wait_s: float = 0.0,
) -> list[Link]:
    """Connect every link (a few thousand a second on localhost) and wait for every CONNACK, or
    until `stop` is set: a run told to stop while its broker does not answer stops at once.

    With `broker_secret`, each device and gateway signs in with its own login; links the broker
    refuses keep trying for `sign_in_wait_s` (a broker reloading new logins) before the run fails.
    """
    host, port = parse_mqtt_url(url)
    links = [
        Link(
            spec,
            host=host,
            port=port,
            mqtt5=mqtt5,
            window=window,
            password=(
                derived_password(broker_secret, spec.username)
                if broker_secret and spec.username
                else None
            ),
        )
        for spec in specs
    ]
    for n, link in enumerate(links):
        link.connect()
        if n % 200 == 199:
            await asyncio.sleep(0)  # read CONNACKs while connecting the rest
    stopped = asyncio.ensure_future((stop or asyncio.Event()).wait())
    try:
        async with asyncio.timeout(timeout_s):
            for link in links:
                connected = asyncio.ensure_future(link.connected.wait())
                await asyncio.wait({connected, stopped}, return_when=asyncio.FIRST_COMPLETED)
                connected.cancel()
                if stopped.done():
                    return links
    finally:
        stopped.cancel()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + sign_in_wait_s
    refused = [link for link in links if link.failure]
    while refused and loop.time() < deadline and not (stop and stop.is_set()):
        await asyncio.sleep(RECONNECT_DELAY_S)  # meanwhile each refused link tries again
        refused = [link for link in refused if link.failure]
    failures = [link.failure for link in links if link.failure]
    if failures:
        raise LinkError(f"{len(failures)} connection(s) refused, first: {failures[0]}")
    return links


async def keep_alive(links: list[Link], stop: asyncio.Event) -> None:
    """paho's loop_misc (keepalive pings) for every link, a few times per keepalive period."""
    while True:
        for n, link in enumerate(links):
            link.misc()
            if n % 1000 == 999:
                await asyncio.sleep(0)
        try:
            await asyncio.wait_for(stop.wait(), KEEPALIVE_S / 4)
        except TimeoutError:
            continue
        return


async def drain(links: list[Link], timeout_s: float) -> int:
    """Wait until the broker acknowledged every publish (or the links gave up); returns how many
    were still pending."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if all(link.pending <= 0 or link.abandoned for link in links):
            return 0
        await asyncio.sleep(0.05)
    return sum(max(link.pending, 0) for link in links)


async def close_links(links: list[Link]) -> None:
    for link in links:
        link.close()
    await asyncio.sleep(0.1)  # let the DISCONNECT packets go out
