"""`fitmon broker-auth` against a real Mosquitto: the password file and ACL it writes from the
registry let each device publish only its own topics, each site gateway only its own site, ingest
read everything, and refuse everyone else; a regenerated pair is taken on SIGHUP."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from cli.main import fitmon
from cli.services import wait_for_port
from db.embedded import free_port
from tests.support import load_registry, make_registry, wait_until

SECRET = "a test secret of more than sixteen characters"
INGEST_PASSWORD = "ingest's own password"  # FITMON_MQTT_PASSWORD, as docker-compose gives it
ROOT = "fitness/v1"
NOT_AUTHORIZED = 135  # MQTT 5 reason code 0x87
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"

pytestmark = pytest.mark.skipif(
    not Path(MOSQUITTO).exists(), reason="needs Mosquitto (Debian's mosquitto package)"
)


@dataclass
class Session:
    """A connected MQTT 5 client that records what the broker answered and what it received."""

    client: mqtt.Client
    connected: list[int] = field(default_factory=list)
    acks: dict[int, int] = field(default_factory=dict)
    granted: list[int] = field(default_factory=list)
    received: list[str] = field(default_factory=list)

    def publish(self, topic: str) -> int:
        info = self.client.publish(topic, b'{"v":1}', qos=1)
        return wait_until(lambda: self.acks.get(info.mid), 10, f"PUBACK for {topic}") or 0

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def connect(port: int, username: str | None, password: str | None) -> Session:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:10]}", protocol=mqtt.MQTTv5
    )
    session = Session(client)

    def on_connect(_c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        session.connected.append(reason.value)

    def on_publish(_c: Any, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        session.acks[mid] = reason.value or -1  # success is 0: kept as -1 to be truthy

    def on_subscribe(_c: Any, _u: Any, _m: int, reasons: list[ReasonCode], _p: Any) -> None:
        session.granted.extend(r.value for r in reasons)

    def on_message(_c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        session.received.append(message.topic)

    client.on_connect, client.on_publish = on_connect, on_publish
    client.on_subscribe, client.on_message = on_subscribe, on_message
    if username is not None:
        client.username_pw_set(username, password)
    client.connect("127.0.0.1", port)
    client.loop_start()
    wait_until(lambda: session.connected, 10, f"CONNACK for {username}")
    return session


@dataclass(frozen=True)
class Broker:
    port: int
    directory: Path
    process: subprocess.Popen[bytes]


def write_files(database_url: str, directory: Path) -> str:
    result = CliRunner().invoke(
        fitmon,
        [
            "broker-auth",
            "--password-file",
            str(directory / "passwd"),
            "--acl-file",
            str(directory / "acl"),
            "--database-url",
            database_url,
        ],
        env={
            "FITMON_BROKER_SECRET": SECRET,
            "FITMON_TOPIC_ROOT": ROOT,
            "FITMON_MQTT_USERNAME": "fitmon-ingest",
            "FITMON_MQTT_PASSWORD": INGEST_PASSWORD,
        },
    )
    assert result.exit_code == 0, result.output
    return result.output


def password(username: str) -> str:
    result = CliRunner().invoke(
        fitmon, ["broker-auth", "password", username], env={"FITMON_BROKER_SECRET": SECRET}
    )
    assert result.exit_code == 0, result.output
    return result.output.strip()


@pytest.fixture(scope="module")
def registry(database_url: str) -> tuple[str, str, str, str, str]:
    """(site 1, device A at site 1, site 2, device B at site 2, retired device at site 1)."""
    first = load_registry(database_url, make_registry(items=2))
    second = load_registry(database_url, make_registry(items=1))
    (a, retired), (b,) = [e.code for e in first.equipment], [e.code for e in second.equipment]
    import psycopg  # noqa: PLC0415

    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE equipment SET service_status = 'retired' WHERE code = %s", (retired,))
    return first.sites[0].code, a, second.sites[0].code, b, retired


@pytest.fixture(scope="module")
def broker(database_url: str, registry: object) -> Iterator[Broker]:
    # Mosquitto started as root reads its files as user mosquitto, as deployed (docs).
    directory = Path(tempfile.mkdtemp(prefix="fitmon-broker-auth-"))
    output = write_files(database_url, directory)
    assert "site gateway(s), fitmon-ingest" in output
    if os.geteuid() == 0:
        broker_user = pwd.getpwnam("mosquitto")
        for path in (directory, directory / "passwd", directory / "acl"):
            os.chown(path, broker_user.pw_uid, broker_user.pw_gid)
    port = free_port()
    (directory / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\npersistence false\n"
        f"password_file {directory / 'passwd'}\nacl_file {directory / 'acl'}\n"
        f"log_dest file {directory / 'mosquitto.log'}\n"
    )
    process = subprocess.Popen([MOSQUITTO, "-c", str(directory / "mosquitto.conf")])
    try:
        wait_for_port("127.0.0.1", port, 20)
        yield Broker(port, directory, process)
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(directory)


@pytest.fixture
def ingest(broker: Broker) -> Iterator[Session]:
    session = connect(broker.port, "fitmon-ingest", INGEST_PASSWORD)
    session.client.subscribe(f"{ROOT}/#", qos=1)
    wait_until(lambda: session.granted, 10, "SUBACK")
    yield session
    session.close()


def test_each_device_publishes_its_own_topics_and_nothing_else(
    broker: Broker, registry: tuple[str, str, str, str, str], ingest: Session
) -> None:
    site_1, device_a, site_2, device_b, _ = registry
    assert ingest.connected == [0]
    assert ingest.granted == [1]
    a = connect(broker.port, device_a, password(device_a))
    try:
        assert a.connected == [0]
        sibling = f"{site_1}-999-0"
        assert a.publish(f"{ROOT}/{site_2}/{device_b}/usage") == NOT_AUTHORIZED
        assert a.publish(f"{ROOT}/{site_2}/batch") == NOT_AUTHORIZED
        assert a.publish(f"{ROOT}/{site_1}/{sibling}/usage") == NOT_AUTHORIZED
        assert a.publish(f"{ROOT}/{site_1}/batch") == NOT_AUTHORIZED  # the gateway's topic
        assert a.publish(f"elsewhere/{site_1}/{device_a}/usage") == NOT_AUTHORIZED
        own = f"{ROOT}/{site_1}/{device_a}/usage"
        assert a.publish(own) == -1  # accepted
        # Delivery keeps order: once the allowed one is in, none of the refused ones came.
        wait_until(lambda: own in ingest.received, 10, "the device's own message at ingest")
        assert [t for t in ingest.received if device_a in t or site_2 in t] == [own]
        # Mosquitto grants the subscription and checks reading per message: a device reads
        # nothing, not even its own messages, which are queued to it ahead of a later PUBACK.
        a.client.subscribe(f"{ROOT}/#", qos=1)
        wait_until(lambda: a.granted, 10, "SUBACK")
        assert a.publish(own) == -1
        wait_until(lambda: ingest.received.count(own) == 2, 10, "the second message at ingest")
        assert a.publish(own) == -1
        assert a.received == []
    finally:
        a.close()


def test_a_site_gateway_publishes_under_its_own_site_only(
    broker: Broker, registry: tuple[str, str, str, str, str], ingest: Session
) -> None:
    site_1, device_a, site_2, _, _ = registry
    gateway = connect(broker.port, f"gw-{site_1}", password(f"gw-{site_1}"))
    try:
        assert gateway.connected == [0]
        assert gateway.publish(f"{ROOT}/{site_2}/batch") == NOT_AUTHORIZED
        assert gateway.publish(f"{ROOT}/{site_1}/batch") == -1
        assert gateway.publish(f"{ROOT}/{site_1}/{device_a}/status") == -1
        assert gateway.publish(f"{ROOT}/{site_1}/gateway/status") == -1  # its last will's topic
    finally:
        gateway.close()


def test_wrong_unknown_retired_and_anonymous_callers_are_refused(
    broker: Broker, registry: tuple[str, str, str, str, str]
) -> None:
    _, device_a, _, device_b, retired = registry
    for username, secret in (
        (device_b, password(device_a)),  # another device's password
        (device_a, password(device_a)[:-1] + "x"),
        (retired, password(retired)),  # retired items are not in the file
        ("320705-0042-007-4", password("320705-0042-007-4")),  # not registered here
        (None, None),
    ):
        session = connect(broker.port, username, secret)
        try:
            assert session.connected[0] != 0, username
        finally:
            session.close()


def test_a_device_registered_later_connects_after_regenerating_and_sighup(
    database_url: str, broker: Broker
) -> None:
    site = load_registry(database_url, make_registry(items=1)).equipment[0]
    before = connect(broker.port, site.code, password(site.code))
    before.close()
    assert before.connected[0] != 0
    write_files(database_url, broker.directory)
    broker.process.send_signal(signal.SIGHUP)

    def admitted() -> bool:
        session = connect(broker.port, site.code, password(site.code))
        session.close()
        return session.connected[0] == 0

    wait_until(admitted, 10, "the new device admitted after SIGHUP", interval=0.2)


def test_the_files_keep_only_hashes_and_bad_settings_write_nothing(
    database_url: str, broker: Broker, registry: tuple[str, str, str, str, str]
) -> None:
    device_a = registry[1]
    passwd = (broker.directory / "passwd").read_text()
    assert password(device_a) not in passwd
    assert INGEST_PASSWORD not in passwd
    assert f"\n{device_a}:$7$101$" in passwd
    target = ["--password-file", str(broker.directory / "x" / "passwd"), "--acl-file"]
    target += [str(broker.directory / "x" / "acl"), "--database-url", database_url]
    for env, said in (
        ({"FITMON_BROKER_SECRET": "short"}, "broker_secret"),
        ({"FITMON_ENV": "prod", "FITMON_DATABASE_URL": database_url}, "FITMON_BROKER_SECRET"),
        ({"FITMON_BROKER_SECRET": SECRET, "FITMON_MQTT_USERNAME": device_a}, "also a device"),
        ({"FITMON_BROKER_SECRET": SECRET, "FITMON_TOPIC_ROOT": "fitness/#"}, "topic root"),
    ):
        result = CliRunner().invoke(fitmon, ["broker-auth", *target], env=env)
        assert result.exit_code == 2, (env, result.output)
        assert said in result.output
    assert not (broker.directory / "x").exists()
    bad_code = CliRunner().invoke(fitmon, ["broker-auth", "password", "320705-0042-007-5"])
    assert bad_code.exit_code == 2
    assert "check character" in bad_code.output
