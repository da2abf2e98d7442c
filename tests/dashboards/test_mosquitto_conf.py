"""deploy/mosquitto.conf on the machine's real Mosquitto, its container paths and ports moved to
the test's own: anonymous clients are refused, a login of the password file may subscribe as its
ACL says, and the loopback health listener answers the container's health check."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.services import wait_for_port
from tests.dashboards.test_compose import ROOT, SERVICES


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def deployed_broker(tmp_path: Path) -> Iterator[tuple[int, int]]:
    if shutil.which("mosquitto") is None or shutil.which("mosquitto_passwd") is None:
        pytest.fail("mosquitto and mosquitto_passwd must be installed (Debian: mosquitto)")
    main, health = _free_port(), _free_port()
    passwd, acl, data = tmp_path / "passwd", tmp_path / "acl", tmp_path / "data"
    data.mkdir()
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(passwd), "fitmon-ingest", "secret"], check=True
    )
    acl.write_text("user fitmon-ingest\ntopic read fitness/v1/#\n", encoding="utf-8")
    conf = (ROOT / "deploy" / "mosquitto.conf").read_text(encoding="utf-8")
    conf = (
        conf.replace("/mosquitto/auth-loaded/passwd", str(passwd))
        .replace("/mosquitto/auth-loaded/acl", str(acl))
        .replace("/mosquitto/data/", f"{data}/")
        .replace("listener 1883", f"listener {main} 127.0.0.1")
        .replace("listener 1884 127.0.0.1", f"listener {health} 127.0.0.1")
    )
    # run as root, Mosquitto would switch to its own user, who cannot read the test's folder
    conf = f"user {getpass.getuser()}\n{conf}"
    (tmp_path / "mosquitto.conf").write_text(conf, encoding="utf-8")
    with (tmp_path / "mosquitto.log").open("wb") as log:
        process = subprocess.Popen(
            ["mosquitto", "-c", str(tmp_path / "mosquitto.conf")], stdout=log, stderr=log
        )
    try:
        wait_for_port("127.0.0.1", main, 30)
        wait_for_port("127.0.0.1", health, 30)
        yield main, health
    finally:
        process.terminate()
        process.wait(10)


def _subscribe(port: int, topic: str, *login: str) -> subprocess.CompletedProcess[str]:
    command = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-C", "1"]
    command += ["-W", "2", "-v"]
    if login:
        command += ["-u", login[0], "-P", login[1]]
    return subprocess.run(command, capture_output=True, text=True, timeout=20, check=False)


def test_deployed_config_refuses_anonymous_clients_and_answers_the_health_check(
    deployed_broker: tuple[int, int],
) -> None:
    main, health = deployed_broker
    anonymous = _subscribe(main, "fitness/v1/#")
    assert anonymous.returncode != 0
    assert "not authorised" in (anonymous.stderr + anonymous.stdout).lower()
    wrong = _subscribe(main, "fitness/v1/#", "fitmon-ingest", "wrong")
    assert wrong.returncode != 0
    checked = _subscribe(health, "$SYS/broker/uptime")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("$SYS/broker/uptime ")
    assert SERVICES["mosquitto"]["healthcheck"]["test"][2:4] == ["-p", "1884"]
