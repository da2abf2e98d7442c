"""deploy/mosquitto-entrypoint.sh for real, on the machine's Mosquitto with deploy/mosquitto.conf:
a device imported after the broker started signs in once `fitmon broker-auth` has written the files
again, without a restart (clients already connected stay so)."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli.services import wait_for_port
from db.embedded import free_port
from simulators.city import write_city
from tests.cli.test_broker_auth import ROOT as TOPIC_ROOT
from tests.cli.test_broker_auth import SECRET, connect, password, write_files
from tests.dashboards.test_compose import ROOT
from tests.support import load_registry, make_registry, wait_until

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
ENTRYPOINT = ROOT / "deploy" / "mosquitto-entrypoint.sh"
# PUBACK reason codes of an accepted publish (success kept as -1; 16, no matching subscribers:
# nobody reads here) as against 135, not authorized (MQTT 5 §3.4.2.1)
ACCEPTED = {-1, 16}

pytestmark = pytest.mark.skipif(
    not Path(MOSQUITTO).exists(), reason="needs Mosquitto (Debian's mosquitto package)"
)


@dataclass(frozen=True)
class Deployed:
    port: int
    written: Path
    loaded: Path
    process: subprocess.Popen[bytes]


def _conf(directory: Path, port: int, loaded: Path) -> Path:
    conf = (ROOT / "deploy" / "mosquitto.conf").read_text(encoding="utf-8")
    conf = (
        conf.replace("/mosquitto/auth-loaded/", f"{loaded}/")
        .replace("/mosquitto/data/", f"{directory / 'data'}/")
        .replace("listener 1883", f"listener {port} 127.0.0.1")
        .replace("listener 1884 127.0.0.1", f"listener {free_port()} 127.0.0.1")
    )
    path = directory / "mosquitto.conf"
    path.write_text(f"{conf}\nlog_dest file {directory / 'mosquitto.log'}\n", encoding="utf-8")
    return path


@pytest.fixture
def deployed(database_url: str) -> Iterator[Deployed]:
    # As in the container: the script runs as root, broker-auth's files are readable by their
    # writer only, and Mosquitto drops to its own user before it rereads them on SIGHUP.
    directory = Path(tempfile.mkdtemp(prefix="fitmon-mosquitto-reload-"))
    written, loaded = directory / "auth", directory / "auth-loaded"
    (directory / "data").mkdir()
    write_files(database_url, written)
    port = free_port()
    conf = _conf(directory, port, loaded)
    env = {
        **os.environ,
        "FITMON_AUTH_WRITTEN": str(written),
        "FITMON_AUTH_LOADED": str(loaded),
        "FITMON_AUTH_CHECK_S": "1",
    }
    if os.geteuid() == 0:
        broker_user = pwd.getpwnam("mosquitto")
        for path in (directory, directory / "data", directory / "mosquitto.conf"):
            os.chown(path, broker_user.pw_uid, broker_user.pw_gid)
    else:
        env["FITMON_AUTH_OWNER"] = pwd.getpwuid(os.geteuid()).pw_name
    process = subprocess.Popen(["sh", str(ENTRYPOINT), MOSQUITTO, "-c", str(conf)], env=env)
    try:
        wait_for_port("127.0.0.1", port, 20)
        yield Deployed(port, written, loaded, process)
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(15)
        shutil.rmtree(directory)


def _signs_in(port: int, username: str) -> bool:
    session = connect(port, username, password(username))
    session.close()
    return session.connected == [0]


def test_a_device_registered_later_signs_in_after_broker_auth_without_a_restart(
    deployed: Deployed, database_url: str
) -> None:
    first = load_registry(database_url, make_registry(items=1))
    write_files(database_url, deployed.written)
    [early] = first.equipment
    wait_until(lambda: _signs_in(deployed.port, early.code), 20, "the first device signs in")
    staying = connect(deployed.port, early.code, password(early.code))

    later = load_registry(database_url, make_registry(items=1))
    [device] = later.equipment
    assert not _signs_in(deployed.port, device.code)
    write_files(database_url, deployed.written)  # what the simulator and operators run
    wait_until(lambda: _signs_in(deployed.port, device.code), 20, "the new device signs in")

    session = connect(deployed.port, device.code, password(device.code))
    try:  # the ACL came with it: its own topic is accepted
        assert session.publish(f"{TOPIC_ROOT}/{device.site_code}/{device.code}/usage") in ACCEPTED
    finally:
        session.close()
    # A reload, not a restart: the session opened before is still the same connection.
    assert staying.connected == [0]
    assert staying.publish(f"{TOPIC_ROOT}/{early.site_code}/{early.code}/usage") in ACCEPTED
    assert staying.publish(f"{TOPIC_ROOT}/{device.site_code}/{device.code}/usage") == 135
    staying.close()
    assert deployed.process.poll() is None
    loaded = deployed.loaded / "passwd"
    assert loaded.stat().st_mode & 0o777 == 0o600
    if os.geteuid() == 0:
        assert loaded.stat().st_uid == pwd.getpwnam("mosquitto").pw_uid

    deployed.process.send_signal(signal.SIGTERM)  # docker compose stop: the broker exits too
    assert deployed.process.wait(15) == 0


def test_the_entrypoint_refuses_to_start_without_broker_auths_files(tmp_path: Path) -> None:
    env = {**os.environ, "FITMON_AUTH_WRITTEN": str(tmp_path / "auth")}
    env["FITMON_AUTH_LOADED"] = str(tmp_path / "loaded")
    done = subprocess.run(
        ["sh", str(ENTRYPOINT), MOSQUITTO, "-c", "/nonexistent.conf"],
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == 1
    assert f"no {tmp_path / 'auth'}/passwd: run `fitmon broker-auth` first" in done.stderr


def test_the_simulator_signs_its_devices_in_once_the_broker_has_their_logins(
    deployed: Deployed, database_url: str, tmp_path: Path
) -> None:
    # The demo's order: the city is imported, the run starts, broker-auth writes the files; the
    # devices refused meanwhile keep trying (--sign-in-wait) until Mosquitto has reloaded.
    city = load_registry(database_url, make_registry(items=2))
    city_file = tmp_path / "city.csv"
    write_city(city, city_file)
    env = {**os.environ, "FITMON_BROKER_SECRET": SECRET, "FITMON_TOPIC_ROOT": TOPIC_ROOT}
    command = [sys.executable, "-m", "cli", "simulate", "run", "--city", str(city_file)]
    command += ["--ledger", str(tmp_path / "ledger"), "--connection", "device", "--days", "0.02"]
    command += ["--mqtt-url", f"mqtt://127.0.0.1:{deployed.port}", "--no-progress"]
    command += ["--sign-in-wait", "60"]
    with subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True) as run:
        assert run.stderr is not None
        assert "2 items at 1 sites" in run.stderr.readline()  # said before it connects
        log = deployed.written.parent / "mosquitto.log"
        wait_until(
            lambda: "not authorised" in log.read_text(encoding="utf-8"), 30, "a refused sign-in"
        )
        write_files(database_url, deployed.written)
        output = run.stderr.read()
        assert run.wait(120) == 0, output
    assert "unacknowledged 0" in output
