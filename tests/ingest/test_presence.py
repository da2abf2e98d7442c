"""Online state: birth and traffic bring a device online, a will or silence takes it offline."""

from __future__ import annotations

from collections.abc import Callable

from cli.services import LocalBroker
from tests.support import (
    IngestProcess,
    Publisher,
    birth,
    item_topic,
    load_registry,
    make_registry,
    scalar,
    usage,
    wait_until,
)


def online(database_url: str, code: str) -> object:
    return scalar(database_url, "SELECT online FROM device_state WHERE code = %s", code)


def presence(database_url: str, code: str) -> object:
    return scalar(
        database_url,
        "SELECT string_agg(reason || ':' || online, ',' ORDER BY at) FROM device_presence "
        "WHERE code = %s",
        code,
    )


def test_will_marks_device_offline_and_a_will_older_than_the_latest_birth_is_ignored(
    database_url: str,
    ingest_factory: Callable[..., IngestProcess],
    publisher: Publisher,
    topic_root: str,
) -> None:
    code = load_registry(database_url, make_registry(items=1)).equipment[0].code
    status = item_topic(topic_root, code, "status")
    ingest = ingest_factory()
    publisher.publish(item_topic(topic_root, code, "birth"), birth(code, boot=4))
    wait_until(lambda: online(database_url, code) is True, message="online after birth")

    publisher.publish(status, {"v": 1, "online": False, "boot": 4})
    wait_until(lambda: online(database_url, code) is False, message="offline after will")
    assert (
        scalar(database_url, "SELECT offline_reason FROM device_state WHERE code = %s", code)
        == "will"
    )

    publisher.publish(item_topic(topic_root, code, "birth"), birth(code, boot=5))
    wait_until(lambda: online(database_url, code) is True, message="online after reboot")
    # the broker delivers the will of the previous connection late: boot 4 < 5, stale
    publisher.publish(status, {"v": 1, "online": False, "boot": 4})
    wait_until(
        lambda: ingest.metric("fitmon_ingest_wills_total", result="stale") == 1,
        message="stale will counted",
    )
    assert online(database_url, code) is True
    assert scalar(database_url, "SELECT boot FROM device_state WHERE code = %s", code) == 5
    assert presence(database_url, code) == "traffic:true,will:false,traffic:true"


def test_device_silent_for_three_heartbeats_is_marked_offline_and_returns_with_traffic(
    database_url: str,
    ingest_factory: Callable[..., IngestProcess],
    publisher: Publisher,
    topic_root: str,
) -> None:
    code = load_registry(database_url, make_registry(items=1)).equipment[0].code
    ingest = ingest_factory(FITMON_OFFLINE_CHECK_S="0.5")
    publisher.publish(item_topic(topic_root, code, "birth"), birth(code, heartbeat_s=1))
    wait_until(lambda: online(database_url, code) is True, message="online after birth")
    # three 1-second heartbeats missed, plus one check interval
    wait_until(lambda: online(database_url, code) is False, timeout=10, message="silent offline")
    assert (
        scalar(database_url, "SELECT offline_reason FROM device_state WHERE code = %s", code)
        == "silent"
    )
    wait_until(
        lambda: ingest.metric("fitmon_ingest_devices_marked_offline_total") >= 1,
        message="the offline marking counted",
    )
    publisher.publish(item_topic(topic_root, code, "usage"), usage(code, 1))
    wait_until(lambda: online(database_url, code) is True, message="back online with traffic")
    assert presence(database_url, code) == "traffic:true,silent:false,traffic:true"


def test_device_last_will_set_by_a_real_client_marks_it_offline_when_it_drops(
    database_url: str,
    ingest_factory: Callable[..., IngestProcess],
    broker: LocalBroker,
    topic_root: str,
) -> None:
    import json  # noqa: PLC0415
    import socket  # noqa: PLC0415

    import paho.mqtt.client as mqtt  # noqa: PLC0415
    from paho.mqtt.enums import CallbackAPIVersion  # noqa: PLC0415

    code = load_registry(database_url, make_registry(items=1)).equipment[0].code
    ingest_factory()
    device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"dev-{code}")
    device.will_set(
        item_topic(topic_root, code, "status"),
        json.dumps({"v": 1, "online": False, "boot": 2}),
        qos=1,
        retain=True,
    )
    device.connect("127.0.0.1", broker.port, keepalive=5)
    device.loop_start()
    device.publish(
        item_topic(topic_root, code, "birth"), json.dumps(birth(code, boot=2)), qos=1
    ).wait_for_publish(10)
    wait_until(lambda: online(database_url, code) is True, message="online after birth")
    device.loop_stop()
    sock = device.socket()
    assert isinstance(sock, socket.socket)
    sock.shutdown(socket.SHUT_RDWR)  # an unclean drop: the broker publishes the will
    sock.close()
    wait_until(lambda: online(database_url, code) is False, message="offline after dropped link")
