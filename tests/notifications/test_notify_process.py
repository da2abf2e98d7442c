"""`fitmon notify` as its own process: it delivers to a crew's MQTT topic on the real broker
(QoS 1, not retained), exposes its deliveries on /metrics, and stops at once on SIGTERM."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client.parser import text_string_to_metric_families

from cli.services import LocalBroker
from db.embedded import free_port
from tests.maintenance.support import World
from tests.notifications.support import delivery_rows, raise_fault
from tests.support import wait_until


def _metric(port: int, name: str, **labels: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
            text = answer.read().decode()
    except OSError:
        return None
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and labels.items() <= s.labels.items()
    )


def test_notify_process_publishes_to_the_crews_topic_and_stops_on_sigterm(
    database_url: str,
    conn: psycopg.Connection[Any],
    world: World,
    broker: LocalBroker,
    tmp_path: Path,
) -> None:
    root = f"t{uuid.uuid4().hex[:10]}/notifications"
    got: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    app = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"crew-app-{uuid.uuid4().hex[:8]}")
    app.on_message = lambda client, userdata, message: got.put(message)
    host, _, port = broker.url.removeprefix("mqtt://").partition(":")
    app.connect(host, int(port))
    app.subscribe(f"{root}/crews/{world.crew_id}", qos=1)
    app.loop_start()
    metrics_port = free_port()
    env = {
        **os.environ,
        "FITMON_ENV": "test",
        "FITMON_DATABASE_URL": database_url,
        "FITMON_NOTIFY_MQTT_URL": broker.url,
        "FITMON_NOTIFY_TOPIC_ROOT": root,
        "FITMON_METRICS_PORT": str(metrics_port),
        "FITMON_LOG_FORMAT": "json",
    }
    log_path = tmp_path / "notify.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "notify"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_until(
            lambda: "notify service started" in log_path.read_text(), 30, "the notify process"
        )
        alert = raise_fault(conn, world.codes[0])
        message = got.get(timeout=20)
        assert message.qos == 1
        assert not message.retain
        payload = json.loads(message.payload)
        assert world.codes[0] in payload["text"]
        assert payload["severity"] == "critical"
        assert payload["link"].endswith(f"/crew/tickets/{alert.ticket_id}")
        (delivery,) = wait_until(
            lambda: [
                r
                for r in delivery_rows(conn, "o.alert_id = %s", alert.id)
                if r["status"] == "delivered"
            ],
            message="the delivery recorded",
        )
        assert delivery["kind"] == "mqtt"
        assert delivery["attempts"] == 1
        wait_until(
            lambda: (_metric(metrics_port, "fitmon_notify_attempts_total", kind="mqtt") or 0) >= 1,
            message="the attempts counter",
        )
        assert _metric(metrics_port, "fitmon_notify_deliveries", status="dead") is not None
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        assert time.monotonic() - started < 5
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        app.loop_stop()
        app.disconnect()
