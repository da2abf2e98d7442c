"""Local services for the demo and the tests: an MQTT broker of fitmon's own.

Mosquitto when it is installed, configured as deploy/mosquitto.conf says (no silent drops of
queued QoS 1 messages); otherwise the pure-Python amqtt broker (MQTT 3.1.1 only).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from db.embedded import free_port

_MOSQUITTO_CONF = """\
listener {port} 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 10000000
max_queued_bytes 2000000000
message_size_limit 1048576
log_dest file {log}
"""


def wait_for_port(host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s") from None
            time.sleep(0.05)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class LocalBroker:
    """An MQTT broker process on 127.0.0.1 at a free port; `kind` is 'mosquitto' or 'amqtt'."""

    def __init__(self, workdir: Path, *, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.executable = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )
        self.kind = "mosquitto" if self.executable else "amqtt"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def supports_mqtt5(self) -> bool:
        return self.kind == "mosquitto"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.workdir / f"{self.kind}.log"
        if self.executable:
            conf = self.workdir / "mosquitto.conf"
            conf.write_text(_MOSQUITTO_CONF.format(port=self.port, log=log))
            command = [self.executable, "-c", str(conf)]
        else:
            command = [sys.executable, "-m", "cli.amqtt_broker", str(self.port)]
        with log.open("ab") as out:
            self._process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        wait_for_port("127.0.0.1", self.port, 20)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
