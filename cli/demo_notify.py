"""The demo's notify process: alerts and notices go to every crew's MQTT topic on the demo's
broker (a crew app's view), and to any robot or webhook added with the API."""

from __future__ import annotations

from db.embedded import free_port

TOPIC_ROOT = "fitmon/notifications"


def notify_env(env: dict[str, str], broker_url: str) -> dict[str, str]:
    return {
        **env,
        "FITMON_NOTIFY_MQTT_URL": broker_url,
        "FITMON_NOTIFY_TOPIC_ROOT": TOPIC_ROOT,
        "FITMON_METRICS_PORT": str(free_port()),
    }


def notify_banner(broker_url: str, api: str) -> str:
    host_port = broker_url.removeprefix("mqtt://")
    host, _, port = host_port.partition(":")
    return (
        f"  notify     crew apps: mosquitto_sub -h {host} -p {port} -q 1 "
        f"-t '{TOPIC_ROOT}/crews/#'\n"
        f"             deliveries {api}/deliveries  (robots: POST {api}/crews/ID/channels)"
    )
